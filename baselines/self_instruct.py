"""Self-Instruct (Wang et al. 2022): GPT-3-generated instructions, the 82K-row release.

Real format (hub `yizhongw/self_instruct`, config `self_instruct`): rows {"prompt", "completion"}
where the prompt ends with "Output:" and the completion with "<|endoftext|>"; both markers are
removed.
"""

from __future__ import annotations

from baselines._row import Skip, record, text

HUB_ID = "yizhongw/self_instruct"
LICENSE = "apache-2.0"  # the Hub licence id of the source (other: see the source's own terms)
REVISION = "main"  # TODO pin a commit sha when online (options.revision overrides)
HUB_CONFIG = "self_instruct"
DEMO_FILE = None
_END = "<|endoftext|>"


def to_record(row):
    prompt = text(row, "prompt")
    completion = text(row, "completion").replace(_END, "").strip()
    if prompt.endswith("Output:"):
        prompt = prompt[: -len("Output:")].rstrip()
    if not prompt:
        raise Skip("empty_prompt")
    if not completion:
        raise Skip("empty_completion")
    return record("self_instruct", prompt, completion)
