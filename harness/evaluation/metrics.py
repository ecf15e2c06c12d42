"""AlpacaEval metrics on annotation files: win rate ± SE, discrete and length-controlled win rate,
paired comparisons between two models.

An annotation file is alpaca_eval's output: a JSON list of objects with `instruction`, `output_1`
(reference), `output_2` (model), `generator_1/2` and `preference` (1 = reference wins, 2 = model
wins, 1.5 = draw, a float in between for weighted judges). The win rate follows
`alpaca_eval.metrics.get_winrate` exactly, including its legacy rules: 0 is read as a draw, and
null, NaN or anything outside [1, 2] is not counted. The length-controlled win rate runs
alpaca_eval's own GLM (`alpaca_eval.metrics.glm_winrate`): the leaderboard's (official) on a local
copy of its hub file df_gamed.csv, or, without it, alpaca_eval's GLM without instruction difficulty
fit on the annotations alone (offline), each labelled as such.
alpaca_eval, scipy and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import InputError
from harness.core.io import read_json

log = logging.getLogger(__name__)

# df_gamed.csv is the one hub file alpaca_eval's GLM reads when it is not asked to re-baseline.
GAMED_COLUMNS = (
    "model",
    "index",
    "preference",
    "std_delta_len",
    "instruction_difficulty",
    "not_gamed_baseline",
)
LC_HINT = (
    "download df_gamed.csv from the tatsu-lab/alpaca_eval dataset on the Hugging Face hub and give its "
    "path (or its directory) as eval.lc_data, or --lc-data"
)


def _alpaca_eval(module: str) -> Any:
    """Import an alpaca_eval module without letting it change the logging level.

    Importing alpaca_eval sets the root logger to INFO, which would flood the CLI with INFO lines.
    """
    root = logging.getLogger()
    level = root.level
    try:
        return importlib.import_module(f"alpaca_eval.{module}")
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------- loading
def load_annotations(
    path: str | os.PathLike[str], fields: Sequence[str] = ("preference",)
) -> list[dict[str, Any]]:
    """Read an alpaca_eval annotations file; every row must be an object with `fields`.

    `preference` must be a number or null (null rows are kept and later not counted).
    """
    rows = read_json(path)
    if not isinstance(rows, list):
        raise InputError(
            f"expected a JSON list of annotation objects, got {type(rows).__name__}",
            path=path,
            fix="pass an alpaca_eval annotations.json",
        )
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"annotation [{i}] is a {type(row).__name__}, not an object", path=path)
        missing = [f for f in fields if f not in row]
        if missing:
            raise InputError(f"annotation [{i}] has no {', '.join(map(repr, missing))}", path=path)
        pref = row.get("preference")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise InputError(
                f"annotation [{i}] has preference {pref!r}; expected a number or null", path=path
            )
    return rows


def _floats(preferences: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if p is None else float(p) for p in preferences], dtype=float)


def normalize_preference(preference: Any) -> float | None:
    """A preference as alpaca_eval counts it: 0 (its legacy draw) is 1.5; null, NaN, non-numbers and
    anything outside [1, 2] do not count (None)."""
    if preference is None or isinstance(preference, bool) or not isinstance(preference, (int, float)):
        return None
    p = 1.5 if preference == 0 else float(preference)
    return p if 1 <= p <= 2 else None  # NaN fails both comparisons


def uncounted_preferences(preferences: Sequence[Any]) -> dict[str, int]:
    """Why rows do not count, by reason: null, NaN, or outside [1, 2] (0 is a draw and counts)."""
    out: dict[str, int] = {}
    for p in preferences:
        if normalize_preference(p) is not None:
            continue
        reason = (
            "null" if p is None else "NaN" if isinstance(p, float) and math.isnan(p) else "outside [1, 2]"
        )
        out[reason] = out.get(reason, 0) + 1
    return out


def _scores(raw: np.ndarray) -> np.ndarray:
    """Per-row model score in [0, 1] (0.5 = draw); NaN where alpaca_eval does not count the row."""
    counted = [normalize_preference(p) for p in raw.tolist()]
    return np.array([np.nan if p is None else p - 1 for p in counted], dtype=float)


# ---------------------------------------------------------------- win rate
@dataclasses.dataclass(frozen=True)
class WinRate:
    """alpaca_eval's head-to-head summary; rates and SE in percent."""

    win_rate: float
    standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    discrete_win_rate: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mean_sem(x: np.ndarray) -> tuple[float, float]:
    if x.size == 0:
        return math.nan, math.nan
    sem = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()) * 100, sem * 100


