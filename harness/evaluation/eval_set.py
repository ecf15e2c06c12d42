"""The AlpacaEval eval set: instructions with reference outputs, the two protocols, and subsets.

A protocol fixes the reference outputs and the judge: `alpaca_eval_1` is text_davinci_003's
outputs judged by `alpaca_eval_gpt4` (the papers' setting), `alpaca_eval_2` is gpt4_1106_preview's
outputs judged by `weighted_alpaca_eval_gpt4_turbo` (the public leaderboard's). The set comes from
the hub (`hub`, or `hub:tatsu-lab/alpaca_eval@<commit>`: the repository's plain JSON file of the
protocol's references, `alpaca_eval.json` or `alpaca_eval_gpt4_baseline.json`, read through
`harness.core.sources` - the Hub, the `HARNESS_HUB_MIRROR` copy, or a local directory laid out like
the repository; its loading script is never run), from `bundled:demo`, from `control:<task>`
(a known-answer task's eval set, references by a fixed weaker model), or from a local JSON
or JSONL file in alpaca_eval's format (`instruction`, `output`, `generator`, `dataset`).

`select_instances` takes the subset alpaca_eval's `max_instances` takes: the set shuffled with
pandas' `sample(frac=1, random_state=123)`, then the first N.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "data"
HUB_SOURCE = "hub:tatsu-lab/alpaca_eval"
HUB_REVISION: str | None = (
    None  # not pinned: no commit of this repository could be checked from here (README)
)
# alpaca_eval.main.evaluate shuffles with this seed before it keeps the first max_instances rows
MAX_INSTANCES_SEED = 123
ALPACA_EVAL_SIZE = 805  # instructions in the hub set (both protocols' files)


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    reference: str  # generator name of the reference outputs
    hub_file: str  # the file of the hub repository holding those references
    annotator: str  # alpaca_eval's annotator config


PROTOCOLS = {
    "alpaca_eval_1": Protocol("alpaca_eval_1", "text_davinci_003", "alpaca_eval.json", "alpaca_eval_gpt4"),
    "alpaca_eval_2": Protocol(
        "alpaca_eval_2",
        "gpt4_1106_preview",
        "alpaca_eval_gpt4_baseline.json",
        "weighted_alpaca_eval_gpt4_turbo",
    ),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ConfigError(
            f"unknown eval protocol {name!r}",
            fix=did_you_mean(name, PROTOCOLS, otherwise=f"use one of {', '.join(PROTOCOLS)}"),
        )
    return PROTOCOLS[name]


def _read_rows(path: Path) -> list[tuple[int | None, Any]]:
    """(line or None, row) for a JSON list or a JSONL file."""
    from harness.core.io import iter_jsonl, read_json

    if path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz"):
        return list(iter_jsonl(path))
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(
            f"expected a JSON list of objects, got {type(data).__name__}",
            path=path,
            fix='use alpaca_eval\'s format: [{"instruction": ..., "output": ...}, ...]',
        )
    lines = _list_item_lines(path, len(data))
    return [(None if lines is None else lines[i], row) for i, row in enumerate(data)]


def _list_item_lines(path: Path, n: int) -> list[int] | None:
    """The line each item of the JSON list in `path` starts on (errors can then name a line, as they do
    for JSON Lines), or None when the text cannot be walked item by item."""
    import json

    try:
        text = path.read_text(encoding="utf-8")
        decoder, ws = json.JSONDecoder(), " \t\r\n"
        pos, line, out = text.index("[") + 1, 1 + text.count("\n", 0, text.index("[")), []
        for _ in range(n):
            while text[pos] in ws + ",":
                line += text[pos] == "\n"
                pos += 1
            out.append(line)
            _, end = decoder.raw_decode(text, pos)
            line += text.count("\n", pos, end)
            pos = end
        return out
    except (ValueError, IndexError, OSError):
        return None


def validate_rows(
    rows: Sequence[tuple[int | None, Any]], path: object, *, need_output: bool = True
) -> list[dict[str, Any]]:
    """Check alpaca_eval's fields; an instruction may appear once (outputs are matched on it)."""
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, (line, row) in enumerate(rows):
        where = f"[{i}]"  # the line, when known, opens the message (path:line)
        if not isinstance(row, Mapping):
            raise InputError(f"row {where} is a {type(row).__name__}, not an object", path=path, line=line)
        fields = ("instruction", "output") if need_output else ("instruction",)
        for f in fields:
            if not isinstance(row.get(f), str):
                raise InputError(
                    f"row {where} has no string '{f}'",
                    path=path,
                    line=line,
                    fix="every row needs 'instruction' and 'output' strings (alpaca_eval's format)",
                )
        if not row["instruction"].strip():
            raise InputError(f"row {where} has an empty instruction", path=path, line=line)
        if row["instruction"] in seen:
            raise InputError(
                f"row {where} repeats the instruction of row {seen[row['instruction']]}",
                path=path,
                line=line,
                fix="instructions must be unique (outputs are matched to them): delete or "
                "reword one of the two",
            )
        seen[row["instruction"]] = where if line is None else f"{where} (line {line})"
        out.append(dict(row))
    if not out:
        raise InputError("the eval set is empty", path=path)
    return out


