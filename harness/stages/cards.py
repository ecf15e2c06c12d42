"""Dataset and model cards in the Hugging Face Hub's format (YAML metadata, then Markdown).

Every built dataset directory gets `README.md` (builder and its paper, options, counts, drops by
reason, source documents and their licence, the command that rebuilds it) and every trained model
directory `model/README.md` (base model, recipe, training data, eval results), so
`huggingface-cli upload ORG/NAME runs/<exp>/build/<name>` or `harness publish` publishes them as
they are. Cards are written from the manifests after a stage finishes (or is found cached); they are
descriptions, never inputs, and enter no fingerprint.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from harness.core.io import write_text
from harness.core.runs import read_manifest
from harness.experiment import Experiment
from harness.stages import paths
from harness.stages.builders import builder_module

CARD = "README.md"
# Hub licence ids of the corpora the builders read ("other": see the source's own terms)
CORPUS_LICENSES = {"stdlib": "psf-2.0", "dolma": "odc-by", "clueweb": "other"}


def _front_matter(meta: dict[str, Any]) -> str:
    import yaml

    return (
        "---\n"
        + yaml.safe_dump(
            {k: v for k, v in meta.items() if v not in (None, [], {})}, sort_keys=False, allow_unicode=True
        )
        + "---\n"
    )


def _config_arg(manifest) -> str | None:
    argv = list(manifest.argv) if manifest else []
    for i, a in enumerate(argv[:-1]):
        if a == "--config":
            return argv[i + 1]
    return next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)


def _first_line(module: Any) -> str:
    return ((module.__doc__ or "").strip().splitlines() or [""])[0]


def source_of(exp: Experiment, name: str) -> dict[str, str]:
    """Where a dataset's texts come from: {what, license, paper} (paper: the builder's docstring's first line)."""
    spec = exp.datasets[name]
    if spec.builder == "baseline":
        from baselines import source_module

        mod = source_module(spec.options["loader"])
        where = spec.options.get("path") or f"{getattr(mod, 'SOURCE', None) or '?'} (demo file bundled)"
        return {
            "what": f"baseline `{spec.options['loader']}`: {where}",
            "paper": _first_line(mod),
            "license": getattr(mod, "LICENSE", "unknown"),
        }
    corpus = exp.corpus.source
    kind = corpus.split(":", 1)[0].lower()
    return {
        "what": f"corpus `{corpus}` (documents of {exp.corpus.min_chars}-{exp.corpus.max_chars} characters"
        + (f", at most {exp.corpus.max_documents}" if exp.corpus.max_documents else "")
        + ")",
        "paper": _first_line(builder_module(spec.builder)),
        "license": next((v for k, v in CORPUS_LICENSES.items() if k in kind), "other"),
    }


def dataset_card(exp: Experiment, name: str, runs_dir=None) -> str | None:
    """The Hub dataset card of a finished build, or None when it is not built."""
    d = paths.build_dir(exp, name, runs_dir)
    m = read_manifest(d)
    if not m or not m.ok:
        return None
    spec, src, stats = exp.datasets[name], source_of(exp, name), m.stats
    n = m.records("dataset.jsonl") or 0
    meta = {
        "license": src["license"],
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["instruction-tuning", "sft", spec.builder],
        "pretty_name": f"{exp.name}/{name}",
        "size_categories": [_size_category(n)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "dataset.jsonl"}]}],
    }
    drops = _drops_table(stats)
    options = "\n".join(f"- `{k}`: `{v}`" for k, v in dict(spec.options).items()) or "- (defaults)"
    config = _config_arg(m) or exp.name
    body = [
        f"# {name}",
        "",
        f"Built by the `{spec.builder}` builder of the instruction-data harness: {src['paper']}",
        "",
        f"- records: {n:,}",
        f"- source: {src['what']}; licence of the source: `{src['license']}`",
        f"- tokens generated while building: {stats.completion_tokens:,} (prompts: {stats.prompt_tokens:,})",
        f"- build fingerprint: `{m.fingerprint}`, harness commit `{(m.git or {}).get('commit')}`",
        "",
        "## Options",
        "",
        options,
        "",
        "## Steps and drops",
        "",
        *drops,
        "",
        "## Format",
        "",
        "JSON Lines, one record a line: `id`, `messages` (chat turns with `role` and "
        "`content`), `source`, `provenance` (where the record came from and how it was made). Loads with "
        '`datasets.load_dataset("json", data_files="dataset.jsonl")` and trains with TRL\'s `SFTTrainer` '
        "as it is (the `messages` column).",
        "",
        "## Rebuild",
        "",
        f"    {shlex.join(['harness', 'build', '--config', config, '--only', name])}",
        "",
        "Dropped items, each with its step and reason, are in `drops.jsonl`; the full record of the run "
        "(config, counts, package versions) in `manifest.json`.",
    ]
    return _front_matter(meta) + "\n".join(body) + "\n"


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "n>1M"


