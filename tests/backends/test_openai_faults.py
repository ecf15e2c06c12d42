"""The `openai` backend against misbehaving servers on 127.0.0.1: 429 and 500 then success, a hang,
and a request that always fails while others succeed (their results must reach the cache)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.backends import load_generator
from harness.backends.base import ChatRequest, SamplingParams
from harness.backends.cache import CachedGenerator
from harness.core.errors import BackendError
from harness.core.records import Message


class FakeOpenAI:
    """A scripted OpenAI-compatible server: `plan(content)` returns a status code or 'hang'."""

    def __init__(self, plan):
        self.plan = plan
        self.calls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][-1]["content"]
                owner.calls.append(content)
                action = owner.plan(content, owner.calls.count(content))
                if action == "hang":
                    time.sleep(3)
                    return
                if action in ("truncated", "no_choices", "echo_auth", "slow_429"):
                    self._special(action)
                    return
                if action != 200:
                    self.send_response(action)
                    if action == 429:
                        self.send_header("Retry-After", "0.05")
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted"}')
                    return
                data = {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": f"echo {content}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                }
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _special(self, action):
                status, body = {
                    "truncated": (200, b'{"choices": [{"message": {"role": "assis'),
                    "no_choices": (200, b'{"object": "error", "message": "model overloaded"}'),
                    "echo_auth": (
                        401,
                        json.dumps(
                            {"error": "bad key", "you_sent": self.headers.get("Authorization")}
                        ).encode(),
                    ),
                    "slow_429": (429, b'{"error": "slow down"}'),
                }[action]
                self.send_response(status)
                if action == "slow_429":
                    self.send_header("Retry-After", "0.6")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    servers = []

    def make(plan):
        servers.append(FakeOpenAI(plan))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _reqs(*contents):
    return [ChatRequest(c, (Message("user", c),), SamplingParams(max_tokens=4)) for c in contents]


def test_retries_429_and_500_then_succeeds(fake):
    srv = fake(lambda content, n: {1: 429, 2: 500}.get(n, 200))
    gen = load_generator(f"openai:m@{srv.url}", max_retries=3, backoff=0.01, timeout=5)
    out = gen.generate(_reqs("a", "b"))
    assert [g.text for g in out] == ["echo a", "echo b"]
    assert gen.retries == 4 and len(srv.calls) == 6


def test_hanging_server_times_out_with_clear_error(fake):
    srv = fake(lambda content, n: "hang")
    gen = load_generator(f"openai:m@{srv.url}", max_retries=1, backoff=0.01, timeout=0.5)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=r"request a .* failed after 2 attempts \(last: ReadTimeout"):
        gen.generate(_reqs("a"))
    assert time.perf_counter() - t0 < 3


def test_permanent_failure_keeps_finished_results(fake, tmp_path):
    srv = fake(lambda content, n: 500 if content == "bad" else 200)
    gen = CachedGenerator(
        load_generator(f"openai:m@{srv.url}", max_retries=2, backoff=0.01, concurrency=1),
        tmp_path / "cache.sqlite",
    )
    with pytest.raises(BackendError, match="failed after 3 attempts"):
        gen.generate(_reqs("x", "y", "bad", "z"))
    # x and y finished before the failure and are served from the cache; only the rest is asked again
    srv.plan = lambda content, n: 200
    srv.calls.clear()
    out = gen.generate(_reqs("x", "y", "bad", "z"))
    assert [g.text for g in out] == ["echo x", "echo y", "echo bad", "echo z"]
    assert "x" not in srv.calls and "y" not in srv.calls and "bad" in srv.calls


def test_client_errors_are_not_retried_and_key_stays_out(fake, monkeypatch):
    monkeypatch.setenv("MY_SECRET_KEY", "sk-test-123")
    srv = fake(lambda content, n: 401)
    gen = load_generator(f"openai:m@{srv.url}", api_key_env="MY_SECRET_KEY", max_retries=3)
    with pytest.raises(BackendError, match=r"HTTP 401.*set a valid API key in \$MY_SECRET_KEY") as e:
        gen.generate(_reqs("a"))
    assert len(srv.calls) == 1 and "sk-test-123" not in str(e.value)
    assert "sk-test-123" not in json.dumps(gen.identity()) and "sk-test-123" not in json.dumps(
        vars(gen), default=str
    )


def test_retry_after_is_honoured_then_success(fake):
    srv = fake(lambda content, n: "slow_429" if n == 1 else 200)
    gen = load_generator(f"openai:m@{srv.url}", max_retries=2, backoff=0.01, concurrency=1)
    t0 = time.perf_counter()
    (out,) = gen.generate(_reqs("a"))
    assert out.text == "echo a" and srv.calls == ["a", "a"]
    assert time.perf_counter() - t0 >= 0.6  # the server's Retry-After, not the 0.01 s backoff


def test_truncated_json_is_retried_then_a_clear_failure_keeps_finished_requests(fake, tmp_path):
    srv = fake(lambda content, n: "truncated" if content == "bad" or n == 1 else 200)
    gen = CachedGenerator(
        load_generator(f"openai:m@{srv.url}", max_retries=2, backoff=0.01, concurrency=1),
        tmp_path / "cache.sqlite",
    )
    with pytest.raises(BackendError, match="failed after 3 attempts.*truncated or invalid JSON"):
        gen.generate(_reqs("x", "bad"))
    assert srv.calls.count("x") == 2  # the first reply was cut off, the retry succeeded and was kept
    srv.plan = lambda content, n: 200
    srv.calls.clear()
    assert [g.text for g in gen.generate(_reqs("x", "bad"))] == ["echo x", "echo bad"] and srv.calls == [
        "bad"
    ]


def test_a_reply_without_choices_is_one_clear_error(fake):
    srv = fake(lambda content, n: "no_choices")
    gen = load_generator(f"openai:m@{srv.url}", max_retries=0)
    with pytest.raises(BackendError, match="not a chat completion.*choices.*model overloaded"):
        gen.generate(_reqs("a"))


def test_a_server_echoing_the_key_never_puts_it_in_a_message(fake, monkeypatch):
    monkeypatch.setenv("MY_SECRET_KEY", "sk-live-abcdef123456")
    srv = fake(lambda content, n: "echo_auth")
    gen = load_generator(f"openai:m@{srv.url}", api_key_env="MY_SECRET_KEY", max_retries=0)
    with pytest.raises(BackendError) as e:
        gen.generate(_reqs("a"))
    assert "HTTP 401" in str(e.value) and "[redacted]" in str(e.value)
    assert "abcdef123456" not in str(e.value)