def is_hub_source(source: str) -> bool:
    """`hub`, `hub:<repo>[@rev]`, or a local directory laid out like the hub repository."""
    return source == "hub" or source.startswith("hub:") or Path(source).expanduser().is_dir()


def _hub_ref(source: str) -> tuple[str, str | None]:
    """The repository and revision a hub eval set names (`hub`: AlpacaEval at the pinned commit)."""
    return (HUB_SOURCE, HUB_REVISION) if source == "hub" else (source, None)


def hub_on_disk(source: str, protocol: str) -> str | None:
    """The directory holding the hub eval set `source` when it is readable without the network (the
    mirror's copy, huggingface_hub's cache), which the experiment's validation then reads as a local
    copy; None when only a download would find it."""
    from harness.core import sources

    ref, revision = _hub_ref(source)
    where = sources.on_disk(
        ref, key="eval.eval_set", revision=revision, need=[get_protocol(protocol).hub_file]
    )
    return None if where is None else str(where.directory)


def _from_hub(source: str, protocol: Protocol) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from harness.core import sources

    ref, revision = _hub_ref(source)
    where = sources.repo_dir(ref, key="eval.eval_set", revision=revision, allow_patterns=[protocol.hub_file])
    path = where.directory / protocol.hub_file
    if not path.is_file():
        raise ConfigError(
            f"eval.eval_set: {where.directory} has no {protocol.hub_file} (the {protocol.name} references)",
            fix="download the repository's JSON files, or pass the file itself",
        )
    return validate_rows(_read_rows(path), path), where.describe()


def load_eval_set(source: str, protocol: str = "alpaca_eval_1") -> list[dict[str, Any]]:
    """The eval set's rows (instruction, output = reference, generator, dataset), in file order."""
    proto = get_protocol(protocol)
    if is_hub_source(source):
        rows, _ = _from_hub(source, proto)
        for row in rows:
            row.setdefault("generator", proto.reference)
            row.setdefault("dataset", "")
        return rows
    if source.startswith("control:"):
        from harness.core import tasks

        return tasks.eval_rows(tasks.task_of_source(source, key="eval.eval_set"))
    if source.startswith("bundled:"):
        name = source.split(":", 1)[1]
        path = BUNDLED_DIR / f"{name}_eval.json"
        if not path.is_file():
            names = sorted(p.name.removesuffix("_eval.json") for p in BUNDLED_DIR.glob("*_eval.json"))
            raise ConfigError(
                f"no bundled eval set {source!r}", fix=f"bundled sets: {', '.join(names) or 'none'}"
            )
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"eval set not found: {source}",
                fix="use hub, hub:tatsu-lab/alpaca_eval@<commit>, bundled:demo, a JSON/JSONL path or "
                "a local copy of the hub repository",
            )
    rows = validate_rows(_read_rows(path), path)
    for row in rows:
        row.setdefault("generator", path.stem)
        row.setdefault("dataset", "")
    return rows


def select_instances(rows: Sequence[Mapping[str, Any]], max_instances: int | None) -> list[dict[str, Any]]:
    """alpaca_eval's `max_instances` subset: shuffle with pandas' seed 123, keep the first N."""
    rows = [dict(r) for r in rows]
    if max_instances is None:
        return rows
    if max_instances < 1:
        raise ConfigError(f"max_instances must be at least 1, got {max_instances}")
    import pandas as pd

    # the exact call alpaca_eval makes on its reference DataFrame, so the same rows are chosen
    order = pd.DataFrame(index=range(len(rows))).sample(frac=1, random_state=MAX_INSTANCES_SEED).index
    return [rows[i] for i in order[:max_instances]]


def check_outputs_match(
    outputs: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]],
    path: object = None,
    *,
    full_set: Sequence[Mapping[str, Any]] | None = None,
    show: int = 5,
) -> None:
    """Model outputs must answer every instruction of `eval_rows` (in any order) and nothing outside
    the eval set; outputs for the whole set (`full_set`) are fine for a max_instances subset."""
    expected = {r["instruction"] for r in eval_rows}
    allowed = expected | {r["instruction"] for r in full_set or ()}
    got = [r.get("instruction") for r in outputs]
    extra = [g for g in got if g not in allowed]
    missing = sorted(expected - set(got))
    if not extra and not missing and len(got) == len(set(got)):
        return

    def short(s: object) -> str:
        s = str(s)
        return repr(s if len(s) <= 70 else s[:67] + "...")

    parts = []
    if extra:
        parts.append(
            f"{len(extra)} output instruction(s) not in the eval set, first: "
            + "; ".join(short(s) for s in extra[:show])
        )
    if missing:
        parts.append(
            f"{len(missing)} eval instruction(s) without an output, first: "
            + "; ".join(short(s) for s in missing[:show])
        )
    if not parts:
        parts.append(f"{len(got) - len(set(got))} repeated instruction(s)")
    raise InputError(
        "model outputs do not match the eval set: " + " | ".join(parts),
        path=path,
        fix="generate the outputs on the same eval set (same source, protocol and max_instances)",
    )
