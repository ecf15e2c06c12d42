"""Typed manifests: what a finished (or failed) stage says about itself, read back as dataclasses.

`manifest.json` stays plain JSON (`Manifest.to_dict` / `Manifest.from_dict` round-trip it); code
that reads a manifest gets attributes, not string keys: `manifest.records("dataset.jsonl")`,
`manifest.stats.tokens_seen`. The stats of the build, train and eval stages are typed
(`BuildStats`, `TrainStats`, `EvalMetrics`); figures a stage adds that have no field yet are kept
in `extra` and written back unchanged, so an older or newer manifest still reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _typed(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """`cls` from a dict: known fields by name, everything else into `extra`."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
    known = {k: data.pop(k) for k in list(data) if k in names}
    return cls(**known, extra=data)  # type: ignore[call-arg]


class _Stats:
    """A stage's typed stats: `to_dict` gives back the dict they were read from (extra keys included)."""

    extra: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}  # type: ignore[arg-type]
        return {**d, **dict(self.extra)}


@dataclasses.dataclass(frozen=True)
class BuildStats(_Stats):
    records: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    parse_failures: Mapping[str, int] = dataclasses.field(default_factory=dict)
    steps: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )  # per step: seen, kept, dropped
    summary: Sequence[str] = dataclasses.field(default_factory=list)
    substages: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )  # models trained on the way
    engine_starts: int = 0  # model engines started by this build's process, and their seconds
    engine_start_s: float = 0.0
    engines: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )  # per model: starts, seconds
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrainStats(_Stats):
    records_in: int | None = None
    records_kept: int | None = None
    dropped_no_assistant: int = 0
    dropped_too_long: int = 0
    dropped_no_assistant_after_truncation: int = 0
    truncated: int = 0
    steps: int | None = None
    tokens_seen: int | None = None
    loss_token_share: float | None = None  # of the screened training set's tokens, those the loss is on
    train_loss: float | None = None
    final_loss: float | None = None
    loss_curve: Sequence[Mapping[str, float]] = dataclasses.field(default_factory=list)
    tokens_per_s: float | None = None
    train_time_s: float | None = None
    precision: str | None = None
    template: str | None = None
    resumed_from_step: int = 0
    wall_time_s: float | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.dropped_no_assistant + self.dropped_too_long + self.dropped_no_assistant_after_truncation


@dataclasses.dataclass(frozen=True)
class EvalMetrics(_Stats):
    win_rate: float | None = None
    standard_error: float | None = None
    n_total: int | None = None
    discrete_win_rate: float | None = None
    lc_win_rate: float | None = None
    lc_variant: str | None = (
        None  # "official" or "offline" (alpaca_eval's GLM without instruction difficulty)
    )
    lc_reason: str | None = None  # why LC is missing, or why it is not the official variant
    n_parse_failures: int | None = None
    avg_output_length: float | None = None
    tokens: Mapping[str, int] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


Stats = BuildStats | TrainStats | EvalMetrics | Mapping[str, Any]
STATS_TYPES: dict[str, type] = {"build": BuildStats, "train": TrainStats, "eval": EvalMetrics}


@dataclasses.dataclass(frozen=True)
class OutputFile:
    sha256: str
    bytes: int
    records: int | None = None  # JSONL files: the number of lines
    mtime_ns: int | None = (
        None  # when the stage finished: a file with this size and mtime is taken as unchanged
    )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass(frozen=True)
class Manifest:
    stage: str
    fingerprint: str
    status: str  # "ok" or "failed"
    upstream: Mapping[str, str] = dataclasses.field(default_factory=dict)
    config: Any = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_time_s: float | None = None
    argv: Sequence[str] = dataclasses.field(default_factory=list)
    packages: Mapping[str, str] = dataclasses.field(default_factory=dict)
    git: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    host: str | None = None
    error: str | None = None
    outputs: Mapping[str, OutputFile] = dataclasses.field(default_factory=dict)
    stats: Stats = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def records(self, output: str) -> int | None:
        info = self.outputs.get(output)
        return info.records if info else None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        d["stats"] = self.stats.to_dict() if hasattr(self.stats, "to_dict") else dict(self.stats)
        d["argv"] = list(self.argv)
        for key in ("finished_at", "error"):  # a failed stage has no finish; a finished one no error
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        data = dict(data)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["outputs"] = {k: OutputFile(**v) for k, v in (data.get("outputs") or {}).items()}
        stats_type = STATS_TYPES.get(str(data.get("stage")))
        stats = data.get("stats") or {}
        kwargs["stats"] = _typed(stats_type, stats) if stats_type else dict(stats)
        return cls(**kwargs)
