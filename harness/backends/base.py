"""The one Generator interface every model call goes through.

Batch-first: a list of chat requests (messages + sampling parameters) in, one `Generation` per
request out, in order. Backends report each finished request through `on_result` as soon as it is
done, which is what the request cache uses to survive a kill and what the CLI's progress bar counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from harness.core.records import Generation, Message


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. temperature 0 means greedy; `logprobs` = K top logprobs of the first
    generated token (0 = none); `seed` makes sampling reproducible per request."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    logprobs: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.logprobs < 0:
            raise ValueError(f"logprobs must be >= 0, got {self.logprobs}")
        if any(not s for s in self.stop):  # an empty stop string matches at once: every output one token
            raise ValueError("stop strings must not be empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stop": list(self.stop)}


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    id: str
    messages: tuple[Message, ...]
    params: SamplingParams = SamplingParams()


ResultCallback = Callable[[int, Generation], None]
"""Called with (index into the request list, generation) as each request finishes. A callback may
also have a `many(items)` method taking a list of (index, generation) that finished together (one
engine step, one batch); `Results.set_many` uses it, so the request cache stores them in one
transaction before the backend computes anything else."""


@runtime_checkable
class Generator(Protocol):
    """A model that answers chat requests."""

    name: str

    def identity(self) -> dict[str, Any]:
        """What makes this model's outputs what they are (path + weights hash, or hub id +
        revision, plus the chat template hash): the request cache's model key."""
        ...

    def generate(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]: ...

    def close(self) -> None: ...


def group_by_params(
    requests: Sequence[ChatRequest], *, ignore_seed: bool = True
) -> dict[SamplingParams, list[int]]:
    """Indices of requests sharing sampling settings (seed ignored: backends seed per request)."""
    groups: dict[SamplingParams, list[int]] = {}
    for i, r in enumerate(requests):
        key = dataclasses.replace(r.params, seed=None) if ignore_seed else r.params
        groups.setdefault(key, []).append(i)
    return groups


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the first stop string; returns (text, whether a stop string was found)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class Results:
    """The output list of one `generate` call, filled in any order; each result is reported to
    `on_result` as it lands (what the request cache and progress bars rely on)."""

    def __init__(self, n: int, on_result: ResultCallback | None) -> None:
        self.items: list[Generation | None] = [None] * n
        self.on_result = on_result

    def set(self, i: int, gen: Generation) -> None:
        self.items[i] = gen
        if self.on_result:
            self.on_result(i, gen)

    def set_many(self, items: Sequence[tuple[int, Generation]]) -> None:
        """Results that finished together, reported in one call where the callback takes batches."""
        for i, gen in items:
            self.items[i] = gen
        if not self.on_result or not items:
            return
        many = getattr(self.on_result, "many", None)
        if many is not None:
            many(items)
        else:
            for i, gen in items:
                self.on_result(i, gen)

    def too_long(self, i: int, request: ChatRequest, prompt_tokens: int, model: str) -> None:
        """Answer a request whose prompt plus max_tokens exceed the context, without running it."""
        self.set(i, Generation(request.id, "", "prompt_too_long", prompt_tokens, 0, model=model))

    def done(self) -> list[Generation]:
        missing = [i for i, g in enumerate(self.items) if g is None]
        if missing:
            raise RuntimeError(f"backend returned no result for requests {missing[:5]}")
        return self.items  # type: ignore[return-value]
