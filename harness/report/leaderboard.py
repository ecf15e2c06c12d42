"""The leaderboard: one row per dataset, gathered from the stages' manifests and outputs.

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
from harness.report.columns import COLUMNS, HEADER_ONLY, cell, shown_columns
from harness.stages import paths


def _num(value: Any) -> float | None:
    """A metric as a number, or None when it is missing or NaN (alpaca_eval writes NaN for none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else value


def experiment_fingerprint(exp: Experiment) -> str:
    """One hash over every dataset's eval fingerprint (which chains build and train)."""
    return text_hash(canonical_json({n: paths.eval_fingerprint(exp, n) for n in sorted(exp.datasets)}), length=16)


def missing_evals(exp: Experiment, runs_dir=None) -> list[str]:
    """The datasets without an eval's metrics.json."""
    return [n for n in exp.datasets if not (paths.eval_dir(exp, n, runs_dir) / "metrics.json").is_file()]


def collect(exp: Experiment, runs_dir=None) -> dict[str, Any]:
    """Gather the leaderboard of an experiment from its run directory."""
    from harness.stages import analyze

    analyses = analyze.load(exp, runs_dir)
    responses = analyses.get("responses", {})
    instructions = analyses.get("instructions", {})
    ref = exp.analysis.reference
    rows = []
    for name in exp.datasets:
        row = _row(exp, name, runs_dir)
        _add_analysis(row, ref, responses, instructions)
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
        "judge": exp.eval.judge,
        "protocol": exp.eval.protocol,
        "mauve_reference": ref,
        "rows": rows,
        "missing_eval": missing,
        # each measure carries its noise floor; the per-set controls behind them stay in the analysis files
        "analysis": {k: {"pairs": [{x: y for x, y in p.items() if x != "noise_floors"} for p in v.get("pairs", [])],
                         "embedder": v.get("embedder"), "warnings": v.get("warnings", []),
                         "verdict_rule": v.get("verdict_rule")}
                     for k, v in analyses.items() if k != "curation"},
    }


def _row(exp: Experiment, name: str, runs_dir=None) -> dict[str, Any]:
    """One dataset's row from its build and train manifests and its eval's metrics.json."""
    spec = exp.datasets[name]
    build = read_manifest(paths.build_dir(exp, name, runs_dir))
    train = read_manifest(paths.train_dir(exp, name, runs_dir))
    metrics_path = paths.eval_dir(exp, name, runs_dir) / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    source = spec.builder if spec.builder != "baseline" else f"baseline:{spec.options.get('loader', '?')}"
    return {
        "dataset": name,
        "source": source,
        "records": build.records("dataset.jsonl") if build else None,
        "training_tokens": train.stats.tokens_seen if train else None,
        "win_rate": _num(metrics.get("win_rate")),
        "standard_error": _num(metrics.get("standard_error")),
        "lc_win_rate": _num(metrics.get("lc_win_rate")),
        "paper_win_rate": exp.paper_results.get(name),
        "avg_output_length": _num(metrics.get("avg_output_length")),
        "discrete_win_rate": _num(metrics.get("discrete_win_rate")),
        # an oracle judge's grading of the outputs themselves (the positive control's known-answer task)
        "oracle_accuracy": _num((metrics.get("judge_stats") or {}).get("oracle_accuracy")),
        "n_eval": metrics.get("n_total"),
        "mauve_vs_reference": None,
        "unique_trigrams_per_1k": None,
        "contamination_hits": None,
        "base_model": exp.base_model,
        # the judge as the experiment names it: the resolved spec holds machine-specific paths
        "judge": exp.eval.judge,
        "protocol": metrics.get("protocol") or exp.eval.protocol,
        "fingerprints": {"build": build.fingerprint if build else None, "train": train.fingerprint if train else None,
                         "eval": paths.eval_fingerprint(exp, name)},
    }


def _add_analysis(row: dict[str, Any], ref: str | None, responses: dict[str, Any], instructions: dict[str, Any]
                  ) -> None:
    """The analysis stage's figures for one dataset's row: diversity, contamination, MAUVE vs the reference."""
    name = row["dataset"]
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
    out = [f"# Leaderboard: {board['experiment']}", "",
           f"{board['description']}".strip(), "",
           f"Base model `{board['base_model']}`, judge `{board['judge']}`, protocol `{board['protocol']}`; "
           f"win rates in % against the reference outputs, ± one standard error. "
           f"Experiment fingerprint `{board['experiment_fingerprint']}`, harness commit `{board['git_commit']}`.",
           "Generated by `harness report`; do not edit by hand.", "",
           "| " + " | ".join(h for _, h, _ in cols) + " |",
           "|" + "|".join("---:" if f else "---" for _, _, f in cols) + "|"]
    for r in board["rows"]:
        out.append("| " + " | ".join(cell(r, k, f) for k, _, f in cols) + " |")
    if board["missing_eval"]:
        out += ["", f"Not evaluated yet: {', '.join(board['missing_eval'])}."]
    resp = board["analysis"].get("responses")
    if resp and resp["pairs"]:
        feats = (resp["pairs"][0].get("features") or {}).get("mauve") or resp.get("embedder") or {}
        out += ["", f"## MAUVE between the datasets' responses ({feats.get('name', '?')} features)", "",
                "Value [95% interval]; then the noise floor (two random halves of one set) and the verdict.", "",
                "| A | B | MAUVE | classifier acc | CV | n per set |", "|---|---|---:|---:|---|---:|"]
        for p in resp["pairs"]:
            out.append(f"| {p['a']} | {p['b']} | {_pair_cell(p.get('mauve'))} | "
                       f"{_pair_cell(p.get('classifier_accuracy'))} | {(p.get('cv') or {}).get('kind', '-')} | "
                       f"{p.get('n_per_set', '-')} |")
        if resp["warnings"]:
            out += ["", "Warnings from the analysis:", ""] + [f"- {w}" for w in resp["warnings"]]
    return "\n".join(out) + "\n"


def _pair_cell(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    text = f"{m['mean']:.3f}" + (f" [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]" if m.get("ci") else "")
    floor = m.get("noise_floor")
    if not m.get("verdict"):
        return text
    return text + (f"; floor {floor['mean']:.3f}: {m['verdict']}" if floor else f"; {m['verdict']}")


CSV_KEYS = [k for k, _, _ in COLUMNS] + ["discrete_win_rate"]


def csv_text(board: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_KEYS + ["experiment_fingerprint", "git_commit"], extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for r in board["rows"]:
        w.writerow({**{k: ("" if r.get(k) is None else r.get(k)) for k in CSV_KEYS},
                    "experiment_fingerprint": board["experiment_fingerprint"], "git_commit": board["git_commit"]})
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
    from rich.table import Table

    t = Table(title=f"{board['experiment']}: judge {board['judge']}, protocol {board['protocol']}")
    cols = [c for c in COLUMNS if c[0] not in HEADER_ONLY]
    for key, header, fmt in cols:
        t.add_column(header, justify="right" if fmt or key == "rank" else "left", overflow="fold")
    for r in board["rows"]:
        t.add_row(*(cell(r, k, f) for k, _, f in cols))
    return t
