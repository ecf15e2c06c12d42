"""`harness eval`: AlpacaEval for an experiment's trained models, or for one model.

    harness eval --config EXPERIMENT [--only NAME] [--force]
    harness eval --model SPEC --judge JUDGE [--protocol alpaca_eval_1|alpaca_eval_2]
                 [--eval-set hub|bundled:demo|PATH] [--max-instances N] --output DIR

Writes model_outputs.json, annotations.json (alpaca_eval's formats), metrics.json and a manifest.
`--model-outputs FILE` judges existing outputs instead of generating. An API judge's cost estimate
is printed before it runs and the tokens it spent after.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    from harness.commands._experiment import add_experiment_arguments

    add_experiment_arguments(p, required=False)
    p.add_argument("--only", action="append", metavar="DATASET", help="with --config: this dataset only (repeatable)")
    p.add_argument("--force", action="store_true", help="rerun even when a finished manifest matches")
    m = p.add_argument_group("one model")
    m.add_argument("--model", default=None, help="model spec: hf:PATH, vllm:PATH_OR_ID, openai:MODEL[@BASE_URL]")
    m.add_argument("--model-outputs", type=Path, default=None, metavar="FILE",
                   help="judge these outputs (alpaca_eval format) instead of generating")
    m.add_argument("--name", default=None, help="generator name in the outputs (default: the model's directory name)")
    m.add_argument("--judge", default="protocol",
                   help="alpaca_eval:<annotator> or local:<annotator>[,top_logprobs=K]:<model spec> "
                        "(default: the protocol's annotator through alpaca_eval)")
    m.add_argument("--protocol", default="alpaca_eval_1", choices=("alpaca_eval_1", "alpaca_eval_2"))
    m.add_argument("--eval-set", default="hub", help="hub, bundled:demo, or a JSON/JSONL path in alpaca_eval's format")
    m.add_argument("--max-instances", type=int, default=None, metavar="N", help="alpaca_eval's fixed-seed subset")
    m.add_argument("--output", type=Path, default=None, metavar="DIR", help="where the results go")
    m.add_argument("--cache", type=Path, default=None,
                   help="request cache (default RUNS_DIR/cache/requests.sqlite)")
    m.add_argument("--no-cache", action="store_true", help="do not read or write the request cache")
    m.add_argument("--json", action="store_true", help="print metrics.json's headline figures as one JSON object")
    from harness.experiment import Decoding

    d = Decoding()
    g = p.add_argument_group("decoding (the papers': T=0.7, top-p 0.9)")
    g.add_argument("--temperature", type=float, default=d.temperature)
    g.add_argument("--top-p", type=float, default=d.top_p)
    g.add_argument("--max-tokens", type=int, default=d.max_tokens)
    g.add_argument("--seed", type=int, default=d.seed)
    b = p.add_argument_group("backend (generating model and local judge)")
    b.add_argument("--batch-size", type=int, default=None, help="hf: prompts per generate call")
    b.add_argument("--dtype", default=None, help="hf/vllm: auto, float32, bfloat16")
    b.add_argument("--max-model-len", type=int, default=None)
    b.add_argument("--enforce-eager", action="store_true", help="vllm: skip graph compilation")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("batch_size", "dtype", "max_model_len"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    if args.enforce_eager:
        out["enforce_eager"] = True
    return out


def _run_experiment(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.commands._experiment import load
    from harness.stages import evaluate

    exp = load(args)
    console = Console()
    cost = evaluate.estimate_cost(exp)
    if cost:
        console.print(f"judge cost estimate: {cost.get('summary')}", highlight=False)
    for o in evaluate.run(exp, args.runs_dir, only=args.only, force=args.force):
        s = o.manifest.get("stats") or {}
        state = "cached" if o.skipped else "done"
        console.print(f"eval {o.directory.name}: {state}; win rate {_fmt(s.get('win_rate'))} ± "
                      f"{_fmt(s.get('standard_error'))} (n={s.get('n_total')}, parse failures "
                      f"{s.get('n_parse_failures')}) -> {o.directory}", highlight=False)
    return 0


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import ConfigError

    if args.config:
        if args.model or args.model_outputs or args.output:
            raise ConfigError("--config evaluates an experiment; --model/--model-outputs/--output are for one model")
        return _run_experiment(args)
    if args.overrides:
        raise ConfigError(f"overrides {args.overrides} need --config")
    if (args.model is None) == (args.model_outputs is None):
        raise ConfigError("pass --config EXPERIMENT, or one of --model SPEC / --model-outputs FILE with --output DIR")
    if args.output is None:
        raise ConfigError("--output DIR is required with --model / --model-outputs")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.core.fingerprint import fingerprint
    from harness.core.io import file_sha256
    from harness.core.runs import run_stage, runs_root
    from harness.evaluation.alpaca import evaluate_model, resolve_judge
    from harness.experiment import Decoding

    decoding = Decoding(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed)
    judge = str(resolve_judge(args.judge, args.protocol))
    cache = None if args.no_cache else (args.cache or runs_root(args.runs_dir) / "cache" / "requests.sqlite")
    options = _options(args)
    if args.model is not None:
        from harness.backends.spec import model_identity, parse_spec

        model_id: Any = model_identity(parse_spec(args.model))
    else:
        model_id = {"outputs": file_sha256(args.model_outputs)}
    judge_spec = resolve_judge(judge, args.protocol)
    judge_id: Any = None
    if judge_spec.kind == "local" and not judge_spec.model.startswith("@"):
        from harness.backends.spec import model_identity, parse_spec

        judge_id = model_identity(parse_spec(judge_spec.model))  # new weights at the same path rerun
    config = {"model": model_id, "judge": judge, "judge_model": judge_id, "protocol": args.protocol,
              "eval_set": args.eval_set,
              "eval_set_sha": file_sha256(args.eval_set) if Path(args.eval_set).is_file() else None,
              "max_instances": args.max_instances, "decoding": decoding.__dict__, "name": args.name}
    fp = fingerprint("eval", version=1, config=config)
    console = Console()
    err = Console(stderr=True)

    def show_cost(cost: dict[str, Any]) -> None:
        usd = "price unknown" if cost.get("usd") is None else f"~${cost['usd']:.4f}"
        err.print(f"judge cost estimate: {cost['n_judgments']} judgments by {cost['annotator']} "
                  f"({cost['model']}), ~{cost['total_tokens']:,} tokens, {usd}", highlight=False)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        def body(d: Path):
            from harness.core.runs import StageResult

            m = evaluate_model(args.model, judge=judge, protocol=args.protocol, eval_set=args.eval_set, output_dir=d,
                               decoding=decoding, max_instances=args.max_instances, cache=cache,
                               generator_options=options, name=args.name, model_outputs=args.model_outputs,
                               progress=progress, on_cost=show_cost)
            stats = {k: m.get(k) for k in ("win_rate", "standard_error", "n_total", "n_parse_failures", "tokens")}
            stats.update({k: v for k, v in m["judge_stats"].items() if k.startswith(("judge_cache", "api_"))})
            stats.update({k: v for k, v in m["generation_stats"].items() if k.startswith("generation_cache")})
            return StageResult(outputs=["model_outputs.json", "annotations.json", "metrics.json"], stats=stats)

        outcome = run_stage(args.output, stage="eval", fingerprint=fp, body=body, config=config, force=args.force)
    from harness.evaluation.alpaca import load_metrics

    m = load_metrics(args.output)
    if args.json:
        keys = ("win_rate", "standard_error", "n_total", "discrete_win_rate", "lc_win_rate", "n_parse_failures",
                "avg_output_length", "judge", "protocol", "tokens")
        print(json.dumps({**{k: m.get(k) for k in keys}, "skipped": outcome.skipped,
                          "judge_stats": m.get("judge_stats"), "generation_stats": m.get("generation_stats")}))
        return 0
    js = m.get("judge_stats") or {}
    if js.get("api_total_tokens") is not None:
        console.print(f"judge tokens spent: {js['api_total_tokens']:,} (${js.get('api_usd', 0):.4f})", highlight=False)
    state = "cached, not rerun (--force reruns)" if outcome.skipped else "done"
    console.print(f"eval {m.get('generator')}: {state}; win rate {_fmt(m.get('win_rate'))} ± "
                  f"{_fmt(m.get('standard_error'))} (n={m.get('n_total')} of {m.get('n_rows')}, "
                  f"{m.get('n_parse_failures')} judge parse failure(s)); tokens {m.get('tokens')}; "
                  f"judge cache {js.get('judge_cache_hits', 0)} hit(s) / {js.get('judge_cache_misses', 0)} miss(es) "
                  f"-> {args.output}", highlight=False)
    return 0
