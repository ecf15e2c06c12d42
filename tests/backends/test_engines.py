"""The backend registry and the per-process engine pool: one engine per model, shared by every
generator that asks for it, released by `close()`, counted for the manifests."""

from __future__ import annotations

import pytest

from harness.backends import BACKENDS, load_generator
from harness.backends.base import ChatRequest, SamplingParams
from harness.backends.engines import POOL, EnginePool, stats_delta
from harness.backends.spec import backend_class, parse_spec
from harness.core.errors import BackendError
from harness.core.records import Message


def _requests(n: int = 3) -> list[ChatRequest]:
    return [
        ChatRequest(f"r{i}", (Message("user", f"Name thing number {i}."),), SamplingParams(max_tokens=8))
        for i in range(n)
    ]


def _starts(before: dict, label: str) -> int:
    return stats_delta(before, POOL.stats())["engines"].get(label, {}).get("starts", 0)


# ---------------------------------------------------------------- registry
def test_one_registry_validates_and_looks_up():
    for name in BACKENDS:
        cls = backend_class(name)
        assert all(callable(getattr(cls, m, None)) for m in ("generate", "identity", "close")), name
    with pytest.raises(BackendError, match="did you mean 'vllm'"):
        parse_spec("vlm:/some/model")
    with pytest.raises(BackendError, match="did you mean 'openai'"):
        backend_class("opnai")


def test_a_registered_backend_is_what_load_generator_builds(monkeypatch):
    monkeypatch.setitem(BACKENDS, "echo", "tests.backends.test_engines:EchoGenerator")
    gen = load_generator("echo:anything", greeting="hi")
    assert isinstance(gen, EchoGenerator) and gen.greeting == "hi"
    assert [g.text for g in gen.generate(_requests(2))] == ["Name thing number 0.", "Name thing number 1."]


class EchoGenerator:
    """A backend registered by name for the test above (control flow only)."""

    def __init__(self, spec, *, greeting: str = "", **_):
        self.name, self.greeting = str(spec), greeting

    def identity(self):
        return {"backend": "echo"}

    def generate(self, requests, on_result=None):
        from harness.core.records import Generation

        return [Generation(r.id, r.messages[-1].content, "stop", 1, 1, model=self.name) for r in requests]

    def close(self):
        pass


# ---------------------------------------------------------------- the pool with the real hf backend
def test_generators_of_one_model_share_one_engine(tiny_model, tmp_path):
    label = f"hf:{tiny_model}"
    before = POOL.stats()
    a = load_generator(label, dtype="auto")  # auto is float32 on CPU: the same engine as float32
    b = load_generator(label, dtype="float32", cache=tmp_path / "cache.sqlite")
    out_a = a.generate(_requests())
    out_b = b.generate(_requests())
    assert [g.text for g in out_a] == [g.text for g in out_b]
    assert _starts(before, label) == 1
    a.close()
    assert b.generate(_requests(1))[0].text == out_a[0].text  # b still holds the engine
    b.close()
    c = load_generator(label)  # idle, not stopped: the next step reuses it
    c.generate(_requests(1))
    assert _starts(before, label) == 1
    c.close()
    POOL.release_idle()  # what the trainer does on a GPU: the next user starts it again
    d = load_generator(label)
    d.generate(_requests(1))
    d.close()
    assert _starts(before, label) == 2
    counted = stats_delta(before, POOL.stats())["engines"][label]
    assert counted["start_s"] > 0


# ---------------------------------------------------------------- pool policy (control flow)
class _Engines:
    def __init__(self):
        self.stopped: list[str] = []

    def start(self, name):
        return lambda: f"engine-{name}"

    def shutdown(self, engine):
        self.stopped.append(engine)


def test_cpu_keeps_the_most_recent_idle_engines_and_gpu_keeps_none_beside_a_new_one():
    e = _Engines()
    pool = EnginePool(max_idle_cpu=1)
    for name in ("a", "b"):
        assert pool.acquire(name, e.start(name), label=name, shutdown=e.shutdown) == f"engine-{name}"
    pool.release("a")
    pool.release("b")  # two idle, one allowed: the least recently used goes
    assert e.stopped == ["engine-a"]
    pool.acquire("b", e.start("b"), label="b", shutdown=e.shutdown)
    assert pool.stats()["engines"] == {
        "a": {"starts": 1, "start_s": pytest.approx(0, abs=0.1)},
        "b": {"starts": 1, "start_s": pytest.approx(0, abs=0.1)},
    }
    # GPU engines: an idle one is stopped before another starts; a held one never is
    pool.acquire("g1", e.start("g1"), label="g1", on_gpu=True, shutdown=e.shutdown)
    pool.acquire("g2", e.start("g2"), label="g2", on_gpu=True, shutdown=e.shutdown)
    assert "engine-g1" not in e.stopped
    pool.release("g1")
    pool.release("g2")
    assert "engine-g1" not in e.stopped  # idle GPU engines wait for a reason to stop
    pool.acquire("g3", e.start("g3"), label="g3", on_gpu=True, shutdown=e.shutdown)
    assert {"engine-g1", "engine-g2"} <= set(e.stopped)
    pool.release("g3")
    pool.release_idle(gpu_only=True)  # the trainer's call
    assert "engine-g3" in e.stopped and "engine-b" not in e.stopped
    pool.release("b")
    pool.release_idle()
    assert "engine-b" in e.stopped
    assert pool.stats()["engine_starts"] == 5
