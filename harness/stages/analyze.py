"""The analysis stage: how an experiment's datasets and models differ, measured on every run.

Three comparisons, each a `harness.evaluation.analysis` report with its plots:

- `responses`: the assistant answers of every built dataset, plus the web documents behind the
  datasets `analysis.web_text_of` names (the back-and-forth paper's MAUVE table: distilled vs
  distilled - the reference's noise floor, two halves of one set - vs rewritten vs web text), with
  diversity and near-duplicates;
- `instructions`: the user prompts of every dataset, checked for contamination against the eval set;
- `outputs`: every trained model's AlpacaEval outputs (they share instructions, so the paired
  classifier applies and the unpaired one cross-validates grouped by instruction), when the eval
  stage has run;
- `curation` (when `analysis.curation_reference` names a reference file for a dataset): precision
  and recall of that dataset's self-curation at each threshold (the Humpback paper's analysis).

MAUVE runs on `analysis.mauve_features`: the sentence embedder by default, or a causal LM's
last-token hidden states (`lm:gpt2-large` in the paper configs, the back-and-forth paper's setup).
Every pair carries its noise floor (two random halves of one set), intervals and a verdict.

Its fingerprint covers the analysis settings and the upstream build (and eval) fingerprints.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.config import to_dict
from harness.core.errors import StageError
from harness.core.fingerprint import fingerprint
from harness.core.io import write_json
from harness.core.runs import StageOutcome, StageResult, run_stage
from harness.experiment import Experiment
from harness.stages import fingerprints, paths, rows

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task

log = logging.getLogger(__name__)

ANALYSIS_VERSION = 2  # 2: grouped CV on shared instructions, noise floors, intervals
EMBEDDER_ALIASES = {"minilm": "all-MiniLM-L6-v2"}
# analysis settings added after analyses were cached: at these values they stay out of the fingerprint
LATE_ANALYSIS_KEYS = {
    "length_tokenizer": None,
    "instruction_tagger": None,
    "max_tagged": 1000,
    "tagger_max_tokens": 128,
}


def analysis_fingerprint(
    exp: Experiment, *, with_outputs: bool, runs_dir: Any = fingerprints.CONFIG_ONLY
) -> str:
    upstream = {f"build/{n}": fingerprints.build_fingerprint(exp, n) for n in exp.datasets}
    if (
        runs_dir is not fingerprints.CONFIG_ONLY
    ):  # the datasets as built: a rebuild with other records reruns the analysis
        upstream |= {f"dataset/{n}": fingerprints.dataset_hash(exp, n, runs_dir) for n in exp.datasets}
    if with_outputs:
        upstream |= {
            f"eval/{n}": fingerprints.eval_judged_fingerprint(exp, r.eval_key, runs_dir)
            for n, r in rows.primary(exp).items()
        }
    analysis = to_dict(exp.analysis)
    # settings added later stay out at their defaults, so analyses from before keep their fingerprints
    for key, default in LATE_ANALYSIS_KEYS.items():
        if analysis.get(key) == default:
            analysis.pop(key, None)
    if exp.analysis.instruction_tagger:  # the tagger's prompt, shipped or the experiment's replacement
        from datasets_builders.prompts import prompt_hashes
        from harness.backends.spec import is_local, model_identity, parse_spec

        analysis["prompts"] = prompt_hashes(["instruction_tags"], exp.prompts)
        tagger = exp.analysis.instruction_tagger
        if not tagger.startswith(("@", "tiny:")) and is_local((spec := parse_spec(tagger)).model):
            analysis["tagger_weights"] = model_identity(spec)  # new weights at the same path rerun it
    return fingerprint(
        "analysis",
        version=ANALYSIS_VERSION,
        config={"analysis": analysis, "seed": exp.seed},
        upstream=upstream,
    )


def _eval_outputs(exp: Experiment, runs_dir) -> dict[str, Path]:
    found = {
        n: paths.eval_dir(exp, r.eval_key, runs_dir) / "model_outputs.json"
        for n, r in rows.primary(exp).items()
    }
    return {n: p for n, p in found.items() if p.is_file()}


def run(
    exp: Experiment, runs_dir=None, *, force: bool = False, with_outputs: bool | None = None
) -> StageOutcome:
    """Analyse the built datasets (and the models' eval outputs when they exist)."""
    if not exp.analysis.enabled:
        raise StageError(f"analysis is disabled in experiment '{exp.name}'", fix="set analysis.enabled=true")
    missing = [n for n in exp.datasets if not (paths.build_dir(exp, n, runs_dir) / "dataset.jsonl").is_file()]
    if missing:
        raise StageError(
            f"datasets not built yet: {', '.join(missing)}",
            fix=f"run `{shlex.join(['harness', 'build', '--config', exp.name])}` first",
        )
    outputs = _eval_outputs(exp, runs_dir)
    if with_outputs is None:
        with_outputs = len(outputs) == len(exp.datasets)
    directory = paths.analysis_dir(exp, runs_dir)
    fp = analysis_fingerprint(exp, with_outputs=with_outputs, runs_dir=runs_dir)

    def body(d: Path) -> StageResult:
        return _analyse(exp, runs_dir, d, outputs if with_outputs else {})

    return run_stage(
        directory, stage="analysis", fingerprint=fp, body=body, config=to_dict(exp.analysis), force=force
    )


analyse = run  # the name the graph's execute calls (its own `run` argument is the Run)


def _analyse(exp: Experiment, runs_dir, d: Path, outputs: dict[str, Path]) -> StageResult:
    from harness.evaluation.analysis.embeddings import make_embedder
    from harness.evaluation.analysis.plots import write_plots
    from harness.evaluation.analysis.report import AnalysisSettings, analyze
    from harness.evaluation.analysis.texts import TextSet, load_text_set

    cfg = exp.analysis
    cache_dir = paths.exp_dir(exp, runs_dir) / "cache" / "embeddings"
    embedder = make_embedder(EMBEDDER_ALIASES.get(cfg.embedder, cfg.embedder), cache_dir=cache_dir)
    features = make_embedder(cfg.mauve_features, cache_dir=cache_dir) if cfg.mauve_features else None
    seeds = tuple(range(cfg.mauve_seeds))
    built = {n: paths.build_dir(exp, n, runs_dir) for n in exp.datasets}
    eval_prompts: TextSet | None = None
    if outputs:
        eval_prompts = load_text_set(next(iter(outputs.values())), "instruction", name="eval")

    model_tokens = _model_token_counter(exp, runs_dir) if cfg.length_tokenizer else None
    written: list[str] = []
    stats: dict[str, Any] = {}
    jobs: list[tuple[str, list[TextSet], TextSet | None]] = [
        (
            "responses",
            [load_text_set(p, "output", name=n) for n, p in built.items()]
            + [web_text_set(built[n], n) for n in cfg.web_text_of],
            None,
        ),
        ("instructions", [load_text_set(p, "instruction", name=n) for n, p in built.items()], eval_prompts),
    ]
    if outputs:
        jobs.append(("outputs", [load_text_set(p, "output", name=n) for n, p in outputs.items()], None))
    for what, sets, prompts in jobs:
        short = _too_short_outputs(sets) if what == "outputs" else []
        sets = [s for s in sets if s.name not in {n for n, _ in short}]
        if len(sets) < 2:
            log.info("analysis: %s needs two sets, the experiment has %d; skipped", what, len(sets))
            stats[what] = {"skipped": "fewer than two sets", **({"left_out": dict(short)} if short else {})}
            continue
        settings = AnalysisSettings(
            seeds=seeds, seed=exp.seed, max_texts=cfg.max_texts, folds=_folds(sets), model_tokens=model_tokens
        )
        result = analyze(sets, embedder, settings, mauve_embedder=features, eval_prompts=prompts)
        result.report["notes"] += [f"{n}: left out, {why}" for n, why in short]
        plots = write_plots(result, d / f"{what}.png", seed=exp.seed)
        result.report["plots"] = [p.name for p in plots]
        write_json(d / f"{what}.json", result.report)
        written += [f"{what}.json", *(p.name for p in plots)]
        stats[what] = {
            "sets": len(sets),
            "pairs": len(result.report["pairs"]),
            "warnings": len(result.report["warnings"]),
            **({"left_out": dict(short)} if short else {}),
        }
    _by_dataset(exp, runs_dir, d, built, written, stats)
    return StageResult(outputs=written, stats=stats)


def _by_dataset(
    exp: Experiment, runs_dir, d: Path, built: dict[str, Path], written: list[str], stats: dict
) -> None:
    """The per-dataset analyses the experiment asks for: curation precision/recall against a reference
    (`analysis.curation_reference`) and tags per instruction (`analysis.instruction_tagger`)."""
    cfg = exp.analysis
    if cfg.curation_reference:
        from harness.evaluation.analysis.curation import curation_report

        report = {}
        for name, ref in cfg.curation_reference.items():
            spec = exp.datasets[name]
            report[name] = curation_report(built[name], ref, threshold=spec.options.get("threshold"))
        write_json(d / "curation.json", report)
        written.append("curation.json")
        stats["curation"] = {n: r["judged"] for n, r in report.items()}
    if cfg.instruction_tagger:
        from harness.evaluation.analysis.tags import report as tags_report

        tagged = {n: tag_instructions(exp, runs_dir, n, p) for n, p in built.items()}
        write_json(
            d / "instruction_tags.json", tags_report(tagged, tagger=cfg.instruction_tagger, seed=exp.seed)
        )
        written.append("instruction_tags.json")
        stats["instruction_tags"] = {n: len(t) for n, t in tagged.items()}


def tag_instructions(exp: Experiment, runs_dir, name: str, directory: Path) -> list[list[str] | None]:
    """The tagger's tags for a seeded sample of `analysis.max_tagged` of a dataset's instructions (its
    first user turns), greedy, through the experiment's request cache; None where a reply did not parse."""
    from datasets_builders.prompts import resolve
    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.core.records import Message
    from harness.evaluation.analysis.tags import parse_tags
    from harness.evaluation.analysis.texts import load_text_set
    from harness.stages.base import resolve_model_ref
    from harness.stages.evaluate import backend_options

    cfg = exp.analysis
    texts = load_text_set(directory / "dataset.jsonl", "instruction", name=name)
    if cfg.max_tagged:
        texts = texts.subsample(cfg.max_tagged, exp.seed)
    template = resolve(["instruction_tags"], exp.prompts)["instruction_tags"]
    spec = resolve_model_ref(exp, cfg.instruction_tagger, runs_dir, key="analysis.instruction_tagger")
    params = SamplingParams(temperature=0.0, max_tokens=cfg.tagger_max_tokens)
    requests = [
        ChatRequest(f"tags-{name}-{i}", (Message("user", template.format(instruction=t)),), params)
        for i, t in enumerate(texts.texts)
    ]
    gen = load_generator(spec, cache=paths.request_cache(exp, runs_dir), **backend_options(exp))
    try:
        return [parse_tags(g.text) for g in gen.generate(requests)]
    finally:
        gen.close()


def _model_token_counter(exp: Experiment, runs_dir) -> tuple[str, Any]:
    """(tokenizer name, texts -> token counts) for `analysis.length_tokenizer`: the base model's
    tokenizer ("base") or the one named; counts without special tokens."""
    from transformers import AutoTokenizer

    name = exp.analysis.length_tokenizer
    if name == "base":
        from harness.backends.spec import resolve_base_model
        from harness.stages.base import ensure_base_model

        name = resolve_base_model(ensure_base_model(exp, runs_dir))
    tokenizer = AutoTokenizer.from_pretrained(name)

    def count(texts):
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    return (
        exp.analysis.length_tokenizer if exp.analysis.length_tokenizer != "base" else f"base ({name})",
        count,
    )


def web_text_set(directory: Path, name: str):
    """The web documents a dataset's records came from (provenance `web_text`), one per record, with
    the record's instruction: the paper's "web text" row, paired with the rewritten responses."""
    from harness.core.io import iter_jsonl
    from harness.core.records import provenance_of
    from harness.evaluation.analysis.texts import TextSet

    pairs = []
    for _, row in iter_jsonl(directory / "dataset.jsonl"):
        web = provenance_of(row.get("provenance")).get("web_text")
        user = next((m.get("content", "") for m in row.get("messages", []) if m.get("role") == "user"), "")
        if isinstance(web, str) and web.strip():
            pairs.append((user, web))
    if not pairs:
        raise StageError(
            f"analysis.web_text_of: {name}'s records carry no web_text provenance",
            fix="name a dataset built from the corpus (back_and_forth, humpback, distillation)",
        )
    return TextSet(
        name=f"{name}:web_text",
        texts=tuple(t for _, t in pairs),
        instructions=tuple(i for i, _ in pairs),
        path=str(directory / "dataset.jsonl"),
        field="web_text",
    )


def _too_short_outputs(sets: Sequence[Any]) -> list[tuple[str, str]]:
    """The models' output sets below the analysis minimum once empty outputs are dropped (the eval set
    has enough instructions, checked when the experiment loads; a model may still answer some with
    nothing): (name, why) each, left out of the outputs comparison rather than failing a finished run."""
    from harness.evaluation.analysis.mauve import MIN_TEXTS

    out = []
    for s in sets:
        if len(s) < MIN_TEXTS:
            out.append(
                (
                    s.name,
                    f"{len(s)} non-empty outputs ({s.dropped_empty} empty), below the {MIN_TEXTS} MAUVE and the classifier need",
                )
            )
            log.warning("analysis: outputs of %s: %s", s.name, out[-1][1])
    return out


def _folds(sets: Sequence[Any]) -> int:
    """Five folds as a rule; fewer for the demo's small sets so that each fold has texts of both sets."""
    smallest = min(len(s) for s in sets)
    return 5 if smallest >= 50 else 3 if smallest >= 15 else 2


def load(exp: Experiment, runs_dir=None) -> dict[str, dict[str, Any]]:
    """The analysis reports that exist for this experiment, by name (responses, instructions, outputs)."""
    from harness.core.io import read_json

    d = paths.analysis_dir(exp, runs_dir)
    return {
        p.stem: read_json(p)
        for p in sorted(d.glob("*.json"))
        if p.name not in ("manifest.json", "running.json")
    }


# the stage graph (harness.stages.graph)
def included(run: Run) -> bool:
    """The graph has the analysis: it is enabled, and (a run limited by --only) every dataset outside
    the selection is built already, since the analysis reads them all."""
    if not run.exp.analysis.enabled:
        return False
    others = [n for n in run.exp.datasets if n not in run.names]
    return not others or all((run.build_dir(n) / "dataset.jsonl").is_file() for n in others)


def tasks(run: Run) -> list[Task]:
    """The analysis, after the selected datasets' builds and evals (it reads every dataset's build)."""
    if not included(run):
        return []
    from harness.core.runs import is_done
    from harness.stages.graph import Task

    d = paths.analysis_dir(run.exp, run.runs_dir)
    fp = analysis_fingerprint(run.exp, with_outputs=True, runs_dir=run.runs_dir)
    needs = (
        *(f"build/{n}" for n in run.names),
        *(f"eval/{r.eval_key}" for r in rows.evaluated(run.exp, run.names)),
    )
    return [Task("analysis", None, d, fp, is_done(d, fp), needs=needs, writes=("analysis.json",))]


def execute(run: Run, task: Task, *, force: bool = False, progress: Any = None) -> StageOutcome:
    return analyse(run.exp, run.runs_dir, force=force)


def summary(outcome: StageOutcome) -> str:
    """The pairs each comparison measured."""
    s = outcome.manifest.stats
    return ", ".join(
        f"{k}: {v.get('pairs')} pairs" for k, v in s.items() if isinstance(v, dict) and "pairs" in v
    )
