"""An analysis report as rich tables (the CLI's and the run's rendering), and its warnings once each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def measure_parts(m: dict[str, Any]) -> tuple[str, str | None]:
    """A measure as every report shows it: ('0.732 [0.712, 0.751]', 'floor 0.498: separated'), the value
    with its 95% interval, then its noise floor and verdict (None without a verdict)."""
    text = f"{m['mean']:.3f}" + (f" [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]" if m.get("ci") else "")
    verdict, floor = m.get("verdict"), m.get("noise_floor")
    if not verdict:
        return text, None
    return text, f"floor {floor['mean']:.3f}: {verdict}" if floor else verdict


def measure_cell(m: dict[str, Any] | None, *, sep: str = "\n") -> str:
    """A measure in one text cell: the value and interval, `sep`, the floor and verdict."""
    if not m:
        return "-"
    text, verdict = measure_parts(m)
    return text if verdict is None else text + sep + verdict


def render(report: dict[str, Any]) -> list[Any]:
    """Rich renderables: a table of sets, a table of pairs, then notes and warnings."""
    from rich.table import Table

    sets = Table(
        title=f"sets ({report['field']}; tokens = {report['tokenizer']}; per 1k: on the first "
        f"{report['diversity_token_budget']} tokens of each; @N: unique trigrams in "
        f"{report.get('diversity_examples', '?')} examples of each, the paper's measure)"
    )
    for col in (
        "set",
        "n",
        "empty",
        "mean len",
        "median len",
        "uniq 3-grams/1k",
        "uniq 3-grams @N",
        "distinct-2",
        "near-dup pairs",
        "contaminated",
        "cut (clf/MAUVE)",
    ):
        sets.add_column(col, justify="left" if col == "set" else "right", overflow="fold")
    for name, s in report["sets"].items():
        c = s.get("contamination")
        t = s.get("truncated") or {}
        sets.add_row(
            name,
            str(s["n"]),
            str(s["dropped_empty"]),
            f"{s['mean_length_tokens']:.1f}",
            f"{s['length_tokens']['median']:.0f}",
            f"{s['unique_trigrams_per_1k_tokens']:.1f}",
            str(s.get("unique_trigrams_at_equal_examples", "-")),
            f"{s['distinct_2']:.3f}",
            str(s["near_duplicates"]["pairs"]),
            f"{c['contaminated']}/{c['eval_prompts']}" if c else "-",
            f"{t.get('classifier', '-')}/{t.get('mauve', '-')}",
        )
    pairs = Table(
        title=f"pairs: value [95% interval], then the noise floor (two random halves of one set) and the "
        f"verdict. MAUVE over {len(report['mauve_seeds'])} seeds on {report['mauve_features']['name']} "
        f"({report['mauve_features'].get('kind', '')}); classifiers on {report['embedder']['name']}, "
        f"{report['folds']}-fold CV"
    )
    for col in ("A", "B", "n", "CV", "MAUVE", "accuracy", "AUC", "paired acc", "shared"):
        pairs.add_column(col, justify="left" if col in ("A", "B", "CV") else "right", overflow="fold")
    for p in report["pairs"]:
        pairs.add_row(
            p["a"],
            p["b"],
            str(p["n_per_set"]),
            (p.get("cv") or {}).get("kind", "-"),
            measure_cell(p["mauve"]),
            measure_cell(p["classifier_accuracy"]),
            measure_cell(p["classifier_auc"]),
            measure_cell(p["paired_accuracy"]),
            str(p["n_shared_instructions"]),
        )
    out: list[Any] = [sets, pairs]
    if report.get("verdict_rule"):
        out.append(f"verdicts: {report['verdict_rule']}")
    out += [f"note: {n}" for n in report["notes"]]
    out += [f"note: {p['a']} vs {p['b']}: {n}" for p in report["pairs"] for n in p["notes"]]
    out += [f"[yellow]warning:[/yellow] {w}" for w in distinct_warnings(report["warnings"])]
    return out


def render_curation(curation: dict[str, Any]) -> list[Any]:
    """One table per dataset: precision and recall of its curation at each threshold."""
    from rich.table import Table

    out: list[Any] = []
    for name, c in curation.items():
        t = Table(
            title=f"curation of {name}: {c['judged']} candidates judged by {c['reference']} "
            f"({c['reference_good']} good, score >= {c['good_at']})"
        )
        for col in ("threshold", "selected", "good selected", "precision", "recall"):
            t.add_column(col, justify="right")
        for row in c["thresholds"]:
            t.add_row(
                f"{row['threshold']:g}",
                str(row["selected"]),
                str(row["good_selected"]),
                "-" if row["precision"] is None else f"{row['precision']:.3f}",
                "-" if row["recall"] is None else f"{row['recall']:.3f}",
            )
        out.append(t)
    return out


def render_tags(report: dict[str, Any]) -> list[Any]:
    """Tags per instruction: one table of sets (mean, interval, noise floor, distinct tags), one of pairs."""
    from rich.table import Table

    sets = Table(title=f"instruction complexity: tags per instruction by {report['tagger']}")
    for col in (
        "set",
        "instructions",
        "unparsed",
        "tags/instruction (95% CI)",
        "half-vs-half gap",
        "distinct tags",
    ):
        sets.add_column(col, justify="left" if col == "set" else "right")
    for s in report["sets"].values():
        m = s["tags_per_instruction"]
        sets.add_row(
            s["set"],
            str(s["instructions"]),
            str(s["unparsed"]),
            "-" if m is None else f"{m['mean']:.2f} ({m['ci'][0]:.2f}-{m['ci'][1]:.2f})",
            "-" if s["noise_floor"] is None else f"{s['noise_floor']['gap']:.2f}",
            str(s["distinct_tags"]),
        )
    pairs = Table(title="pairs: b - a in tags per instruction")
    for col in ("a", "b", "difference (95% CI)", "verdict"):
        pairs.add_column(col)
    for p in report["pairs"]:
        diff = (
            "-"
            if p["difference"] is None
            else f"{p['difference']:+.2f} ({p['ci'][0]:+.2f}, {p['ci'][1]:+.2f})"
        )
        pairs.add_row(p["a"], p["b"], diff, p["verdict"])
    out: list[Any] = [sets, pairs, f"verdicts: {report['verdict_rule']}"]
    out += [
        f"[yellow]warning:[/yellow] {s['set']}: {s['verdict']}"
        for s in report["sets"].values()
        if s["verdict"]
    ]
    return out


def distinct_warnings(warnings: Sequence[str]) -> list[str]:
    """Each distinct warning once: warnings that differ only in the pair they are about ("A vs B: ...")
    and in their numbers are one line, naming the pairs, with the first one's numbers."""
    import re

    groups: dict[str, tuple[str, list[str]]] = {}
    for w in warnings:
        m = re.match(r"^(\S+ vs \S+): (.*)$", w, flags=re.S)
        pair, body = (m.group(1), m.group(2)) if m else ("", w)
        key = re.sub(r"\d+(?:[.,]\d+)*", "#", body)
        _, pairs = groups.setdefault(key, (body, []))
        if pair:
            pairs.append(pair)
    out = []
    for body, pairs in groups.values():
        if len(pairs) > 1:
            named = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
            out.append(f"{body} ({len(pairs)} pairs: {named}; the figures are the first's)")
        else:
            out.append(f"{pairs[0]}: {body}" if pairs else body)
    return out
