"""Evol-Instruct (WizardLM, Xu et al. 2023): instructions evolved in depth and breadth by ChatGPT.

Real formats: the 70K release (`WizardLMTeam/WizardLM_evol_instruct_70k`,
`alpaca_evol_instruct_70k.json`, a JSON list of {"instruction", "output"}); the 196K V2 release
rows in ShareGPT form {"idx", "conversations": [{"from": "human"|"gpt", "value"}]} (first turn used,
with `options.files` and `options.path` pointing at it).
"""

from __future__ import annotations

from baselines._row import Skip, record, text

SOURCE = "hub:WizardLMTeam/WizardLM_evol_instruct_70k"
REVISION = None  # not pinned: no commit of this repository could be checked from here (see the README)
FILES = ["alpaca_evol_instruct_70k.json"]
LICENSE = "other"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = None


def to_record(row):
    if "conversations" in row:
        turns = row["conversations"]
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, dict) for t in turns[:2]):
            raise Skip("no_conversations")
        if turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
            raise Skip("first_turn_not_human")
        return record("evol_instruct", text(turns[0], "value"), text(turns[1], "value"))
    return record("evol_instruct", text(row, "instruction"), text(row, "output"))
