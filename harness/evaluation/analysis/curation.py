"""Precision and recall of self-curation against a reference judgment (the Humpback paper's analysis).

A curating builder rates every candidate pair and keeps those at or above a threshold; the kept
records carry their score in `provenance["score"]`, the rejected ones are in `drops.jsonl` with
reason `below_threshold` and their score. Given a reference judgment of some of those candidates
(a stronger judge's or a person's scores on a sample), curation at threshold t selects the
candidates scored >= t, and

    precision(t) = |selected and good| / |selected|,   recall(t) = |selected and good| / |good|

where "good" is a reference score >= `good_at` (or a boolean `good` in the reference rows).
Only candidates that the reference judged count. Li et al. 2023 (arXiv 2308.06259) report
this for their self-curation (section 4.3) to show what a threshold trades away.

Reference rows (JSONL or a JSON list): `id` (the candidate's record id as in drops.jsonl and the
dataset), or `instruction` (and optionally `output`) to match a kept record; and `score` (a
number) or `good` (a boolean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.io import iter_jsonl, iter_records, read_json
from harness.core.records import InstructionRecord, Message

GOOD_AT = 4.5  # Humpback keeps score >= 4.5 ("A5"): call a reference score that high good
DROP_REASON = "below_threshold"


def curation_scores(build_dir: str | Path) -> dict[str, Any]:
    """Every rated candidate of a built dataset: id -> score, plus instruction -> id for kept records.

    With several curation rounds (Humpback's M0 -> M1 -> M2) only the last round's ratings count:
    that round made the dataset.
    """
    build_dir = Path(build_dir)
    path = build_dir / "dataset.jsonl"
    if not path.is_file():
        raise InputError("no dataset.jsonl: not a built dataset", path=build_dir)
    scores: dict[str, float] = {}
    by_instruction: dict[str, str] = {}
    steps = set()
    for _, rec in iter_records(path):
        if isinstance(rec.provenance.get("score"), (int, float)):
            rid = _rated_id(rec)
            scores[rid] = float(rec.provenance["score"])
            by_instruction[_norm(rec.instruction)] = rid
            by_instruction[_norm(rec.instruction) + "\0" + _norm(rec.response)] = rid
            steps.add(rec.provenance.get("curation_step"))
    drops = build_dir / "drops.jsonl"
    if drops.is_file():
        for _, row in iter_jsonl(drops):
            if (
                row.get("reason") == DROP_REASON
                and isinstance(row.get("score"), (int, float))
                and (not steps or row.get("step") in steps)
            ):
                scores[row["id"]] = float(row["score"])
    return {"scores": scores, "by_instruction": by_instruction, "steps": sorted(s for s in steps if s)}


def _rated_id(rec: InstructionRecord) -> str:
    """The id the record had when it was rated: before a rewrite replaced its web-text response."""
    web = rec.provenance.get("web_text")
    if isinstance(web, str) and web != rec.response:
        msgs = tuple(Message(m.role, web) if m.role == "assistant" else m for m in rec.messages)
        return InstructionRecord(msgs, rec.source).id
    return rec.id


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_reference(path: str | Path, *, good_at: float = GOOD_AT) -> list[tuple[str, str, bool]]:
    """(id, instruction key, good) for each reference row; a row without a usable key or verdict names its line."""
    path = Path(path)
    rows = list(enumerate(read_json(path), 1)) if path.suffix == ".json" else list(iter_jsonl(path))
    out = []
    for line, row in rows:
        if not isinstance(row, Mapping):
            raise InputError("a reference judgment must be an object", path=path, line=line)
        if isinstance(row.get("good"), bool):
            good = row["good"]
        elif isinstance(row.get("score"), (int, float)) and not isinstance(row.get("score"), bool):
            good = float(row["score"]) >= good_at
        else:
            raise InputError(
                "a reference judgment needs 'score' (a number) or 'good' (true/false)", path=path, line=line
            )
        ins = _norm(str(row.get("instruction") or ""))
        key = ins + "\0" + _norm(str(row["output"])) if ins and row.get("output") else ins
        if not row.get("id") and not key:
            raise InputError("a reference judgment needs 'id' or 'instruction'", path=path, line=line)
        out.append((str(row.get("id") or ""), key, good))
    return out


def precision_recall(
    scores: Mapping[str, float], reference: Mapping[str, bool], thresholds: Sequence[float] | None = None
) -> list[dict[str, Any]]:
    """Precision and recall of "score >= t" against the reference verdicts, for each threshold t."""
    judged = [(scores[k], good) for k, good in reference.items() if k in scores]
    positives = sum(good for _, good in judged)
    if thresholds is None:
        distinct = sorted({s for s, _ in judged})
        thresholds = distinct if len(distinct) <= 25 else [1 + 0.25 * i for i in range(17)]
    out = []
    for t in thresholds:
        selected = [good for s, good in judged if s >= t]
        hits = sum(selected)
        out.append(
            {
                "threshold": t,
                "selected": len(selected),
                "good_selected": hits,
                "precision": hits / len(selected) if selected else None,
                "recall": hits / positives if positives else None,
            }
        )
    return out


def curation_report(
    build_dir: str | Path,
    reference_path: str | Path,
    *,
    good_at: float = GOOD_AT,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Precision/recall of one built dataset's curation at each threshold, against a reference file."""
    cur = curation_scores(build_dir)
    if not cur["scores"]:
        raise InputError(
            "the dataset carries no curation scores (provenance 'score'); nothing to compare",
            path=build_dir,
            fix="curation_reference applies to curating builders (humpback, back_and_forth)",
        )
    reference: dict[str, bool] = {}
    unmatched = 0
    for rid, key, good in load_reference(reference_path, good_at=good_at):
        rid = rid if rid in cur["scores"] else cur["by_instruction"].get(key, "")
        if rid:
            reference[rid] = good
        else:
            unmatched += 1
    if not reference:
        raise InputError(
            "no reference judgment matches a rated candidate of the dataset (by id or instruction)",
            path=reference_path,
            fix="give the candidates' ids from dataset.jsonl / drops.jsonl",
        )
    table = precision_recall(cur["scores"], reference)
    out: dict[str, Any] = {
        "reference": str(reference_path),
        "good_at": good_at,
        "rated": len(cur["scores"]),
        "judged": len(reference),
        "unmatched_reference_rows": unmatched,
        "reference_good": sum(reference.values()),
        "curation_steps": cur["steps"],
        "thresholds": table,
    }
    if threshold is not None:
        out["at_builder_threshold"] = precision_recall(cur["scores"], reference, [threshold])[0]
    return out