def compute_win_rate(preferences: Sequence[float | None]) -> WinRate:
    """Win rate as `alpaca_eval.metrics.get_winrate` computes it (the leaderboard's numbers)."""
    raw = _floats(preferences)
    scores = _scores(raw)
    counted = scores[~np.isnan(scores)]
    win_rate, se = _mean_sem(counted)
    # Discrete: an exact 1.5 stays a draw, everything else is rounded to the nearer side first.
    discrete = _scores(np.where(raw == 1.5, 0.0, np.round(raw)))
    discrete_rate, _ = _mean_sem(discrete[~np.isnan(discrete)])
    return WinRate(
        win_rate=win_rate,
        standard_error=se,
        n_wins=int((counted > 0.5).sum()),
        n_wins_base=int((counted < 0.5).sum()),
        # alpaca_eval counts draws before it drops the rows that are not preferences
        n_draws=int(((raw == 1.5) | (raw == 0)).sum()),
        n_total=int(counted.size),
        discrete_win_rate=discrete_rate,
    )


# ---------------------------------------------------------------- length-controlled win rate
# alpaca_eval's GLMs (`alpaca_eval.metrics.glm_winrate.GLM_INFO`): the leaderboard's, which needs the
# hub's df_gamed.csv (instruction difficulty and the baseline's length-gamed variants), and the one
# without instruction difficulty or regularisation, which needs nothing but the annotations.
LC_GLMS = {"official": "length_controlled_v1", "offline": "length_controlled_minimal"}
LC_LABELS = {"official": "LC (official)", "offline": "LC (offline GLM, own annotations)"}
LC_MODES = ("auto", "off")
# df_gamed.csv holds gamed variants of this baseline's outputs: the official GLM fits only against it
LC_BASELINE = "gpt4_1106_preview"
LC_FIELDS = ("output_1", "output_2", "generator_1", "generator_2")
LC_MIN_ROWS = 5  # the GLM's 5-fold cross-validation


@dataclasses.dataclass(frozen=True)
class LengthControlled:
    """alpaca_eval's length-controlled win rate (percent) and which GLM gave it, or None and why not.
    `reason` also says why the official variant was not used when the offline one was."""

    length_controlled_winrate: float | None
    lc_standard_error: float | None
    reason: str | None = None
    variant: str | None = None  # "official" | "offline"

    def to_metrics(self) -> dict[str, Any]:
        """metrics.json's LC fields."""
        return {
            "lc_win_rate": self.length_controlled_winrate,
            "lc_standard_error": self.lc_standard_error,
            "lc_variant": self.variant,
            "lc_label": LC_LABELS.get(self.variant or ""),
            "lc_reason": self.reason,
        }


def gamed_file(lc_data: str | os.PathLike[str]) -> Path:
    """`lc_data` is alpaca_eval's df_gamed.csv or a directory holding it."""
    p = Path(lc_data)
    return p / "df_gamed.csv" if p.is_dir() else p


