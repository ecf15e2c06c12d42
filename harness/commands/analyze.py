"""`harness analyze A B [C ...]`: how sets of texts differ, in embedding space and beyond.

Each argument is a dataset JSONL, an alpaca_eval model-outputs JSON, or a built dataset directory.
Prints a table (or one JSON object with --json) of per-set size, length and diversity, and per-pair
MAUVE, classifier separability and, where the sets answer the same instructions, paired
separability; each with an interval, its noise floor (two random halves of one set) and a verdict.
`--features lm:gpt2-large` (or lm:/path/to/causal-lm) computes MAUVE on LM features as the
back-and-forth paper did; the default is sentence embeddings, labelled as such. With
`--curation-reference FILE`, built dataset directories also get the precision and recall of their
self-curation. Nothing heavy is imported until `run` is called.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="two or more sets: .jsonl, alpaca_eval .json, or dir (with --config: key=value overrides)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH_OR_NAME",
        help="analyse an experiment's built datasets and eval outputs instead of files",
    )
    parser.add_argument("--runs-dir", default=None, metavar="DIR", help="runs root for --config")
    parser.add_argument(
        "--force", action="store_true", help="with --config: rerun the analysis even when cached"
    )
    parser.add_argument(
        "--field",
        default="output",
        choices=("output", "response", "instruction"),
        help="text to analyse: the assistant answer (output = response) or the user prompt",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="write a PCA map to OUT.png, and OUT.lengths.png, OUT.mauve.png (more than two sets) beside it",
    )
    parser.add_argument(
        "--embedder",
        default=None,
        metavar="NAME_OR_PATH",
        help="sentence-transformers model (default: all-MiniLM-L6-v2, shipped, offline)",
    )
    parser.add_argument(
        "--features",
        default=None,
        metavar="SPEC",
        help="MAUVE features: the embedder's sentence embeddings (default), or lm:NAME_OR_PATH for "
        "a causal LM's last-token hidden states as mauve-text featurizes (the paper: "
        "lm:gpt2-large)",
    )
    parser.add_argument(
        "--pooling",
        default="last",
        choices=("last", "mean"),
        help="for lm: features, the last token's hidden state (as MAUVE) or the mean over tokens",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=1024,
        metavar="TOKENS",
        help="for lm: features, cut texts to this many tokens (MAUVE's max_text_length: 1024)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="B",
        help="bootstrap resamples for the classifiers' intervals",
    )
    parser.add_argument(
        "--curation-reference",
        default=None,
        metavar="FILE",
        help="reference judgments (id or instruction, and score or good) to measure the precision "
        "and recall of each built dataset's curation against",
    )
    parser.add_argument(
        "--good-at",
        type=float,
        default=4.5,
        help="a reference score at least this high counts as good (Humpback keeps >= 4.5)",
    )
    parser.add_argument(
        "--max-texts", type=int, default=None, metavar="N", help="subsample every set to N texts"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for subsampling and cross-validation folds")
    parser.add_argument(
        "--mauve-seeds", type=int, default=5, metavar="K", help="MAUVE k-means seeds to average"
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the classifiers")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="embedding cache directory (default: <runs dir>/cache/embeddings)",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads for MAUVE and the classifiers (0: all cores); one is fastest "
        "for a few thousand texts and on shared machines",
    )
    parser.add_argument(
        "--eval-prompts",
        default=None,
        metavar="FILE",
        help="eval prompts (any accepted format) to check each set's instructions against",
    )
    parser.add_argument("--duplicate-threshold", type=float, default=0.95, help="cosine for near-duplicates")
    parser.add_argument(
        "--contamination-threshold",
        type=float,
        default=0.9,
        help="cosine above which an eval prompt counts as found in a set",
    )


def run(args: argparse.Namespace) -> int:
    if args.config:
        return _run_experiment(args)
    from harness.core.errors import InputError
    from harness.core.runs import runs_root
    from harness.evaluation.analysis.embeddings import DEFAULT_EMBEDDER, make_embedder
    from harness.evaluation.analysis.render import render, render_curation
    from harness.evaluation.analysis.report import AnalysisSettings, analyze
    from harness.evaluation.analysis.texts import load_text_set

    if len(args.paths) < 2:
        raise InputError("give at least two sets to compare", fix="harness analyze A.jsonl B.json [C ...]")
    if args.max_texts is not None and args.max_texts < 1:
        raise InputError("--max-texts must be positive")
    cache = (
        None if args.no_cache else Path(args.cache) if args.cache else runs_root() / "cache" / "embeddings"
    )
    progress = sys.stderr.isatty() and not args.json
    embedder = make_embedder(args.embedder or DEFAULT_EMBEDDER, cache_dir=cache, show_progress=progress)
    features = (
        make_embedder(args.features, cache_dir=cache, pooling=args.pooling, max_length=args.max_length)
        if args.features
        else None
    )
    sets = [load_text_set(p, args.field) for p in args.paths]
    prompts = load_text_set(args.eval_prompts, "instruction") if args.eval_prompts else None
    settings = AnalysisSettings(
        seeds=tuple(range(args.mauve_seeds)),
        folds=args.folds,
        seed=args.seed,
        max_texts=args.max_texts,
        duplicate_threshold=args.duplicate_threshold,
        contamination_threshold=args.contamination_threshold,
        threads=args.threads or None,
        bootstrap=args.bootstrap,
    )
    analysis = analyze(sets, embedder, settings, mauve_embedder=features, eval_prompts=prompts)
    if args.curation_reference:
        from harness.evaluation.analysis.curation import curation_report

        dirs = [
            (s.name, Path(p))
            for s, p in zip(analysis.report["sets"].items(), args.paths, strict=True)
            if Path(p).is_dir()
        ]
        if not dirs:
            raise InputError("--curation-reference needs built dataset directories among the sets")
        analysis.report["curation"] = {
            name: curation_report(d, args.curation_reference, good_at=args.good_at) for (name, _), d in dirs
        }
    plots = []
    if args.plot:
        from harness.evaluation.analysis.plots import write_plots

        plots = [str(p) for p in write_plots(analysis, args.plot, seed=args.seed)]
        analysis.report["plots"] = plots
    if args.json:
        print(json.dumps(analysis.report, ensure_ascii=False))
        return 0
    from rich.console import Console

    console = Console()
    from harness.report.terminal import show

    for item in [*render(analysis.report), *render_curation(analysis.report.get("curation") or {})]:
        show(console, item)
    for p in plots:
        console.print(f"wrote {p}")
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.evaluation.analysis.render import render, render_curation, render_tags
    from harness.experiment import load_experiment
    from harness.report.terminal import show
    from harness.stages import analyze

    exp = load_experiment(args.config, args.paths)
    outcome = analyze.run(exp, args.runs_dir, force=args.force)
    reports = analyze.load(exp, args.runs_dir)
    if args.json:
        print(json.dumps(reports, ensure_ascii=False))
        return 0
    console = Console()
    for what, report in reports.items():
        console.rule(what)
        renderer = {"curation": render_curation, "instruction_tags": render_tags}.get(what, render)
        for item in renderer(report):
            show(console, item)
    state = "cached" if outcome.skipped else "done"
    console.print(f"analysis: {state}; {', '.join(reports)} in {outcome.directory}")
    return 0
