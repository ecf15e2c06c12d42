"""`harness generate`: answer a JSONL file of chat prompts with any backend, through the request cache.

Input lines are `{"id": ..., "messages": [...]}` or `{"id": ..., "instruction": ...}`; every line is
validated before a model is loaded. Output is one JSON line per prompt, in input order, written
atomically at the end; finished requests are in the cache as they complete, so a killed run
resumes without redoing them. Prompts go to the backend in windows of `WINDOW` requests and each
window's outputs are written as it finishes, so memory stays flat however long the input is.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import time
from pathlib import Path

from harness.commands._experiment import DTYPES, positive_int, require_writable_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, help="model spec: hf:PATH, vllm:PATH_OR_ID, openai:MODEL[@BASE_URL]"
    )
    p.add_argument("--input", required=True, type=Path, help="JSONL of prompts")
    p.add_argument("--output", required=True, type=Path, help="JSONL to write")
    g = p.add_argument_group("decoding")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--max-tokens", type=int, default=256)
    g.add_argument(
        "--seed", type=int, default=None, help="per-request seed; sampled requests without one are not cached"
    )
    g.add_argument(
        "--logprobs", type=int, default=0, metavar="K", help="top-K logprobs of the first generated token"
    )
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    c = p.add_argument_group("cache and run")
    c.add_argument("--runs-dir", default=None, help="runs root (default $HARNESS_RUNS_DIR or ./runs)")
    c.add_argument(
        "--cache", type=Path, default=None, help="request cache file (default RUNS_DIR/cache/requests.sqlite)"
    )
    c.add_argument("--no-cache", action="store_true", help="do not read or write the request cache")
    c.add_argument("--summary-json", type=Path, default=None, help="also write the run's counts as JSON here")
    b = p.add_argument_group("backend")
    b.add_argument("--batch-size", type=positive_int, default=32, help="hf: prompts per generate call")
    b.add_argument("--dtype", default="auto", choices=DTYPES, help="hf/vllm: auto (bf16 on GPU, fp32 on CPU)")
    b.add_argument("--max-model-len", type=positive_int, default=None)
    b.add_argument("--tensor-parallel-size", type=positive_int, default=1, help="vllm: GPUs per model")
    b.add_argument("--enforce-eager", action="store_true", help="vllm: skip graph compilation (faster start)")
    b.add_argument("--concurrency", type=positive_int, default=8, help="openai: requests in flight")
    b.add_argument("--max-retries", type=int, default=5, help="openai: retries on 429/5xx/timeouts")
    b.add_argument("--timeout", type=float, default=120.0, help="openai: seconds per request")
    b.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the key"
    )


def check_paths(input_path: Path, output: Path) -> None:
    """Before any model loads: the output is not the input, and it can be written."""
    from harness.core.errors import ConfigError

    if output.resolve() == input_path.resolve():
        raise ConfigError(f"--output {output} is the input file", fix="write the outputs to another file")
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory", fix="pass a file path, e.g. outputs.jsonl")
    require_writable_dir(
        output.resolve().parent, what=f"--output {output}", fix="pass a path in a directory you can write to"
    )


WINDOW = 16384  # requests per generate call: far more than any engine batches at once, little memory


def check_prompts(path: Path) -> int:
    """Validate every line (before any model loads); returns the number of prompts."""
    from harness.core.errors import InputError
    from harness.core.io import iter_jsonl
    from harness.core.records import prompt_messages

    seen: set[str] = set()
    for lineno, obj in iter_jsonl(path):
        rid, _ = prompt_messages(obj, path=path, line=lineno)
        if rid in seen:
            first = next(n for n, (r, _) in _iter_prompts(path) if r == rid)
            raise InputError(
                f"duplicate id '{rid}' (first on line {first})",
                path=path,
                line=lineno,
                fix="give every prompt a unique id",
            )
        seen.add(rid)
    if not seen:
        raise InputError("no prompts in the file", path=path)
    return len(seen)


def _iter_prompts(path: Path):
    from harness.core.io import iter_jsonl
    from harness.core.records import prompt_messages

    for lineno, obj in iter_jsonl(path):
        yield lineno, prompt_messages(obj, path=path, line=lineno)


def run(args: argparse.Namespace) -> int:
    from harness.backends import load_generator, parse_spec
    from harness.backends.base import SamplingParams
    from harness.core.errors import ConfigError
    from harness.core.runs import request_cache_path, runs_root

    spec = parse_spec(args.model)  # an unknown backend fails before the input is read
    check_paths(args.input, args.output)
    n_prompts = check_prompts(args.input)
    try:
        params = SamplingParams(
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            seed=args.seed,
            logprobs=args.logprobs,
            stop=tuple(args.stop),
        )
    except ValueError as e:
        raise ConfigError(f"bad decoding option: {e}") from None
    cache = None if args.no_cache else (args.cache or request_cache_path(runs_root(args.runs_dir)))
    options = dict(
        batch_size=args.batch_size,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        tensor_parallel_size=args.tensor_parallel_size,
        enforce_eager=args.enforce_eager,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
        timeout=args.timeout,
        api_key_env=args.api_key_env,
    )

    if cache is not None:
        from harness.backends.cache import check_cache_file

        check_cache_file(Path(cache))  # before the model loads
    t_load = time.perf_counter()
    gen = load_generator(spec, cache=cache, **options)
    load_s = time.perf_counter() - t_load
    try:
        counts, finish, gen_s = _generate_file(gen, args, params, n_prompts)
        # local backends load their model on the first cache miss; count that as loading, not
        # generating; close() (which may stop an engine) is outside the clock too
        lazy_load_s = float(getattr(gen, "load_s", 0.0))
        gen_s -= lazy_load_s
    finally:
        gen.close()
    load_s += lazy_load_s
    _summarise(args, spec, gen, params, counts, finish, load_s, gen_s)
    return 0


def _generate_file(
    gen, args: argparse.Namespace, params, n_prompts: int
) -> tuple[dict[str, int], dict[str, int], float]:
    """Every prompt of the input through `gen`, window by window, into the output file (atomic)."""
    from harness.backends.base import ChatRequest
    from harness.core.io import atomic_open

    counts = {"prompts": 0, "completion": 0, "prompt": 0}
    finish: dict[str, int] = {}
    gen_s = 0.0
    with atomic_open(args.output) as out, _progress(n_prompts) as tick:
        prompts = _iter_prompts(args.input)
        while window := [
            ChatRequest(rid, msgs, params) for _, (rid, msgs) in itertools.islice(prompts, WINDOW)
        ]:
            t0 = time.perf_counter()
            results = gen.generate(window, on_result=tick)
            gen_s += time.perf_counter() - t0
            for r in results:  # written as each window finishes; the file appears atomically at the end
                out.write(r.json)
                out.write("\n")
                counts["prompts"] += 1
                counts["completion"] += r.completion_tokens
                counts["prompt"] += r.prompt_tokens
                finish[r.finish_reason] = finish.get(r.finish_reason, 0) + 1
    return counts, finish, gen_s


def _summarise(  # noqa: PLR0913 - one print
    args: argparse.Namespace,
    spec,
    gen,
    params,
    counts: dict[str, int],
    finish: dict[str, int],
    load_s: float,
    gen_s: float,
) -> None:
    completion = counts["completion"]
    summary = {
        "model": str(spec),
        "model_identity": gen.identity(),  # path + weights hash or hub id + revision, chat template hash
        "sampling": params.to_dict(),
        "prompts": counts["prompts"],
        "cache_hits": getattr(gen, "hits", 0),
        "generated": getattr(gen, "misses", counts["prompts"]),
        "completion_tokens": completion,
        "prompt_tokens": counts["prompt"],
        "finish_reasons": finish,
        "load_s": round(load_s, 3),
        "generate_s": round(gen_s, 3),
        "tokens_per_s": round(completion / gen_s, 1) if gen_s > 0 else None,
    }
    if args.summary_json:
        from harness.core.io import write_json

        write_json(args.summary_json, summary)
    print(
        f"generate: {summary['prompts']} prompts -> {args.output} | {summary['cache_hits']} from cache, "
        f"{summary['generated']} generated | {completion} tokens in {gen_s:.1f}s "
        f"({summary['tokens_per_s']} tok/s) | finish {json.dumps(summary['finish_reasons'])}"
    )


@contextlib.contextmanager
def _progress(total: int):
    """A progress bar over all windows; yields the `on_result` callback that advances it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("generate", total=total)
        yield lambda i, g: progress.advance(task)
