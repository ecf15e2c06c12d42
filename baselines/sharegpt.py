"""ShareGPT (Vicuna's cleaned dump of shared ChatGPT conversations): the first turn of each conversation.

Real format (`ShareGPT_V3_unfiltered_cleaned_split.json`, one JSON list): {"id", "conversations":
[{"from": "human"|"gpt"|"system"|..., "value"}]}. FastChat's cleaning split long conversations into
chunks whose ids end in `_0`, `_1`, ...; only the first chunk (`_0`, or an id without a chunk
suffix) starts a conversation, so the later chunks are skipped (`continuation_chunk`): their first
turns are mid-conversation. A leading system turn is passed over; the first turn must then be the
human's, followed by the model's reply. The back-and-forth paper compares with ShareGPT's first turns.
"""

from __future__ import annotations

import re
from pathlib import Path

from baselines._row import Skip, record

SOURCE = "hub:anon8231489123/ShareGPT_Vicuna_unfiltered"
REVISION = None  # not pinned: no commit of this repository could be checked from here (see the README)
FILES = ["ShareGPT_V3_unfiltered_cleaned_split.json"]
LICENSE = "other"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = Path(__file__).resolve().parent / "data" / "sharegpt_demo.json"
_CHUNK = re.compile(r"_(\d+)$")
_REPLIERS = ("gpt", "chatgpt", "bard", "bing", "assistant")


def to_record(row):
    conv_id = str(row.get("id", ""))
    chunk = _CHUNK.search(conv_id)
    if chunk and chunk.group(1) != "0":
        raise Skip("continuation_chunk")
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise Skip("no_conversations")
    if not all(isinstance(t, dict) for t in turns[:3]):
        raise Skip("bad_turn")
    if turns[0].get("from") == "system":
        turns = turns[1:]
    if len(turns) < 2:
        raise Skip("no_reply")
    first, second = turns[0], turns[1]
    if first.get("from") not in ("human", "user"):
        raise Skip("first_turn_not_human")
    if second.get("from") not in _REPLIERS:
        raise Skip("no_reply")
    question, answer = first.get("value"), second.get("value")
    if not isinstance(question, str) or not question.strip():
        raise Skip("empty_instruction")
    if not isinstance(answer, str) or not answer.strip():
        raise Skip("empty_response")
    return record("sharegpt", question.strip(), answer.strip(), conversation_id=conv_id)
