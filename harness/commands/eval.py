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
import os
from pathlib import Path
from typing import Any

from harness.commands._experiment import DTYPES, positive_int, require_writable_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    from harness.commands._experiment import add_experiment_arguments

    add_experiment_arguments(p, required=False)
    p.add_argument(
        "--only", action="append", metavar="DATASET", help="with --config: this dataset only (repeatable)"
    )
    p.add_argument("--force", action="store_true", help="rerun even when a finished manifest matches")
    m = p.add_argument_group("one model")
    m.add_argument(
        "--model", default=None, help="model spec: hf:PATH, vllm:PATH_OR_ID, openai:MODEL[@BASE_URL]"
    )
    m.add_argument(
        "--model-outputs",
        type=Path,
        default=None,
        metavar="FILE",
        help="judge these outputs (alpaca_eval format) instead of generating",
    )
    m.add_argument(
        "--name", default=None, help="generator name in the outputs (default: the model's directory name)"
    )
    m.add_argument(
        "--judge",
        default="protocol",
        help="alpaca_eval:<annotator> or local:<annotator>[,top_logprobs=K]:<model spec> "
        "(default: the protocol's annotator through alpaca_eval)",
    )
    m.add_argument("--protocol", default="alpaca_eval_1", choices=("alpaca_eval_1", "alpaca_eval_2"))
    m.add_argument(
        "--eval-set", default="hub", help="hub, bundled:demo, or a JSON/JSONL path in alpaca_eval's format"
    )
    m.add_argument(
        "--max-instances", type=int, default=None, metavar="N", help="alpaca_eval's fixed-seed subset"
    )
    m.add_argument("--output", type=Path, default=None, metavar="DIR", help="where the results go")
    m.add_argument(
        "--cache", type=Path, default=None, help="request cache (default RUNS_DIR/cache/requests.sqlite)"
    )
    m.add_argument("--no-cache", action="store_true", help="do not read or write the request cache")
    m.add_argument(
        "--json", action="store_true", help="print metrics.json's headline figures as one JSON object"
    )
    add_lc_arguments(m)
    from harness.experiment import Decoding

    d = Decoding()
    g = p.add_argument_group("decoding (the papers': T=0.7, top-p 0.9)")
    g.add_argument("--temperature", type=float, default=d.temperature)
    g.add_argument("--top-p", type=float, default=d.top_p)
    g.add_argument("--max-tokens", type=int, default=d.max_tokens)
    g.add_argument("--seed", type=int, default=d.seed)
    b = p.add_argument_group("backend (generating model and local judge)")
    b.add_argument("--batch-size", type=positive_int, default=None, help="hf: prompts per generate call")
    b.add_argument("--dtype", default=None, choices=DTYPES, help="hf/vllm: auto (bf16 on GPU, fp32 on CPU)")
    b.add_argument("--max-model-len", type=positive_int, default=None)
    b.add_argument("--enforce-eager", action="store_true", help="vllm: skip graph compilation")


