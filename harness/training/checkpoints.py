"""Checkpoints and resume: a run killed mid-way restarts from its last complete checkpoint.

The Trainer saves `checkpoints/checkpoint-<step>/` every `recipe.save_steps` and writes its
`trainer_state.json` last, so a checkpoint without it was cut short by the kill. A marker file
(`FINGERPRINT`) says which run the checkpoints belong to: checkpoints of another fingerprint, or any
under `--force`, are discarded before training, never resumed from.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER = "FINGERPRINT"


def prepare(checkpoints: Path, fingerprint: str, force: bool) -> None:
    """Keep the checkpoints of this fingerprint (to resume from); remove any others."""
    marker = checkpoints / MARKER
    if checkpoints.is_dir():
        stale = force or not marker.is_file() or marker.read_text().strip() != fingerprint
        if stale:
            log.info(
                "discarding checkpoints in %s (%s)", checkpoints, "forced" if force else "other fingerprint"
            )
            shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint + "\n")


def last_complete(checkpoints: Path) -> Path | None:
    """The newest checkpoint whose trainer_state.json exists.

    An incomplete one is removed, so the Trainer's rotation never keeps it in place of a good one."""
    if not checkpoints.is_dir():
        return None
    found = [
        (int(p.name.rsplit("-", 1)[-1]), p)
        for p in checkpoints.glob("checkpoint-*")
        if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()
    ]
    for _, p in sorted(found, reverse=True):
        if (p / "trainer_state.json").is_file():
            return p
        log.warning("removing incomplete checkpoint %s (the run was killed while saving it)", p)
        shutil.rmtree(p, ignore_errors=True)
    return None


def resume_point(checkpoints: Path, accelerator: Any) -> Path | None:
    """The checkpoint every rank resumes from: the one the main process chose."""
    resume = last_complete(checkpoints) if accelerator.is_main_process else None
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        box = [str(resume) if resume else None]
        broadcast_object_list(box)
        resume = Path(box[0]) if box[0] else None
    if resume:
        log.info("resuming from %s", resume)
    return resume


def step_of(checkpoint: Path | None) -> int:
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint else 0
