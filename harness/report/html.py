"""The self-contained HTML report: the leaderboard table and its plots, images inlined as base64.

Plots: win rate per dataset with 95% intervals, data size vs win rate, win rate against N for a
dataset trained at several sizes (`datasets.<name>.sizes`), and the analysis stage's
embedding map, MAUVE heatmap and length distributions. One file, no scripts, no network.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from harness.report.columns import cell, lc_notes, shown_columns

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 1em; vertical-align: top; } figcaption { font-size: 13px; color: #555; }
img { max-width: 560px; } figure.wide img { max-width: 1120px; } .warn { color: #8a5a00; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _win_rate_plot(rows: list[dict[str, Any]]) -> str | None:
    rows = [r for r in rows if r.get("win_rate") is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    names = [r["dataset"] for r in rows][::-1]
    wr = [r["win_rate"] for r in rows][::-1]
    err = [1.96 * (r.get("standard_error") or 0) for r in rows][::-1]
    ax.barh(names, wr, xerr=err, color="#4c72b0", capsize=4)
    for r in rows:
        if r.get("paper_win_rate") is not None:
            ax.plot(r["paper_win_rate"], names.index(r["dataset"]), "k|", markersize=18)
    ax.set_xlabel("win rate % (bars: 95% interval; black tick: paper)")
    ax.set_xlim(0, 100)
    return _png(fig)


def _size_plot(rows: list[dict[str, Any]]) -> str | None:
    rows = [r for r in rows if r.get("win_rate") is not None and r.get("records")]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        x = r.get("training_tokens") or r["records"]
        ax.errorbar(x, r["win_rate"], yerr=1.96 * (r.get("standard_error") or 0), fmt="o", capsize=3)
        ax.annotate(r["dataset"], (x, r["win_rate"]), textcoords="offset points", xytext=(5, 5), fontsize=9)
    ax.set_xlabel("training tokens" if rows[0].get("training_tokens") else "records")
    ax.set_ylabel("win rate %")
    ax.set_ylim(0, 100)
    return _png(fig)


def scaling_curves(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per dataset trained at several N (`sizes`), its final models' rows by N: the points of a
    data scaling curve (one curve per dataset and eval-tag variant)."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if (
            r.get("win_rate") is None
            or r.get("n_target") is None
            or r.get("step") is not None
            or r.get("selection")
        ):
            continue
        label = r.get("built_from", r["dataset"]) + (
            f" [tags={r['eval_tags']}]" if "[tags=" in r["dataset"] else ""
        )
        curves.setdefault(label, []).append(r)
    return {
        k: sorted(v, key=lambda r: r["n_target"])
        for k, v in curves.items()
        if len({r["n_target"] for r in v}) > 1
    }


def _scaling_plot(rows: list[dict[str, Any]]) -> str | None:
    curves = scaling_curves(rows)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        ax.errorbar(
            [p["n_target"] for p in points],
            [p["win_rate"] for p in points],
            yerr=[1.96 * (p.get("standard_error") or 0) for p in points],
            fmt="o-",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("N (dataset records trained on)")
    ax.set_ylabel("win rate %")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    return _png(fig)


WIDE = ("plot-training-curves", "plot-judge-bias")  # two panels side by side: shown at twice the width


def _figure(b64: str, caption: str, fig_id: str = "") -> str:
    ident = f' id="{html.escape(fig_id)}"' if fig_id else ""
    ident += ' class="wide"' if fig_id in WIDE else ""
    return (
        f'<figure{ident}><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves_plot(curves: dict[str, list[dict[str, float]]]) -> str | None:
    """Training loss (and learning rate, when the trainer's log has it) against step, a line per dataset."""
    if not curves:
        return None
    plt = _pyplot()
    with_lr = any("learning_rate" in p for c in curves.values() for p in c)
    fig, axes = plt.subplots(1, 2 if with_lr else 1, figsize=(11 if with_lr else 6, 4), squeeze=False)
    for name, curve in curves.items():
        axes[0][0].plot([p["step"] for p in curve], [p["loss"] for p in curve], marker=".", label=name)
        if with_lr:
            lr = [p for p in curve if "learning_rate" in p]
            axes[0][1].plot([p["step"] for p in lr], [p["learning_rate"] for p in lr], label=name)
    axes[0][0].set(xlabel="step", ylabel="training loss", title="loss")
    axes[0][0].legend(fontsize=8)
    if with_lr:
        axes[0][1].set(xlabel="step", ylabel="learning rate", title="learning rate")
    fig.tight_layout()
    return _png(fig)


def _judge_plot(diags: dict[str, dict[str, Any]]) -> str | None:
    """Per dataset: how often the judge prefers the first slot (50% is unbiased) and the unparseable share."""
    names = [n for n, d in diags.items() if d.get("first_slot_rate") is not None or d.get("n")]
    if not names:
        return None
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.8))
    bars = a.barh(names, [100 * (diags[n].get("first_slot_rate") or 0) for n in names], color="#55a868")
    a.bar_label(bars, fmt="%.0f%%", padding=3, fontsize=8)
    a.axvline(50, color="k", linestyle="--", linewidth=1)
    a.set(
        xlim=(0, 100),
        xlabel="judgments preferring the output shown first, % (dashed: unbiased)",
        title="position bias",
    )
    bars = b.barh(names, [100 * diags[n]["unparseable_share"] for n in names], color="#c44e52")
    b.bar_label(
        bars,
        labels=[f"{100 * diags[n]['unparseable_share']:.0f}% of {diags[n]['n']}" for n in names],
        padding=3,
        fontsize=8,
    )
    b.set(xlim=(0, 100), xlabel="judgments the parser could not read, %", title="unparseable judgments")
    fig.tight_layout()
    return _png(fig)


