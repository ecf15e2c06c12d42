"""The leaderboard: one row per `harness.stages.rows.Row` (a dataset at one N, one checkpoint, one
eval-tag variant; a plain dataset name when none is configured), gathered from the stages' manifests and outputs.

`collect` reads what the build, train, eval and analysis stages wrote (never recomputes), so a
report is cheap and always says where each number came from. `write` is the one leaderboard
writer: Markdown, CSV, JSON and the self-contained HTML page, into `results/<experiment>/`.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from harness.core.fingerprint import canonical_json, text_hash
from harness.core.io import read_json, write_json, write_text
from harness.core.runs import git_state, read_manifest
from harness.experiment import Experiment
from harness.report.columns import COLUMNS, PRIORITY, WITH_ERROR, cell, lc_notes, shown_columns
from harness.stages import fingerprints, paths
from harness.stages import rows as rows_of


def _num(value: Any) -> float | None:
    """A metric as a number, or None when it is missing or NaN (alpaca_eval writes NaN for none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else value


def experiment_fingerprint(exp: Experiment) -> str:
    """One hash over every row's eval fingerprint (which chains build and train), from the config alone
    (`fingerprints.CONFIG_ONLY`: no output hashes), so it names the experiment, not one machine's run of it."""
    fps = {r.eval_key: fingerprints.eval_fingerprint(exp, r.eval_key) for r in rows_of.evaluated(exp)}
    return text_hash(canonical_json(dict(sorted(fps.items()))), length=16)


def missing_evals(exp: Experiment, runs_dir=None) -> list[str]:
    """The rows without an eval's metrics.json."""
    return [
        r.name
        for r in rows_of.evaluated(exp)
        if not (paths.eval_dir(exp, r.eval_key, runs_dir) / "metrics.json").is_file()
    ]


def collect(exp: Experiment, runs_dir=None) -> dict[str, Any]:
    """Gather the leaderboard of an experiment from its run directory: one row per `rows.Row`."""
    from harness.stages import analyze

    analyses = analyze.load(exp, runs_dir)
    responses = analyses.get("responses", {})
    instructions = analyses.get("instructions", {})
    tags = analyses.get("instruction_tags", {}).get("sets", {})
    ref = exp.analysis.reference
    rows, curves, judging = [], {}, {}
    for r in rows_of.rows(exp):
        row = _selected_row(exp, r, rows) if r.selected else _row(exp, r, runs_dir)
        _add_analysis(row, r.dataset, ref, responses, instructions, tags)
        if not r.selected:
            curves[r.training.key], judging[r.name] = _add_diagnostics(row, exp, r, runs_dir)
        rows.append(row)
    missing = missing_evals(exp, runs_dir)
    rows.sort(key=lambda r: (-(r["win_rate"] if r["win_rate"] is not None else -1), r["dataset"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    git = git_state()
    return {
        "experiment": exp.name,
        "description": exp.description,
        "experiment_fingerprint": experiment_fingerprint(exp),
        "git_commit": git["commit"],
        "base_model": exp.base_model,
        # the engine every model ran on: hf and vllm draw different tokens from one seed (harness check)
        "backend": exp.backend,
        "judge": exp.eval.judge,
        "protocol": exp.eval.protocol,
        "mauve_reference": ref,
        **protocol_notes(exp),
        **({"deviations": list(exp.deviations)} if exp.deviations else {}),
        "warnings": n_warnings(rows),
        "rows": rows,
        "missing_eval": missing,
        "training_curves": {k: v for k, v in curves.items() if v},
        "judge_diagnostics": {k: v for k, v in judging.items() if v},
        # each measure carries its noise floor; the per-set controls behind them stay in the analysis files
        "analysis": {
            k: {
                "pairs": [{x: y for x, y in p.items() if x != "noise_floors"} for p in v.get("pairs", [])],
                "embedder": v.get("embedder"),
                "warnings": v.get("warnings", []),
                "verdict_rule": v.get("verdict_rule"),
            }
            for k, v in analyses.items()
            if k not in ("curation", "instruction_tags")
        },
        **(
            {"instruction_tags": {k: tagged[k] for k in ("tagger", "verdict_rule", "pairs")}}
            if (tagged := analyses.get("instruction_tags"))
            else {}
        ),
    }


def protocol_notes(exp: Experiment) -> dict[str, Any]:
    """What every row shares and the header states: the train-time and eval-time tags and the
    checkpoint rule."""
    t = exp.train
    train_tags = (
        (
            f"seed records: {t.seed_tag!r}; dataset records: {t.web_tag!r}"
            + ("" if t.mix_seed else "; seed set not mixed in")
        )
        if t.tags
        else "none"
    )
    variants = exp.eval.tag_variants
    eval_tags = f"one row per variant: {', '.join(variants)}" if variants else exp.eval.tags
    steps = ", ".join(str(k) for k in t.checkpoints)
    rule = (f"rows @step<k> for steps {steps} and the final model; " if steps else "the final model; ") + (
        "the reported model is the final one"
        if t.select_checkpoint == "last"
        else "the @selected row is the model (checkpoint and eval tags) with the best win rate on the eval set "
        "itself, i.e. selected on the test set, as the back-and-forth paper did (an optimistic figure)"
    )
    return {"train_tags": train_tags, "eval_tags": eval_tags, "checkpoints": rule}


def n_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """A warning per row that trained on fewer dataset records than its N, and one when the rows'
    N differ for that reason."""
    out = []
    for r in rows:
        target, got = r.get("n_target"), r.get("n_trained")
        if target is not None and got is not None and got < target and r.get("step") is None:
            out.append(
                f"{r['dataset']} trained on {got:,} dataset records, not N={target:,}: the dataset has only "
                f"{r.get('n_available', got):,} after dedup and screening (overlong records dropped)"
            )
    sizes = {r["n_trained"] for r in rows if r.get("n_trained") is not None and r.get("step") is None}
    if len(sizes) > 1 and out:
        out.append(
            f"rows trained on different N ({', '.join(f'{n:,}' for n in sorted(sizes))}): "
            "their win rates are not compared at equal data"
        )
    return out


def _train_assembly(train: Any) -> dict[str, Any]:
    return dict((train.stats.to_dict().get("assembly") or {}) if train else {})


def _row(exp: Experiment, r: rows_of.Row, runs_dir=None) -> dict[str, Any]:
    """One row from its build and train manifests and its eval's metrics.json."""
    name = r.dataset
    spec = exp.datasets[name]
    build = read_manifest(paths.build_dir(exp, name, runs_dir))
    train = read_manifest(paths.train_dir(exp, r.training.key, runs_dir))
    metrics_path = paths.eval_dir(exp, r.eval_key, runs_dir) / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    source = spec.builder if spec.builder != "baseline" else f"baseline:{spec.options.get('loader', '?')}"
    assembled = _train_assembly(train)
    stands_for_dataset = r.step is None and exp.train.select_checkpoint == "last" or r.selected
    return {
        "dataset": r.name,
        "built_from": name,
        "source": source,
        "label": spec.label or None,
        "records": build.records("dataset.jsonl") if build else None,
        "assembly": r.training.assembly,
        "n_target": r.n,
        "n_trained": assembled.get("n_trained"),
        "n_available": assembled.get("available"),
        "step": r.step,
        "eval_tags": r.eval_tags,
        "training_tokens": train.stats.tokens_seen if train else None,
        "win_rate": _num(metrics.get("win_rate")),
        "standard_error": _num(metrics.get("standard_error")),
        "lc_win_rate": _num(metrics.get("lc_win_rate")),
        # "official" or "offline" (one word, so the column stays narrow); why LC is missing or not official
        "lc_variant": _lc_variant(metrics),
        "lc_note": metrics.get("lc_reason"),
        "paper_win_rate": exp.paper_results.get(name) if stands_for_dataset and r.n == exp.train.n else None,
        "avg_output_length": _num(metrics.get("avg_output_length")),
        "discrete_win_rate": _num(metrics.get("discrete_win_rate")),
        # an oracle judge's grading of the outputs themselves (the positive control's known-answer task)
        "oracle_accuracy": _num((metrics.get("judge_stats") or {}).get("oracle_accuracy")),
        "n_eval": metrics.get("n_total"),
        "mauve_vs_reference": None,
        "unique_trigrams_per_1k": None,
        "contamination_hits": None,
        "loss_token_pct": None,
        "unparseable_pct": None,
        "first_slot_pct": None,
        "base_model": exp.base_model,
        # the judge as the experiment names it: the resolved spec holds machine-specific paths
        "judge": exp.eval.judge,
        "protocol": metrics.get("protocol") or exp.eval.protocol,
        "fingerprints": {
            "build": build.fingerprint if build else None,
            "train": train.fingerprint if train else None,
            "eval": fingerprints.eval_fingerprint(exp, r.eval_key, runs_dir),
        },
    }


def _add_diagnostics(
    row: dict[str, Any], exp: Experiment, r: rows_of.Row, runs_dir=None
) -> tuple[list[dict[str, float]], dict[str, Any] | None]:
    """The row's loss-token share and judge diagnostics; returns its training curve and the diagnostics."""
    from harness.report.diagnostics import judge_diagnostics, training_curve

    train_dir = paths.train_dir(exp, r.training.key, runs_dir)
    manifest = read_manifest(train_dir)
    share = manifest.stats.loss_token_share if manifest and manifest.ok else None
    row["loss_token_pct"] = round(100 * share, 2) if share is not None else None
    diag = judge_diagnostics(paths.eval_dir(exp, r.eval_key, runs_dir))
    if diag:
        row["unparseable_pct"] = round(100 * diag["unparseable_share"], 2)
        rate = diag["first_slot_rate"]
        row["first_slot_pct"] = round(100 * rate, 2) if rate is not None else None
    return training_curve(train_dir, manifest), diag


def _lc_variant(metrics: dict[str, Any]) -> str | None:
    """ "official" or "offline" (the notes under the table say what each is); "none" when LC is missing."""
    from harness.evaluation.metrics import LC_LABELS

    variant = {label: key for key, label in LC_LABELS.items()}.get(metrics.get("lc_label") or "")
    if _num(metrics.get("lc_win_rate")) is None or variant is None:
        return "none" if metrics else None
    return variant


def _selected_row(exp: Experiment, r: rows_of.Row, done: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint with the best win rate among its training's rows (final model included), as
    its own row: train.select_checkpoint=best_on_eval, which selects on the test set."""
    names = {c.name for c in rows_of.candidates(exp, r)}
    scored = [d for d in done if d["dataset"] in names and d["win_rate"] is not None]
    best = max(scored, key=lambda d: d["win_rate"]) if scored else None
    step = (
        "none evaluated"
        if best is None
        else ("final" if best["step"] is None else f"step {best['step']}") + f", tags={best['eval_tags']}"
    )
    base = dict(best) if best else {k: None for k in ("win_rate", "standard_error", "lc_win_rate", "n_eval")}
    return {
        **base,
        "dataset": r.name,
        "built_from": r.dataset,
        "assembly": r.training.assembly,
        "eval_tags": best["eval_tags"] if best else None,
        "n_target": r.n,
        "paper_win_rate": exp.paper_results.get(r.dataset) if r.n == exp.train.n else None,
        "step": best["step"] if best else None,
        "selection": f"best_on_eval: {step}",
    }


def _add_analysis(  # noqa: PLR0913
    row: dict[str, Any],
    name: str,
    ref: str | None,
    responses: dict[str, Any],
    instructions: dict[str, Any],
    tags: dict[str, Any],
) -> None:
    """The analysis stage's figures for a row of dataset `name`: diversity, contamination, MAUVE vs the
    reference, and (with a tagger, and readable tags) tags per instruction."""
    tagged = tags.get(name) or {}
    if tagged.get("tags_per_instruction") and not tagged["verdict"]:
        row["tags_per_instruction"] = tagged["tags_per_instruction"][
            "mean"
        ]  # only then: boards keep their keys
    sets = responses.get("sets", {})
    if name in sets:
        row["unique_trigrams_per_1k"] = sets[name].get("unique_trigrams_per_1k_tokens")
    contam = (instructions.get("sets", {}).get(name) or {}).get("contamination")
    if contam:
        row["contamination_hits"] = contam.get("contaminated")
    if ref is not None:
        if name == ref:
            row["mauve_vs_reference"] = 1.0
        for pair in responses.get("pairs", []):
            if {pair["a"], pair["b"]} == {name, ref} and pair.get("mauve"):
                row["mauve_vs_reference"] = pair["mauve"]["mean"]


def markdown(board: dict[str, Any]) -> str:
    cols = shown_columns(board["rows"])
    out = [
        f"# Leaderboard: {board['experiment']}",
        "",
        f"{board['description']}".strip(),
        "",
        f"Base model `{board['base_model']}` (backend `{board.get('backend', '-')}`), judge `{board['judge']}`, "
        f"protocol `{board['protocol']}`; "
        f"win rates in % against the reference outputs, ± one standard error. "
        f"Experiment fingerprint `{board['experiment_fingerprint']}`, harness commit `{board['git_commit']}`.",
        f"Train-time tags: {board.get('train_tags', '-')}. Eval-time tags (system turn before each "
        f"instruction): {board.get('eval_tags', '-')}. Checkpoints: {board.get('checkpoints', '-')}.",
        "Generated by `harness report`; do not edit by hand.",
        "",
        *[f"**Warning:** {w}" for w in board.get("warnings", [])],
        *([""] if board.get("warnings") else []),
        "| " + " | ".join(h for _, h, _ in cols) + " |",
        "|" + "|".join("---:" if f else "---" for _, _, f in cols) + "|",
    ]
    for r in board["rows"]:
        out.append("| " + " | ".join(cell(r, k, f) for k, _, f in cols) + " |")
    notes = lc_notes(board["rows"])
    if notes:
        out += ["", "Length-controlled win rate (LC):", ""] + [f"- {n}" for n in notes]
    if board.get("deviations"):
        out += ["", 'Deviations from the papers (README, "Paper vs harness": reasons and overrides):', ""] + [
            f"- {d}" for d in board["deviations"]
        ]
    if board["missing_eval"]:
        out += ["", f"Not evaluated yet: {', '.join(board['missing_eval'])}."]
    resp = board["analysis"].get("responses")
    if resp and resp["pairs"]:
        feats = (resp["pairs"][0].get("features") or {}).get("mauve") or resp.get("embedder") or {}
        out += [
            "",
            f"## MAUVE between the datasets' responses ({feats.get('name', '?')} features)",
            "",
            "Value [95% interval]; then the noise floor (two random halves of one set) and the verdict.",
            "",
            "| A | B | MAUVE | classifier acc | CV | n per set |",
            "|---|---|---:|---:|---|---:|",
        ]
        for p in resp["pairs"]:
            out.append(
                f"| {p['a']} | {p['b']} | {_pair_cell(p.get('mauve'))} | "
                f"{_pair_cell(p.get('classifier_accuracy'))} | {(p.get('cv') or {}).get('kind', '-')} | "
                f"{p.get('n_per_set', '-')} |"
            )
        if resp["warnings"]:
            from harness.evaluation.analysis.render import distinct_warnings

            out += ["", "Warnings from the analysis:", ""] + [
                f"- {w}" for w in distinct_warnings(resp["warnings"])
            ]
    return "\n".join(out) + "\n"


def _pair_cell(m: dict[str, Any] | None) -> str:
    from harness.evaluation.analysis.render import measure_cell

    return measure_cell(m, sep="; ")


CSV_KEYS = [k for k, _, _ in COLUMNS] + ["discrete_win_rate"]


def csv_text(board: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(
        buf,
        fieldnames=CSV_KEYS + ["experiment_fingerprint", "git_commit"],
        extrasaction="ignore",
        lineterminator="\n",
    )
    w.writeheader()
    for r in board["rows"]:
        w.writerow(
            {
                **{k: ("" if r.get(k) is None else r.get(k)) for k in CSV_KEYS},
                "experiment_fingerprint": board["experiment_fingerprint"],
                "git_commit": board["git_commit"],
            }
        )
    return buf.getvalue()


def write(board: dict[str, Any], out_dir: str | Path, *, exp: Experiment, runs_dir=None) -> list[Path]:
    """Write leaderboard.{md,csv,json} and index.html into out_dir."""
    from harness.report.html import html_page

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("leaderboard.md", markdown(board)), ("leaderboard.csv", csv_text(board))):
        write_text(out_dir / name, text)
        written.append(out_dir / name)
    write_json(out_dir / "leaderboard.json", board)
    written.append(out_dir / "leaderboard.json")
    write_text(out_dir / "index.html", html_page(board, analysis_dir=paths.analysis_dir(exp, runs_dir)))
    written.append(out_dir / "index.html")
    return written


def rich_table(board: dict[str, Any]):
    from rich.markup import escape

    """The leaderboard as a rich table, for `print_table` to fit to the terminal: the columns
    `shown_columns` keeps, the most important first (`columns.PRIORITY`), win rate and its SE in one cell."""
    from rich import box
    from rich.table import Table

    t = Table(title=f"leaderboard: {board['experiment']}", box=box.SIMPLE_HEAD, show_edge=False)
    cols = [c for c in shown_columns(board["rows"]) if c[0] not in WITH_ERROR.values()]
    rank = {k: i for i, k in enumerate(PRIORITY)}
    cols.sort(key=lambda c: (rank.get(c[0], len(rank)), COLUMNS.index(c)))
    errors = {k for k, e in WITH_ERROR.items() if any(r.get(e) is not None for r in board["rows"])}
    for key, header, fmt in cols:
        t.add_column(
            f"{header} ± SE" if key in errors else header, justify="right" if fmt or key == "rank" else "left"
        )
    for r in board["rows"]:
        t.add_row(
            *(escape(_terminal_cell(r, k, f, k in errors)) for k, _, f in cols)
        )  # row names hold [tags=...]
    return t


def _terminal_cell(row: dict[str, Any], key: str, fmt: str | None, with_error: bool) -> str:
    text = cell(row, key, fmt)
    err_key = WITH_ERROR.get(key, "")
    err = row.get(err_key) if with_error else None
    err_fmt = next((f for k, _, f in COLUMNS if k == err_key), None) or "{}"
    return f"{text} ± {err_fmt.format(err)}" if isinstance(err, (int, float)) and text != "-" else text


def print_leaderboard(console: Any, board: dict[str, Any]) -> None:
    """The leaderboard fitted to the console's width (columns left out are named below it)."""
    from harness.report.terminal import print_table

    print_table(console, rich_table(board), note=f"judge {board['judge']}, protocol {board['protocol']}")
    for d in board.get("deviations", []):
        console.print(f"deviation from the papers: {d}", markup=False, highlight=False)
