"""ShareGPT (Vicuna's cleaned dump of shared ChatGPT conversations): the first turn of each.

Real format: a JSON list of {"id", "conversations": [{"from": "human"|"gpt"|..., "value"}]}.
The back-and-forth paper compares with ShareGPT's first turns; conversations that do not start
with a human turn followed by a gpt reply are skipped.
"""

from __future__ import annotations

from pathlib import Path

from baselines._row import Skip, record

HUB_ID = "anon8231489123/ShareGPT_Vicuna_unfiltered"
LICENSE = "other"  # the Hub licence id of the source (other: see the source's own terms)
REVISION = "main"  # TODO pin a commit sha when online (options.revision overrides)
HUB_CONFIG = None
HUB_DATA_FILES = "ShareGPT_V3_unfiltered_cleaned_split.json"
DEMO_FILE = Path(__file__).resolve().parent / "data" / "sharegpt_demo.json"


def to_record(row):
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise Skip("no_conversations")
    if len(turns) < 2:
        raise Skip("no_reply")
    first, second = turns[0], turns[1]
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise Skip("bad_turn")
    if first.get("from") != "human":
        raise Skip("first_turn_not_human")
    if second.get("from") not in ("gpt", "chatgpt", "bard"):
        raise Skip("no_reply")
    question, answer = first.get("value"), second.get("value")
    if not isinstance(question, str) or not question.strip():
        raise Skip("empty_instruction")
    if not isinstance(answer, str) or not answer.strip():
        raise Skip("empty_response")
    return record("sharegpt", question.strip(), answer.strip(), conversation_id=str(row.get("id", "")))
