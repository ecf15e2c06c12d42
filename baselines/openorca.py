"""OpenOrca: FLAN questions answered by GPT-4 / GPT-3.5 with system prompts (Parquet on the hub).

Real format: rows {"id", "system_prompt", "question", "response"}; the system prompt, when
present, becomes a system message.
"""

from __future__ import annotations

from baselines._row import record, text

HUB_ID = "Open-Orca/OpenOrca"
LICENSE = "mit"  # the Hub licence id of the source (other: see the source's own terms)
REVISION = "main"  # TODO pin a commit sha when online (options.revision overrides)
HUB_CONFIG = None
DEMO_FILE = None


def to_record(row):
    return record("openorca", text(row, "question"), text(row, "response"),
                  system=text(row, "system_prompt", required=False), row_id=str(row.get("id", "")))