def _drops_table(stats: Any) -> list[str]:
    rows = ["| step | seen | kept | dropped (by reason) |", "|---|---:|---:|---|"]
    for step, s in dict(stats.steps).items():
        reasons = ", ".join(f"{r}: {c}" for r, c in (s.get("dropped") or {}).items()) or "-"
        rows.append(f"| {step} | {s.get('seen', '-')} | {s.get('kept', '-')} | {reasons} |")
    return rows if len(rows) > 2 else ["(no steps recorded)"]


def write_dataset_card(exp: Experiment, name: str, runs_dir=None) -> Path | None:
    text = dataset_card(exp, name, runs_dir)
    if text is None:
        return None
    path = paths.build_dir(exp, name, runs_dir) / CARD
    write_text(path, text)
    return path


def model_card(
    exp: Experiment, key: str, runs_dir=None, *, metrics: dict[str, Any] | None = None
) -> str | None:
    """The Hub model card of a trained model, training `key` (with its eval results once there are some)."""
    from harness.stages.rows import training
    from harness.training.recipe import semantic_dict

    m = read_manifest(paths.train_dir(exp, key, runs_dir))
    name = training(exp, key).dataset
    if not m or not m.ok:
        return None
    s = m.stats
    base = exp.base_model if not exp.base_model.startswith("tiny:") else None
    meta = {
        "base_model": base,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["trl", "sft", "instruction-tuning"],
        "license": source_of(exp, name)["license"],
        "model-index": _model_index(exp, name, metrics),
    }
    recipe = "\n".join(f"- `{k}`: `{v}`" for k, v in semantic_dict(exp.train.recipe).items())
    body = [
        f"# {exp.name}/{name}",
        "",
        f"`{exp.base_model}` fine-tuned with TRL's SFTTrainer on the `{name}` dataset of experiment "
        f"`{exp.name}` (builder `{exp.datasets[name].builder}`), with the recipe every dataset of the "
        "experiment shares (loss on assistant tokens only).",
        "",
        f"- training records: {s.records_kept}, steps: {s.steps}, tokens seen: {s.tokens_seen}, "
        f"final loss: {s.final_loss}",
        f"- train fingerprint: `{m.fingerprint}`",
        "",
        "## Recipe",
        "",
        recipe,
        "",
        "## Evaluation",
        "",
        *_eval_lines(exp, metrics),
        "",
    ]
    return _front_matter(meta) + "\n".join(body)


def _model_index(exp: Experiment, name: str, metrics: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if not metrics or metrics.get("win_rate") is None:
        return None
    results = [{"type": "win_rate", "value": round(float(metrics["win_rate"]), 4), "name": "win rate (%)"}]
    if metrics.get("lc_win_rate") is not None and metrics["lc_win_rate"] == metrics["lc_win_rate"]:
        results.append(
            {
                "type": "lc_win_rate",
                "value": round(float(metrics["lc_win_rate"]), 4),
                "name": "length-controlled win rate (%)",
            }
        )
    return [
        {
            "name": f"{exp.name}-{name}",
            "results": [
                {
                    "task": {"type": "text-generation", "name": "instruction following"},
                    "dataset": {
                        "type": "alpaca_eval",
                        "name": f"AlpacaEval ({exp.eval.protocol}, {exp.eval.eval_set})",
                    },
                    "metrics": results,
                    "source": {
                        "name": f"judge {exp.eval.judge}",
                        "url": "https://github.com/tatsu-lab/alpaca_eval",
                    },
                }
            ],
        }
    ]


def _eval_lines(exp: Experiment, metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return ["Not evaluated yet."]
    wr, se = metrics.get("win_rate"), metrics.get("standard_error")
    return [
        f"AlpacaEval protocol `{exp.eval.protocol}` on `{exp.eval.eval_set}`, judge `{exp.eval.judge}`: "
        f"win rate {wr if wr is None else round(wr, 2)} ± {se if se is None else round(se, 2)} % "
        f"over {metrics.get('n_total')} instructions."
    ]


def write_model_card(
    exp: Experiment, name: str, runs_dir=None, *, metrics: dict[str, Any] | None = None
) -> Path | None:
    model_dir = paths.trained_model_dir(exp, name, runs_dir)
    text = model_card(exp, name, runs_dir, metrics=metrics)
    if text is None or not model_dir.is_dir():
        return None
    write_text(model_dir / CARD, text)
    return model_dir / CARD
