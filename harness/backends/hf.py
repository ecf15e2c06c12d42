"""The `hf` backend: transformers `generate`, batched with left padding.

Requests that share sampling settings are batched (longest first, to waste little padding).
Sampling is done by our own logits processor with one torch.Generator per request, so a request
with a seed gets the same text whatever batch it lands in: a resumed run reproduces an
uninterrupted one. Top logprobs of the first generated token come from the raw logits.
The loaded model comes from the per-process engine pool (`harness.backends.engines`): generators of
the same model, dtype and device share it; `close()` releases it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from harness.backends.base import (
    ChatRequest,
    ResultCallback,
    Results,
    SamplingParams,
    apply_stop,
    group_by_params,
)
from harness.backends.spec import ModelSpec, is_local, model_identity, resolve_local_model
from harness.core.chat import render_chat, template_hash
from harness.core.errors import BackendError
from harness.core.records import Generation

log = logging.getLogger(__name__)


def _per_row_sampler(params: SamplingParams, seeds: Sequence[int | None]):
    """A LogitsProcessor that samples each row with its own generator and forces that token, so
    `generate(do_sample=False)` emits it. Temperature and top-p are applied here."""
    import torch
    from transformers import LogitsProcessor

    generators = []
    for s in seeds:
        g = torch.Generator()
        if s is None:
            g.seed()
        else:
            g.manual_seed(int(s))
        generators.append(g)

    class PerRowSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            logits = scores.float() / params.temperature
            probs = torch.softmax(logits, dim=-1)
            if params.top_p < 1.0:
                sorted_p, order = torch.sort(probs, descending=True, dim=-1)
                # keep the smallest prefix whose mass reaches top_p (always at least one token)
                drop = (sorted_p.cumsum(-1) - sorted_p) >= params.top_p
                sorted_p = sorted_p.masked_fill(drop, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
            chosen = [
                torch.multinomial(probs[i].cpu(), 1, generator=generators[i]).item()
                for i in range(len(probs))
            ]
            forced = torch.full_like(scores, float("-inf"))
            forced[torch.arange(len(chosen)), torch.tensor(chosen, device=scores.device)] = 0.0
            return forced

    return PerRowSampler()


class HFGenerator:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 32,
        dtype: str = "auto",
        device: str | None = None,
        max_model_len: int | None = None,
        **_: Any,
    ):
        self.spec = spec
        self.name = str(spec)
        self.path = str(resolve_local_model(spec.model)) if is_local(spec.model) else spec.model
        from transformers import AutoTokenizer

        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self._max_model_len = max_model_len
        self.model = None  # acquired on the first request that misses the cache
        self._key: str | None = None
        self.load_s = 0.0
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, revision=spec.revision)
        except OSError as e:
            raise BackendError(
                f"hf: cannot load the tokenizer of '{spec.model}': {str(e).splitlines()[0]}",
                fix="pass a local model directory, or a hub id with network access",
            ) from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _load(self) -> None:
        import json
        import time

        import torch

        from harness.backends.engines import POOL

        t0 = time.perf_counter()
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {
            "auto": torch.bfloat16 if self.device.startswith("cuda") else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }[self.dtype]
        key = json.dumps(
            {"model": model_identity(self.spec), "dtype": str(torch_dtype), "device": self.device},
            sort_keys=True,
        )
        self.model = POOL.acquire(
            key,
            lambda: self._start_model(torch_dtype),
            label=self.name,
            on_gpu=not self.device.startswith("cpu"),
        )
        self._key = key
        self.max_model_len = (
            self._max_model_len or getattr(self.model.config, "max_position_embeddings", None) or 4096
        )
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(
            eos if isinstance(eos, list) else [eos if eos is not None else self.tokenizer.eos_token_id]
        )
        self.load_s += time.perf_counter() - t0

    def _start_model(self, torch_dtype: Any) -> Any:
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(
                self.path, revision=self.spec.revision, dtype=torch_dtype
            )
        except OSError as e:
            raise BackendError(
                f"hf: cannot load model '{self.spec.model}': {str(e).splitlines()[0]}",
                fix="pass a local model directory, or a hub id with network access",
            ) from None
        return model.to(self.device).eval()

    def identity(self) -> dict[str, Any]:
        return {**model_identity(self.spec), "chat_template": template_hash(self.tokenizer)}

    def generate(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]:
        if requests and self.model is None:
            self._load()
        results = Results(len(requests), on_result)
        prompts = [render_chat(self.tokenizer, r.messages) for r in requests]

        for params, idx in group_by_params(requests).items():
            fits = []
            for i in idx:
                if len(prompts[i]) + params.max_tokens > self.max_model_len:
                    results.too_long(i, requests[i], len(prompts[i]), self.name)
                else:
                    fits.append(i)
            fits.sort(key=lambda i: -len(prompts[i]))
            for start in range(0, len(fits), self.batch_size):
                batch = fits[start : start + self.batch_size]
                gens = self._generate_batch([requests[i] for i in batch], [prompts[i] for i in batch], params)
                results.set_many(list(zip(batch, gens)))
        return results.done()

    def _generate_batch(
        self, reqs: list[ChatRequest], prompts: list[list[int]], params: SamplingParams
    ) -> list[Generation]:
        import torch

        width = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            do_sample=False,
            num_beams=1,
            return_dict_in_generate=True,
            output_logits=params.logprobs > 0,
            pad_token_id=pad,
            eos_token_id=sorted(self.eos_ids),
            temperature=None,
            top_p=None,
            top_k=None,
        )
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if not params.greedy:
            kwargs["logits_processor"] = [_per_row_sampler(params, [r.params.seed for r in reqs])]
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        new = out.sequences[:, width:].tolist()
        first_lp = torch.log_softmax(out.logits[0].float(), dim=-1) if params.logprobs > 0 else None
        gens = []
        for row, (req, ids) in enumerate(zip(reqs, new)):
            end = next((k + 1 for k, t in enumerate(ids) if t in self.eos_ids), None)
            finish_reason = "stop" if end is not None else "length"
            ids = ids[:end] if end is not None else ids
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            text, stopped = apply_stop(text, params.stop)
            if stopped:
                finish_reason = "stop"
            top = None
            if first_lp is not None:
                vals, toks = torch.topk(first_lp[row], params.logprobs)
                top = tuple(
                    (self.tokenizer.decode([t]), round(float(v), 6))
                    for v, t in zip(vals.tolist(), toks.tolist())
                )
            gens.append(
                Generation(req.id, text, finish_reason, len(prompts[row]), len(ids), top, model=self.name)
            )
        return gens

    def close(self) -> None:
        """Release this generator's hold on the pooled model (the pool decides when it is freed)."""
        if self._key is not None:
            from harness.backends.engines import POOL

            POOL.release(self._key)
        self.model, self._key = None, None
