"""The step log: every builder step counts what it saw, kept and dropped (by reason).

A step is a `with log.step("name") as s:` block; inside, `s.keep()` / `s.drop(reason, id)` count
each item, `s.add_tokens(...)` tallies generated tokens, and the block's wall time is measured.
When the block ends, `kept + dropped == seen` is checked (a mismatch is a bug in the builder, not
bad input) and a one-line summary is logged. Drops are appended to a JSONL file beside the dataset
as they happen, so a user can see why each record or document vanished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


@dataclasses.dataclass
class StepStats:
    name: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = dataclasses.field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    _sink: Any = dataclasses.field(default=None, repr=False)

    def keep(self, n: int = 1) -> None:
        self.seen += n
        self.kept += n

    def drop(self, reason: str, item_id: str, *, write: bool = True, **info: Any) -> None:
        """Count one dropped item; `write=False` for bulk drops not worth a line each (sampling)."""
        self.seen += 1
        self.dropped[reason] += 1
        if write and self._sink is not None:
            self._sink({"step": self.name, "reason": reason, "id": item_id, **info})

    def add_tokens(self, generations: Any) -> None:
        for g in generations:
            self.prompt_tokens += g.prompt_tokens
            self.completion_tokens += g.completion_tokens

    def count(self, key: str, n: int = 1) -> None:
        """A side counter reported with the step (for example parse failures a policy rescued)."""
        self.extra[key] = self.extra.get(key, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "wall_s": round(self.wall_s, 3),
            **self.extra,
        }

    def summary(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        extra = "".join(f", {k}={v}" for k, v in sorted(self.extra.items()))
        return (
            f"{self.name}: seen {self.seen}, kept {self.kept}, dropped {sum(self.dropped.values())} ({drops}), "
            f"{self.completion_tokens} tokens generated, {self.wall_s:.1f}s{extra}"
        )


class StepLog:
    """Steps in the order they ran, and the drops file they share."""

    def __init__(self, drops_path: Path | None = None):
        self.steps: list[StepStats] = []
        self._drops_path = drops_path
        self._drops: IO[str] | None = None
        self.sources: list[
            dict[str, Any]
        ] = []  # where the inputs were read (source, commit), for the manifest

    def _write_drop(self, row: dict[str, Any]) -> None:
        if self._drops is None and self._drops_path is not None:
            self._drops_path.parent.mkdir(parents=True, exist_ok=True)
            self._drops = open(self._drops_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if self._drops is not None:
            self._drops.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepStats]:
        stats = StepStats(name, _sink=self._write_drop)
        t0 = time.perf_counter()
        try:
            yield stats
        finally:
            stats.wall_s = time.perf_counter() - t0
            self.steps.append(stats)
        if stats.kept + sum(stats.dropped.values()) != stats.seen:  # pragma: no cover - a builder bug
            raise AssertionError(f"step {stats.name}: kept + dropped != seen ({stats.to_dict()})")
        log.info("%s", stats.summary())

    def close(self) -> None:
        if self._drops is not None:
            self._drops.close()
            self._drops = None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.to_dict() for s in self.steps}

    def summaries(self) -> list[str]:
        return [s.summary() for s in self.steps]
