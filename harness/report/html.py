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
img { max-width: 560px; } .warn { color: #8a5a00; }
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
        if r.get("win_rate") is None or r.get("n_target") is None or r.get("step") is not None or r.get("selection"):
            continue
        label = r.get("built_from", r["dataset"]) + (f" [tags={r['eval_tags']}]" if "[tags=" in r["dataset"] else "")
        curves.setdefault(label, []).append(r)
    return {k: sorted(v, key=lambda r: r["n_target"]) for k, v in curves.items()
            if len({r["n_target"] for r in v}) > 1}


def _scaling_plot(rows: list[dict[str, Any]]) -> str | None:
    curves = scaling_curves(rows)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        ax.errorbar([p["n_target"] for p in points], [p["win_rate"] for p in points],
                    yerr=[1.96 * (p.get("standard_error") or 0) for p in points], fmt="o-", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("N (dataset records trained on)")
    ax.set_ylabel("win rate %")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    return _png(fig)


def _figure(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _measure(m: dict[str, Any] | None) -> str:
    """Value [95% interval], then the noise floor and the verdict, as one table cell."""
    if not m:
        return "<td>-</td>"
    text = f"{m['mean']:.3f}" + (f" [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]" if m.get("ci") else "")
    floor, verdict = m.get("noise_floor"), m.get("verdict")
    extra = (f"<br><small>floor {floor['mean']:.3f}: {html.escape(verdict)}</small>" if floor and verdict
             else f"<br><small>{html.escape(verdict)}</small>" if verdict else "")
    return f"<td class='num'>{html.escape(text)}{extra}</td>"


def _analysis_table(report: dict[str, Any] | None, what: str, title: str) -> list[str]:
    """Each pair: the measures with their intervals, noise floors and verdicts; CV, features and truncation."""
    if not report or not report.get("pairs"):
        return []
    rows = []
    for p in report["pairs"]:
        cut = p.get("truncated") or {}
        cut_text = "; ".join(f"{k}: {v.get(p['a'], 0)}+{v.get(p['b'], 0)} over {v.get('window')}"
                             for k, v in cut.items()) or "-"
        feats = p.get("features") or {}
        rows.append(f"<tr><td>{html.escape(p['a'])}</td><td>{html.escape(p['b'])}</td>"
                    f"<td class='num'>{p.get('n_per_set', '-')}</td>{_measure(p.get('mauve'))}"
                    f"{_measure(p.get('classifier_accuracy'))}{_measure(p.get('classifier_auc'))}"
                    f"{_measure(p.get('paired_accuracy'))}"
                    f"<td>{html.escape((p.get('cv') or {}).get('kind', '-'))}</td>"
                    f"<td>{html.escape((feats.get('mauve') or {}).get('name', '-'))}</td>"
                    f"<td>{html.escape(cut_text)}</td></tr>")
    kind = ((report["pairs"][0].get("features") or {}).get("mauve") or {}).get("kind", "")
    out = [f"<h2>MAUVE and separability of {html.escape(title)}</h2>",
           f"<p>Value [95% interval]; below it the noise floor (the same measure on two random halves of one set) "
           f"and the verdict. MAUVE features: {html.escape(kind)}.</p>",
           f"<table id='{what}-pairs'><thead><tr><th>A</th><th>B</th><th>n per set</th><th>MAUVE</th>"
           "<th>classifier accuracy</th><th>classifier AUC</th><th>paired accuracy</th><th>CV</th>"
           f"<th>MAUVE features</th><th>texts cut (A+B)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    if report.get("verdict_rule"):
        out.append(f"<p><small>Verdicts: {html.escape(report['verdict_rule'])}</small></p>")
    out += [f"<p class='warn'>{html.escape(w)}</p>" for w in report.get("warnings", [])]
    return out


def html_page(board: dict[str, Any], *, analysis_dir: Path | None = None) -> str:
    rows = board["rows"]
    cols = shown_columns(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = "".join("<tr>" + "".join(f'<td class="{"num" if f else ""}">{html.escape(cell(r, k, f))}</td>'
                                    for k, _, f in cols) + "</tr>" for r in rows)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(board['experiment'])} "
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
             f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>']
    notes = lc_notes(rows)
    if notes:
        parts.append("<p id='lc-notes'>Length-controlled win rate (LC):</p><ul>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if board.get("missing_eval"):
        parts.append(f"<p class='warn'>Not evaluated yet: {html.escape(', '.join(board['missing_eval']))}</p>")
    figs = []
    for b64, cap in ((_win_rate_plot(rows), "Win rate per dataset with 95% intervals"),
                     (_size_plot(rows), "Data size vs win rate"),
                     (_scaling_plot(rows), "Data scaling: win rate against N (95% intervals)")):
        if b64:
            figs.append(_figure(b64, cap))
    if analysis_dir is not None:
        for name, cap in (("responses.png", "Embedding map of the datasets' responses (PCA)"),
                          ("responses.mauve.png", "MAUVE between the datasets' responses"),
                          ("responses.lengths.png", "Response length distributions (tokens)"),
                          ("outputs.png", "Embedding map of the models' AlpacaEval outputs (PCA)")):
            p = Path(analysis_dir) / name
            if p.is_file():
                figs.append(_figure(base64.b64encode(p.read_bytes()).decode("ascii"), cap))
    parts.append('<section id="plots">' + "".join(figs) + "</section>")
    for what, title in (("responses", "the datasets' responses"), ("outputs", "the models' AlpacaEval outputs")):
        parts += _analysis_table(board.get("analysis", {}).get(what), what, title)
    parts.append("<p>Generated by <code>harness report</code>.</p></body></html>")
    return "\n".join(parts)
