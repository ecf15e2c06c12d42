"""The `openai` backend: any OpenAI-compatible chat-completions server.

OpenAI itself, `vllm serve`, and others. Requests run with bounded concurrency; 429, 5xx, timeouts
and dropped connections are retried with exponential backoff (honouring Retry-After), other errors
fail at once. The API key is read from an environment variable at request time and never stored
on the object, logged or written to a manifest. When a request fails for good, the requests in
flight are allowed to finish (and reach the cache) before the error is raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ChatRequest, ResultCallback
from harness.backends.spec import ModelSpec
from harness.core.errors import BackendError
from harness.core.records import Generation

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIGenerator:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 120.0,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        **_: Any,
    ):
        self.spec = spec
        self.name = str(spec)
        self.base_url = (
            spec.base_url or base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retries = 0  # total retries made, for tests and stats

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.spec.model, "base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _body(self, r: ChatRequest) -> dict[str, Any]:
        p = r.params
        body: dict[str, Any] = {
            "model": self.spec.model,
            "messages": [m.to_dict() for m in r.messages],
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "n": 1,
        }
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if p.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = p.logprobs
        return body

    def generate(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]:
        if not requests:
            return []
        return asyncio.run(self._generate_all(requests, on_result))

    async def _generate_all(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None
    ) -> list[Generation]:
        import httpx

        results: list[Generation | None] = [None] * len(requests)
        sem = asyncio.Semaphore(self.concurrency)
        failed: list[BaseException] = []
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, limits=limits) as client:

            async def one(i: int) -> None:
                if failed:  # a request already failed for good: start nothing new
                    return
                async with sem:
                    if failed:
                        return
                    try:
                        gen = await self._request(client, requests[i])
                    except BaseException as e:
                        failed.append(e)
                        return
                results[i] = gen
                if on_result:
                    on_result(i, gen)

            await asyncio.gather(*(one(i) for i in range(len(requests))))
        if failed:
            err = failed[0]
            if isinstance(err, BackendError):
                raise err
            raise BackendError(f"openai: {type(err).__name__}: {err}") from None
        return results  # type: ignore[return-value]

    async def _request(self, client, req: ChatRequest) -> Generation:
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                resp = await client.post("/chat/completions", json=self._body(req), headers=self._headers())
                if resp.status_code in RETRY_STATUS:
                    ra = resp.headers.get("retry-after")
                    raise _Retryable(
                        f"HTTP {resp.status_code}",
                        float(ra) if ra and ra.replace(".", "").isdigit() else None,
                    )
                if resp.status_code >= 400:
                    raise BackendError(
                        f"openai: {self.base_url} answered HTTP {resp.status_code} for request "
                        f"{req.id}: {self._redact(resp.text[:300])}",
                        fix=self._fix(resp.status_code),
                    )
                try:
                    data = resp.json()
                except ValueError:  # a reply cut off mid-body: a server hiccup, retried
                    raise _Retryable(f"HTTP {resp.status_code} with truncated or invalid JSON") from None
                return self._parse(req, data)
            except _Retryable as e:
                last, delay = str(e), e.retry_after
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last, delay = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__, None
            if attempt == self.max_retries:
                break
            self.retries += 1
            if delay is None:
                delay = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
            log.warning(
                "openai: request %s: %s; retry %d/%d in %.1fs",
                req.id,
                last,
                attempt + 1,
                self.max_retries,
                delay,
            )
            await asyncio.sleep(delay)
        raise BackendError(
            f"openai: request {req.id} to {self.base_url} failed after {self.max_retries + 1} attempts "
            f"(last: {last})",
            fix="check that the server is up, or raise --max-retries/--timeout",
        )

    def _redact(self, text: str) -> str:
        """A server may echo the request's headers: the configured key never reaches a message or a log."""
        key = os.environ.get(self.api_key_env) or ""
        if len(key) >= 4:
            text = text.replace(key, "[redacted]")
        return re.sub(r"(?i)(bearer\s+)[^\s\"',]+", r"\1[redacted]", text)

    def _fix(self, status: int) -> str:
        if status in (401, 403):
            return f"set a valid API key in ${self.api_key_env}"
        if status == 404:
            return f"check the model name '{self.spec.model}' and the base URL"
        return "check the request parameters"

    def _parse(self, req: ChatRequest, data: dict[str, Any]) -> Generation:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            top = None
            lp = choice.get("logprobs")
            if req.params.logprobs and lp and lp.get("content"):
                first = lp["content"][0].get("top_logprobs") or []
                first = sorted(first, key=lambda t: -float(t["logprob"]))[: req.params.logprobs]
                top = tuple((t["token"], round(float(t["logprob"]), 6)) for t in first)
            return Generation(
                req.id,
                text,
                choice.get("finish_reason") or "stop",
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                top,
                model=self.name,
            )
        except (KeyError, IndexError, TypeError, ValueError) as e:
            body = self._redact(json.dumps(data)[:200]) if isinstance(data, dict) else repr(data)[:200]
            raise BackendError(
                f"openai: the reply to request {req.id} is not a chat completion (missing {e}): {body}",
                fix="check that the base URL is an OpenAI-compatible /v1 endpoint",
            ) from None

    def close(self) -> None:
        pass