def _length_plot(rows: list[dict[str, Any]], diags: dict[str, dict[str, Any]]) -> str | None:
    """Output length vs win rate: each model's length-binned win rate, and each row's average."""
    rows = [r for r in rows if r.get("win_rate") is not None and r.get("avg_output_length") is not None]
    if not rows and not any(d.get("length_bins") for d in diags.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, d in diags.items():
        bins = d.get("length_bins") or []
        if bins:
            ax.plot(
                [x["length"] for x in bins], [x["win_rate"] for x in bins], marker="o", alpha=0.6, label=name
            )
    for r in rows:
        ax.scatter(r["avg_output_length"], r["win_rate"], color="k", marker="x", zorder=3)
        ax.annotate(
            r["dataset"],
            (r["avg_output_length"], r["win_rate"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    ax.set(
        xlabel="output length (characters)",
        ylabel="win rate %",
        ylim=(0, 100),
        title="win rate by output length (lines: quantile bins; x: each model's mean)",
    )
    if any(d.get("length_bins") for d in diags.values()):
        ax.legend(fontsize=8)
    return _png(fig)


def _measure(m: dict[str, Any] | None) -> str:
    """Value [95% interval], then the noise floor and the verdict, as one table cell."""
    from harness.evaluation.analysis.render import measure_parts

    if not m:
        return "<td>-</td>"
    text, verdict = measure_parts(m)
    extra = f"<br><small>{html.escape(verdict)}</small>" if verdict else ""
    return f"<td class='num'>{html.escape(text)}{extra}</td>"


def _analysis_table(report: dict[str, Any] | None, what: str, title: str) -> list[str]:
    """Each pair: the measures with their intervals, noise floors and verdicts; CV, features and truncation."""
    if not report or not report.get("pairs"):
        return []
    rows = []
    for p in report["pairs"]:
        cut = p.get("truncated") or {}
        cut_text = (
            "; ".join(
                f"{k}: {v.get(p['a'], 0)}+{v.get(p['b'], 0)} over {v.get('window')}" for k, v in cut.items()
            )
            or "-"
        )
        feats = p.get("features") or {}
        rows.append(
            f"<tr><td>{html.escape(p['a'])}</td><td>{html.escape(p['b'])}</td>"
            f"<td class='num'>{p.get('n_per_set', '-')}</td>{_measure(p.get('mauve'))}"
            f"{_measure(p.get('classifier_accuracy'))}{_measure(p.get('classifier_auc'))}"
            f"{_measure(p.get('paired_accuracy'))}"
            f"<td>{html.escape((p.get('cv') or {}).get('kind', '-'))}</td>"
            f"<td>{html.escape((feats.get('mauve') or {}).get('name', '-'))}</td>"
            f"<td>{html.escape(cut_text)}</td></tr>"
        )
    kind = ((report["pairs"][0].get("features") or {}).get("mauve") or {}).get("kind", "")
    out = [
        f"<h2>MAUVE and separability of {html.escape(title)}</h2>",
        f"<p>Value [95% interval]; below it the noise floor (the same measure on two random halves of one set) "
        f"and the verdict. MAUVE features: {html.escape(kind)}.</p>",
        f"<table id='{what}-pairs'><thead><tr><th>A</th><th>B</th><th>n per set</th><th>MAUVE</th>"
        "<th>classifier accuracy</th><th>classifier AUC</th><th>paired accuracy</th><th>CV</th>"
        f"<th>MAUVE features</th><th>texts cut (A+B)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if report.get("verdict_rule"):
        out.append(f"<p><small>Verdicts: {html.escape(report['verdict_rule'])}</small></p>")
    from harness.evaluation.analysis.render import distinct_warnings

    out += [f"<p class='warn'>{html.escape(w)}</p>" for w in distinct_warnings(report.get("warnings", []))]
    return out


def _plots(board: dict[str, Any], analysis_dir: Path | None) -> list[str]:
    """The plot sections: results, training curves, judge diagnostics, then the analysis stage's plots."""
    rows, diags = board["rows"], board.get("judge_diagnostics") or {}
    sections = [
        (
            "results",
            "Results",
            [
                (_win_rate_plot(rows), "Win rate per dataset with 95% intervals", "plot-win-rate"),
                (_size_plot(rows), "Data size vs win rate", "plot-size"),
                (_scaling_plot(rows), "Data scaling: win rate against N (95% intervals)", "plot-scaling"),
            ],
        ),
        (
            "training",
            "Training curves",
            [
                (
                    _curves_plot(board.get("training_curves") or {}),
                    "Training loss and learning rate against step, from the trainer's log",
                    "plot-training-curves",
                )
            ],
        ),
        (
            "judging",
            "Judge diagnostics",
            [
                (_judge_plot(diags), "Position bias and unparseable judgments", "plot-judge-bias"),
                (_length_plot(rows, diags), "Output length vs win rate", "plot-length-vs-win-rate"),
            ],
        ),
    ]
    analysis = []
    if analysis_dir is not None:
        for name, cap in (
            ("responses.png", "Embedding map of the datasets' responses (PCA)"),
            ("responses.mauve.png", "MAUVE between the datasets' responses"),
            ("responses.lengths.png", "Response length distributions (tokens)"),
            ("outputs.png", "Embedding map of the models' AlpacaEval outputs (PCA)"),
        ):
            p = Path(analysis_dir) / name
            if p.is_file():
                analysis.append(
                    (
                        base64.b64encode(p.read_bytes()).decode("ascii"),
                        cap,
                        "plot-" + name.removesuffix(".png").replace(".", "-"),
                    )
                )
    sections.append(("analysis", "The data", analysis))
    out = []
    for sid, title, figs in sections:
        shown = [_figure(b64, cap, fid) for b64, cap, fid in figs if b64]
        if shown:
            out.append(f'<section id="{sid}"><h2>{html.escape(title)}</h2>' + "".join(shown) + "</section>")
    return out


def html_page(board: dict[str, Any], *, analysis_dir: Path | None = None) -> str:
    rows = board["rows"]
    cols = shown_columns(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"num" if f else ""}">{html.escape(cell(r, k, f))}</td>' for k, _, f in cols)
        + "</tr>"
        for r in rows
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(board['experiment'])} "
        f"leaderboard</title><style>{CSS}</style></head><body>",
        f"<h1>Leaderboard: {html.escape(board['experiment'])}</h1>",
        f"<p>{html.escape(board.get('description') or '')}</p>",
        f"<p>Base model <code>{html.escape(board['base_model'])}</code>, judge "
        f"<code>{html.escape(board['judge'])}</code>, protocol <code>{html.escape(board['protocol'])}</code>. "
        f"Experiment fingerprint <code>{board['experiment_fingerprint']}</code>, harness commit "
        f"<code>{html.escape(str(board['git_commit']))}</code>.</p>",
        f"<p>Train-time tags: {html.escape(str(board.get('train_tags', '-')))}. Eval-time tags (system turn "
        f"before each instruction): {html.escape(str(board.get('eval_tags', '-')))}. Checkpoints: "
        f"{html.escape(str(board.get('checkpoints', '-')))}.</p>",
        *[f"<p class='warn'>Warning: {html.escape(w)}</p>" for w in board.get("warnings", [])],
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
    ]
    notes = lc_notes(rows)
    if notes:
        parts.append(
            "<p id='lc-notes'>Length-controlled win rate (LC):</p><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            + "</ul>"
        )
    if board.get("missing_eval"):
        parts.append(
            f"<p class='warn'>Not evaluated yet: {html.escape(', '.join(board['missing_eval']))}</p>"
        )
    parts += _plots(board, analysis_dir)
    for what, title in (
        ("responses", "the datasets' responses"),
        ("outputs", "the models' AlpacaEval outputs"),
    ):
        parts += _analysis_table(board.get("analysis", {}).get(what), what, title)
    parts.append("<p>Generated by <code>harness report</code>.</p></body></html>")
    return "\n".join(parts)
