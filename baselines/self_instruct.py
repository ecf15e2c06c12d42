"""Self-Instruct (Wang et al. 2022): GPT-3-generated instructions, the 82K-instance release.

Where: the authors' GitHub repository, pinned to a commit,
`data/finetuning/self_instruct_221203/gpt3_finetuning_data.jsonl`. (The hub repository
`yizhongw/self_instruct` holds only a loading script, which `datasets` >= 4 refuses.) Real format:
rows {"prompt", "completion", "instruction", "input", "output"}, where prompt and completion are
the instance rendered through one of several randomly chosen fine-tuning templates ("Task: ...",
"...\nInput: ...\nOutput:", "...\n\nOutput:", ...) and completion ends in "<|endoftext|>".
The record is built from the plain `instruction` and `input` fields (input after a blank line, as
for Alpaca), so no template text reaches the training data; rows that carry only prompt and
completion (other copies of the release) have the template markers stripped.
"""

from __future__ import annotations

import re

from baselines._row import Skip, record, text

SOURCE = "github:yizhongw/self-instruct"
REVISION = "0b26ccaa415992100fa32df62d41b994cf928e23"  # the repository's last commit (2023-03-27)
FILES = ["data/finetuning/self_instruct_221203/gpt3_finetuning_data.jsonl"]
LICENSE = "apache-2.0"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = None
_END = "<|endoftext|>"
_TASK = re.compile(r"^Task:\s*")
_OUTPUT = re.compile(r"\s*Output:\s*$")
_INPUT = re.compile(r"(?:^|\n+)Input:\s*")


def strip_template(prompt: str) -> tuple[str, str]:
    """(instruction, input) of a prompt rendered through a fine-tuning template."""
    body = _OUTPUT.sub("", _TASK.sub("", prompt.strip()))
    parts = _INPUT.split(body, maxsplit=1)
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    # "{instruction}\n\n{input}\n\n" templates keep the blank line between the two, as a record does
    return body.strip(), ""


def to_record(row):
    if "instruction" in row:
        instruction = text(row, "instruction")
        extra = text(row, "input", required=False)
        output = text(row, "output")
    else:
        instruction, extra = strip_template(text(row, "prompt"))
        output = text(row, "completion").replace(_END, "").strip()
    if not instruction:
        raise Skip("empty_prompt")
    if not output:
        raise Skip("empty_completion")
    return record("self_instruct", f"{instruction}\n\n{extra}" if extra else instruction, output)