def check_lc_data(lc_data: str | os.PathLike[str], *, key: str = "--lc-data") -> Path:
    """The df_gamed.csv that `lc_data` names, checked (exists, has alpaca_eval's columns) before any work."""
    path = gamed_file(lc_data)
    if not path.is_file():
        raise InputError(f"{key}: {path} not found", path=None, fix=LC_HINT)
    with open(path, encoding="utf-8", errors="replace") as f:
        header = [c.strip().strip('"') for c in f.readline().split(",")]
    lacking = [c for c in GAMED_COLUMNS if c not in header]
    if lacking:
        raise InputError(
            f"{key}: lacks the column(s) {', '.join(lacking)}",
            path=path,
            fix="use alpaca_eval's df_gamed.csv from the hub",
        )
    return path


def _lc_unusable(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Why alpaca_eval's GLM cannot run on these annotations (None when it can)."""
    lacking = [f for f in LC_FIELDS if any(f not in row for row in rows)]
    if lacking:
        return f"the annotations lack {', '.join(lacking)}"
    for f in ("generator_1", "generator_2"):
        if len({row[f] for row in rows}) != 1:
            return f"the annotations mix several {f} values; the GLM fits one model against one baseline"
    scores = _scores(_floats([row.get("preference") for row in rows]))
    if int((~np.isnan(scores)).sum()) < LC_MIN_ROWS:
        return f"fewer than {LC_MIN_ROWS} counted judgments (the GLM's {LC_MIN_ROWS}-fold cross-validation)"
    deltas = np.array([len(str(r["output_1"])) - len(str(r["output_2"])) for r in rows], dtype=float)
    if not deltas.std() > 0:
        return "every output-length difference is the same; the GLM has no length to control for"
    return None


def _official_unusable(
    rows: Sequence[Mapping[str, Any]], gamed_path: Path, positions: Sequence[int]
) -> str | None:
    """Why the official GLM does not apply (None when it does): its data is for one baseline and
    looks instruction difficulty up by the instruction's position in the AlpacaEval set."""
    import pandas as pd

    baseline = rows[0]["generator_1"]
    if baseline != LC_BASELINE:
        return f"its data is for the {LC_BASELINE} baseline (AlpacaEval 2.0), these annotations are against {baseline}"
    try:
        gamed = pd.read_csv(gamed_path)
    except (ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise InputError(f"unreadable CSV: {e}", path=gamed_path) from None
    covered = set(gamed.drop_duplicates("index").index.tolist())  # the labels alpaca_eval's lookup uses
    outside = [p for p in positions if p not in covered]
    if outside:
        return (
            f"{gamed_path.name} covers {len(covered)} instructions but {len(outside)} annotation(s) sit at "
            f"positions outside them (LC needs the AlpacaEval set, in its order)"
        )
    return None


def length_controlled_win_rate(
    rows: Sequence[Mapping[str, Any]],
    lc_data: str | os.PathLike[str] | None = None,
    *,
    mode: str = "auto",
    positions: Sequence[int] | None = None,
) -> LengthControlled:
    """The one LC computation (`harness eval`, `harness run`, `harness score`): alpaca_eval's
    `get_length_controlled_winrate`, run offline.

    With `lc_data` (df_gamed.csv or its directory) and annotations against gpt4_1106_preview, the
    official GLM (`length_controlled_v1`, the leaderboard's); otherwise alpaca_eval's GLM without
    instruction difficulty or regularisation (`length_controlled_minimal`) fit on these annotations
    alone. `positions` are the rows' positions in the AlpacaEval set (default: row order, as
    alpaca_eval assumes). `mode` "off" computes nothing.
    """
    if mode not in LC_MODES:
        raise ValueError(f"LC mode {mode!r} is not one of {LC_MODES}")
    if mode == "off":
        return LengthControlled(None, None, "length-controlled win rate not computed: eval.lc is off")
    why = _lc_unusable(rows)
    if why:
        return LengthControlled(None, None, f"length-controlled win rate not computed: {why}")
    positions = list(range(len(rows))) if positions is None else [int(p) for p in positions]
    note = None
    if lc_data is not None:
        gamed_path = check_lc_data(lc_data)
        not_official = _official_unusable(rows, gamed_path, positions)
        if not_official is None:
            return _run_glm(rows, positions, "official", gamed_path.parent, gamed_path)
        note = f"official LC not computed: {not_official}; the offline GLM's figure instead"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="harness-lc-") as tmp:
        stub = _no_difficulty_file(Path(tmp), positions)
        out = _run_glm(rows, positions, "offline", Path(tmp), stub)
    return dataclasses.replace(out, reason="; ".join(x for x in (note, out.reason) if x) or None)


def _no_difficulty_file(directory: Path, positions: Sequence[int]) -> Path:
    """A df_gamed.csv for the GLM without instruction difficulty: alpaca_eval reads the file before
    it looks at the formula; no column of it enters that GLM (no difficulty term, no gamed rows)."""
    import pandas as pd

    n = max(positions) + 1
    path = directory / "df_gamed.csv"
    pd.DataFrame(
        {
            "model": "none",
            "index": range(n),
            "preference": 0.5,
            "std_delta_len": 0.0,
            "instruction_difficulty": 0.0,
            "not_gamed_baseline": False,
        }
    ).to_csv(path, index=False)
    return path


def _run_glm(
    rows: Sequence[Mapping[str, Any]],
    positions: Sequence[int],
    variant: str,
    data_dir: Path,
    gamed_path: Path,
) -> LengthControlled:
    """alpaca_eval's `get_length_controlled_winrate` with its hub download served from `data_dir`
    (nothing is written into site-packages); the rows' DataFrame index is their position."""
    from unittest import mock

    import pandas as pd

    glm_winrate = _alpaca_eval("metrics.glm_winrate")
    glm_name = LC_GLMS[variant]

    def local_file(repo_id: str, filename: str, **_: Any) -> str:
        path = gamed_path if filename == gamed_path.name else data_dir / filename
        if not path.is_file():
            raise InputError(
                f"alpaca_eval's GLM needs {filename}, which is not there", path=data_dir, fix=LC_HINT
            )
        return str(path)

    log.info("length-controlled win rate: alpaca_eval GLM %s (%s)", glm_name, variant)
    df = pd.DataFrame.from_records(list(rows), index=list(positions))
    # pandas cannot hold None in a float column; alpaca_eval expects NaN there
    df["preference"] = _floats(df["preference"].tolist())
    with mock.patch.object(glm_winrate, "hf_hub_download", local_file), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn deprecations inside alpaca_eval's GLM
        try:
            out = glm_winrate.get_length_controlled_winrate(
                df,
                glm_name=glm_name,
                save_weights_dir=None,
                is_add_glm_preference_inplace=False,
                is_warn_extreme_changes=False,
            )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            return LengthControlled(
                None,
                None,
                f"length-controlled win rate not computed: alpaca_eval's GLM "
                f"{glm_name} failed ({type(e).__name__}: {str(e)[:200]})",
            )
    lc = float(out["length_controlled_winrate"])
    # without instruction difficulty every row gets the same prediction: alpaca_eval's SE over the
    # rows is 0 by construction and says nothing, so none is reported
    se = float(out["lc_standard_error"]) if variant == "official" else None
    note = None
    if glm_winrate.get_is_extreme_changes(float(out["win_rate"]), lc):
        note = (
            f"LC {lc:.1f}% is far from the raw win rate {float(out['win_rate']):.1f}% "
            "(alpaca_eval's warning: possibly a failure of the GLM)"
        )
    return LengthControlled(lc, se, note, variant)


# ---------------------------------------------------------------- alpaca_eval's position randomisation
def alpaca_eval_switched(instruction: str, seed: int = 0) -> bool:
    """Whether alpaca_eval's pairwise annotator (default seed 0) showed the judge output_2 first.

    alpaca_eval seeds the choice on the switch column's name, the instruction and the seed.
    """
    random_seeded_choice = _alpaca_eval("utils").random_seeded_choice
    return bool(
        random_seeded_choice(seed="is_switched_outputs" + instruction + str(seed), choices=[False, True])
    )