def add_lc_arguments(p: Any) -> None:
    """`--lc` and `--lc-data`, as eval.lc and eval.lc_data in an experiment (also `harness score`'s)."""
    p.add_argument(
        "--lc",
        default="auto",
        choices=("auto", "off"),
        help="length-controlled win rate: auto = alpaca_eval's official GLM with --lc-data, else its GLM "
        "without instruction difficulty on these annotations alone; off = none",
    )
    p.add_argument(
        "--lc-data",
        type=Path,
        default=None,
        metavar="PATH",
        help="alpaca_eval's df_gamed.csv from the hub (or its directory), for the official LC",
    )


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

    from harness.commands._experiment import load, one_runner
    from harness.stages import evaluate

    exp = load(args)
    console = Console()
    cost = evaluate.estimate_cost(exp)
    if cost:
        console.print(f"judge cost estimate: {cost.get('summary')}", highlight=False)
    with one_runner(exp, args):
        outcomes = evaluate.run(exp, args.runs_dir, only=args.only, force=args.force)
    for o in outcomes:
        s = o.manifest.stats
        state = "cached" if o.skipped else "done"
        lc = f"LC {_fmt(s.lc_win_rate)} ({s.lc_variant})" if s.lc_win_rate is not None else "LC n/a"
        console.print(
            f"eval {o.directory.name}: {state}; win rate {_fmt(s.win_rate)} ± {_fmt(s.standard_error)}, "
            f"{lc} (n={s.n_total}, parse failures {s.n_parse_failures}) -> {o.directory}",
            highlight=False,
        )
    return 0


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import ConfigError

    if args.config:
        if args.model or args.model_outputs or args.output:
            raise ConfigError(
                "--config evaluates an experiment; --model/--model-outputs/--output are for one model"
            )
        if args.lc != "auto" or args.lc_data is not None:
            raise ConfigError(
                "--lc/--lc-data are for one model; an experiment has eval.lc and eval.lc_data",
                fix="override them: eval.lc=off or eval.lc_data=PATH",
            )
        return _run_experiment(args)
    if args.overrides:
        raise ConfigError(f"overrides {args.overrides} need --config")
    if (args.model is None) == (args.model_outputs is None):
        raise ConfigError(
            "pass --config EXPERIMENT, or one of --model SPEC / --model-outputs FILE with --output DIR"
        )
    if args.output is None:
        raise ConfigError("--output DIR is required with --model / --model-outputs")
    if args.judge not in ("protocol", "default", ""):  # before --output is created
        from harness.evaluation.judges import parse_judge_option

        parse_judge_option(args.judge)
    _check_paths(args)
    return _run_one(args)


def _check_paths(args: argparse.Namespace) -> None:
    """Before any model loads: the outputs to judge exist, the output directory can be written."""
    from harness.core.errors import ConfigError, InputError
    from harness.core.io import require_file

    if args.model_outputs is not None and not os.path.lexists(args.model_outputs):
        raise InputError(
            "model outputs file not found",
            path=args.model_outputs,
            fix="pass an alpaca_eval model_outputs JSON/JSONL file",
        )
    if args.model_outputs is not None:
        require_file(args.model_outputs)  # a directory, a FIFO, a symlink loop: each said as such
    if args.lc_data is not None:
        from harness.evaluation.metrics import check_lc_data

        check_lc_data(args.lc_data)
    if args.output.exists() and not args.output.is_dir():
        raise ConfigError(
            f"--output {args.output} is a file", fix="pass a directory (it is created if missing)"
        )
    require_writable_dir(args.output, what=f"--output {args.output}", fix="pass a directory you can write to")


def _one_model_job(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any]]:
    """The eval job, its fingerprint and its manifest config for `--model` / `--model-outputs`."""
    from harness.core.io import file_sha256
    from harness.core.runs import request_cache_path, runs_root
    from harness.evaluation.alpaca import EvalJob, judge_spec_for
    from harness.experiment import Decoding
    from harness.stages import fingerprints

    decoding = Decoding(
        temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed
    )
    judge_spec = judge_spec_for(args.judge, args.protocol)
    cache = None if args.no_cache else (args.cache or request_cache_path(runs_root(args.runs_dir)))
    job = EvalJob(
        judge=str(judge_spec),
        protocol=args.protocol,
        eval_set=args.eval_set,
        decoding=decoding,
        max_instances=args.max_instances,
        model=args.model,
        model_outputs=args.model_outputs,
        name=args.name,
        cache=cache,
        generator_options=_options(args),
        lc=args.lc,
        lc_data=args.lc_data,
    )
    # new weights at the same path rerun: the models enter by identity (weights, template)
    model_id = (
        _model_identity(args.model)
        if args.model is not None
        else {"outputs": file_sha256(args.model_outputs)}
    )
    judge_id = (
        _model_identity(judge_spec.model)
        if judge_spec.model and not judge_spec.model.startswith("@")
        else None
    )
    config = {
        "model": model_id,
        "judge": job.judge,
        "judge_model": judge_id,
        "protocol": args.protocol,
        "eval_set": args.eval_set,
        "eval_set_sha": file_sha256(args.eval_set) if Path(args.eval_set).is_file() else None,
        "max_instances": args.max_instances,
        "decoding": decoding.__dict__,
        "name": args.name,
    }
    return job, fingerprints.eval_fingerprint_of(config, {}), config


