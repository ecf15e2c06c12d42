"""Model spec strings (`vllm:PATH_OR_HUB_ID`, `hf:...`, `openai:MODEL`) and model identities.

A spec names the backend and the model. Options after `@` go to the backend, for example
`openai:gpt-4o@https://api.openai.com/v1` or `vllm:meta-llama/Llama-2-7b-hf@rev=abc123`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from harness.core.config import did_you_mean
from harness.core.errors import BackendError, ConfigError

# The one backend registry: name -> "module:attribute" of its Generator class, imported only when
# a spec names it. Validation (`parse_spec`) and lookup (`backend_class`) both read this.
BACKENDS: dict[str, str] = {
    "hf": "harness.backends.hf:HFGenerator",
    "vllm": "harness.backends.vllm_backend:VLLMGenerator",
    "openai": "harness.backends.openai_backend:OpenAIGenerator",
}
VLLM_MAX_LOGPROBS = 20  # vLLM's default max_logprobs: the most top logprobs a request may ask for


def allowing_logprobs(options: dict[str, Any], k: int) -> dict[str, Any]:
    """Generator options whose engine returns `k` top logprobs: vLLM's `max_logprobs` raised to `k`
    when below it (the other backends take any K and ignore the option)."""
    if k > int(options.get("max_logprobs", VLLM_MAX_LOGPROBS)):
        return {**options, "max_logprobs": k}
    return options


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_FULL_HASH_LIMIT = 64 << 20  # hash whole files below 64 MiB; sample larger ones


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    revision: str | None = None
    base_url: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}"


def parse_spec(spec: str) -> ModelSpec:
    backend, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise BackendError(
            f"model spec '{spec}' is not BACKEND:MODEL",
            fix=f"for example hf:/path/to/model; backends: {', '.join(BACKENDS)}",
        )
    check_backend(backend, where=f" in model spec '{spec}'")
    model, revision, base_url = rest, None, None
    if backend == "openai" and "@" in rest:
        model, _, base_url = rest.partition("@")
    elif "@rev=" in rest:
        model, _, revision = rest.partition("@rev=")
    return ModelSpec(backend, model, revision, base_url)


def resolve_base_model(base_model: str) -> str:
    """The weights to fine-tune, as a local directory or hub id: `hf:/path` and `vllm:org/name` lose
    their backend prefix. The trainer takes this path; its callers resolve it."""
    if base_model.partition(":")[0] not in BACKENDS:
        return base_model
    spec = parse_spec(base_model)
    if spec.backend == "openai":
        raise ConfigError(
            f"cannot fine-tune '{base_model}': an openai: model is served, not loadable",
            fix="name the model's weights: a local directory, a hub id, or hf:/path",
        )
    return spec.model


def check_backend(name: str, *, where: str = "") -> str:
    """`name` if the registry has it, else an error with the closest registered name."""
    if name not in BACKENDS:
        raise BackendError(
            f"unknown backend '{name}'{where}",
            fix=did_you_mean(name, BACKENDS, otherwise=f"use one of {', '.join(BACKENDS)}"),
        )
    return name


def backend_class(name: str) -> Any:
    """The Generator class registered under `name`, imported now (and not before)."""
    from harness.core.registry import lookup

    return lookup(BACKENDS, check_backend(name), what="backend")


def is_local(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def resolve_local_model(model: str) -> Path:
    """A local model directory, or a clear error when the path is wrong."""
    p = Path(model).expanduser()
    if not p.exists():
        raise BackendError(
            f"model path does not exist: {model}",
            fix="pass a directory with config.json and weights, or a hub id when online",
        )
    if not (p / "config.json").is_file():
        raise BackendError(f"{model} has no config.json; it is not a transformers model directory")
    return p.resolve()


def weights_hash(directory: Path) -> str:
    """Hash of config and weights. Files over 64 MiB are sampled (size + first and last MiB), which
    tells fine-tuned checkpoints apart without reading hundreds of GB."""
    h = hashlib.sha256()
    for p in sorted(directory.iterdir()):
        if not p.is_file() or not (
            p.suffix in WEIGHT_SUFFIXES or p.name in ("config.json", "tokenizer.json")
        ):
            continue
        size = p.stat().st_size
        h.update(f"{p.name}:{size}\n".encode())
        with open(p, "rb") as f:
            if size <= _FULL_HASH_LIMIT:
                while block := f.read(1 << 20):
                    h.update(block)
            else:
                h.update(f.read(1 << 20))
                f.seek(size - (1 << 20))
                h.update(f.read(1 << 20))
    return h.hexdigest()[:20]


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """Backend + path + weights hash for local models, backend + hub id + revision otherwise. The
    backend is part of it: hf and vllm draw different samples for the same seed."""
    if spec.backend != "openai" and is_local(spec.model):
        p = resolve_local_model(spec.model)
        return {"backend": spec.backend, "path": str(p), "weights": weights_hash(p)}
    ident: dict[str, Any] = {
        "backend": spec.backend,
        "model": spec.model,
        "revision": spec.revision or "main",
    }
    if spec.base_url:
        ident["base_url"] = spec.base_url
    return ident


MODEL_REFS = ("@base", "@seed_model", "tiny:tiny", "tiny:small", "tiny:learner")
STAGE_MODEL_REFS = ("@base",)  # what a stage's own model (a judge, a tagger) can name besides a backend spec


def model_checker(source: str):
    """check(key, value, refs=MODEL_REFS) for an experiment file `source`: a model reference is one of
    `refs` (the experiment's models: @base/@seed_model/tiny:*; a stage's own model: @base only), or a
    backend spec whose local directory (when it names one) exists."""
    from harness.core.errors import ConfigError, HarnessError

    def check_model(key: str, value: str, refs: tuple[str, ...] = MODEL_REFS) -> None:
        if value.startswith("@") or value.startswith("tiny:"):
            if value not in refs:
                raise ConfigError(
                    f"{source}: '{key}' is {value!r}",
                    fix=f"use {', '.join(refs)} or a backend spec",
                )
            return
        try:
            spec = parse_spec(value)
        except HarnessError as e:  # BackendError: not BACKEND:MODEL, or an unknown backend
            raise ConfigError(f"{source}: '{key}': {e.message}", fix=e.fix) from None
        if (
            spec.backend in ("hf", "vllm")
            and is_local(spec.model)
            and not Path(spec.model).expanduser().exists()
        ):
            raise ConfigError(
                f"{source}: '{key}' is {value!r}, whose model directory does not exist",
                fix="give an existing local model directory, or a hub id such as meta-llama/Llama-2-7b-hf",
            )

    return check_model
