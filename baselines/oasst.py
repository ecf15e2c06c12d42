"""The Open Assistant seed as a dataset of its own (the papers' seed-only baseline).

With no path it is the experiment's seed set (`seed_data`: English first turns with the rank-0
reply, from the hub or a local file). A local file holds {"instruction", "response"} or
{"messages"} rows.
"""

from __future__ import annotations

from baselines._row import Skip, record, text

SOURCE = None  # the seed set is loaded through seed_data (datasets_builders.seed reads the hub repository)
REVISION = None
FILES: list[str] = []
LICENSE = "apache-2.0"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = None
USE_SEED = True


def to_record(row):
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list):
            raise Skip("bad_messages")
        user = next((m for m in msgs if isinstance(m, dict) and m.get("role") == "user"), None)
        reply = next((m for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"), None)
        if user is None or reply is None:
            raise Skip("no_first_turn")
        return record("oasst", text(user, "content"), text(reply, "content"), origin="seed")
    return record("oasst", text(row, "instruction"), text(row, "response"), origin="seed")