def _model_identity(spec: str) -> Any:
    from harness.backends.spec import model_identity, parse_spec

    return model_identity(parse_spec(spec))


def _run_one(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.evaluation.alpaca import load_metrics
    from harness.stages.evaluate import evaluate

    job, fp, config = _one_model_job(args)
    _refuse_other_results(args.output, fp, args.force)
    err = Console(stderr=True)

    def show_cost(cost: dict[str, Any]) -> None:
        usd = "price unknown" if cost.get("usd") is None else f"~${cost['usd']:.4f}"
        err.print(
            f"judge cost estimate: {cost['n_judgments']} judgments by {cost['annotator']} "
            f"({cost['model']}), ~{cost['total_tokens']:,} tokens, {usd}",
            highlight=False,
        )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        outcome = evaluate(
            args.output,
            job,
            fingerprint=fp,
            config=config,
            force=args.force,
            progress=progress,
            on_cost=show_cost,
        )
    m = load_metrics(args.output)
    if args.json:
        keys = (
            "win_rate",
            "standard_error",
            "n_total",
            "discrete_win_rate",
            "lc_win_rate",
            "lc_variant",
            "lc_label",
            "lc_reason",
            "n_parse_failures",
            "avg_output_length",
            "judge",
            "protocol",
            "tokens",
        )
        print(
            json.dumps(
                {
                    **{k: m.get(k) for k in keys},
                    "skipped": outcome.skipped,
                    "judge_stats": m.get("judge_stats"),
                    "generation_stats": m.get("generation_stats"),
                }
            )
        )
        return 0
    _print_one(m, outcome.skipped, args.output)
    return 0


def _refuse_other_results(output: Path, fp: str, force: bool) -> None:
    """A finished evaluation with other settings is not replaced silently."""
    from harness.core.errors import ConfigError
    from harness.core.runs import read_manifest

    m = read_manifest(output)
    # the generation and judging's fingerprint: other LC settings only rescore the judgments there
    if m is not None and m.ok and m.upstream.get("judged", m.fingerprint) != fp and not force:
        raise ConfigError(
            f"{output} holds a finished evaluation with other settings (model, judge, eval set or decoding)",
            fix="pass another --output, or --force to replace it",
        )


def _print_one(m: dict[str, Any], skipped: bool, output: Path) -> None:
    from rich.console import Console

    console = Console()
    js = m.get("judge_stats") or {}
    if js.get("api_total_tokens") is not None:
        console.print(
            f"judge tokens spent: {js['api_total_tokens']:,} (${js.get('api_usd', 0):.4f})", highlight=False
        )
    state = "cached, not rerun (--force reruns)" if skipped else "done"
    console.print(
        f"eval {m.get('generator')}: {state}; win rate {_fmt(m.get('win_rate'))} ± "
        f"{_fmt(m.get('standard_error'))} (n={m.get('n_total')} of {m.get('n_rows')}, "
        f"{m.get('n_parse_failures')} judge parse failure(s)); tokens {m.get('tokens')}; "
        f"judge cache {js.get('judge_cache_hits', 0)} hit(s) / {js.get('judge_cache_misses', 0)} miss(es) "
        f"-> {output}",
        highlight=False,
    )
    lc = m.get("lc_win_rate")
    console.print(
        f"length-controlled win rate: {_fmt(lc)} ({m.get('lc_label')})"
        if lc is not None
        else "length-controlled win rate: n/a",
        highlight=False,
    )
    if m.get("lc_reason"):
        console.print(m["lc_reason"], highlight=False, soft_wrap=True)
