"""The regression check's comparison: rows appearing or disappearing, metrics moving past tolerance."""

from __future__ import annotations

import pytest

from harness.core.errors import ConfigError
from harness.report.check import DEFAULT_TOLERANCES, compare, parse_noise, parse_tolerances


def _board(*rows):
    return {"rows": [dict(r) for r in rows]}


ROW = {
    "dataset": "humpback",
    "source": "humpback",
    "judge": "local:x:@base",
    "protocol": "alpaca_eval_1",
    "base_model": "tiny:tiny",
    "records": 48,
    "training_tokens": 9000,
    "win_rate": 40.0,
    "standard_error": 5.0,
    "lc_win_rate": None,
    "mauve_vs_reference": 0.5,
}


def test_identical_boards_have_no_changes():
    assert compare(_board(ROW), _board(ROW), DEFAULT_TOLERANCES) == []


def test_within_and_beyond_tolerance():
    tol = parse_tolerances(["win_rate=1.5"])
    assert compare(_board({**ROW, "win_rate": 41.4}), _board(ROW), tol) == []
    changes = compare(_board({**ROW, "win_rate": 41.6}), _board(ROW), tol)
    assert [(c.key, c.kind, c.baseline, c.current) for c in changes] == [("win_rate", "moved", 40.0, 41.6)]


def test_rows_appearing_and_disappearing_and_identity_columns():
    other = {**ROW, "dataset": "sharegpt"}
    changes = compare(_board(ROW, other), _board(ROW), DEFAULT_TOLERANCES)
    assert [(c.dataset, c.kind) for c in changes] == [("sharegpt", "appeared")]
    changes = compare(_board(ROW), _board(ROW, other), DEFAULT_TOLERANCES)
    assert [(c.dataset, c.kind) for c in changes] == [("sharegpt", "disappeared")]
    changes = compare(_board({**ROW, "judge": "local:y:@base"}), _board(ROW), DEFAULT_TOLERANCES)
    assert [(c.key, c.kind) for c in changes] == [("judge", "changed")]


def test_a_metric_that_vanishes_is_a_change():
    changes = compare(_board({**ROW, "win_rate": None}), _board(ROW), DEFAULT_TOLERANCES)
    assert [(c.key, c.kind) for c in changes] == [("win_rate", "changed")]


def test_bad_tolerances_name_the_metric():
    with pytest.raises(ConfigError, match="did you mean 'win_rate'"):
        parse_tolerances(["win_rat=2"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_tolerances(["2"])


def test_measured_noise_widens_one_rows_tolerance_and_is_reported():
    noise = parse_noise({"rows": {"humpback": {"records": 52, "win_rate": 5.2}}}, "noise.json")
    # humpback's records moved 29 -> 81 across threads/kernels: within the measured spread
    assert (
        compare(_board({**ROW, "records": 100, "win_rate": 45.0}), _board(ROW), DEFAULT_TOLERANCES, noise)
        == []
    )
    changes = compare(
        _board({**ROW, "records": 101, "win_rate": 45.3}), _board(ROW), DEFAULT_TOLERANCES, noise
    )
    assert [(c.key, c.kind, c.tolerance, c.noise) for c in changes] == [
        ("records", "moved", 52.0, 52.0),
        ("win_rate", "moved", 5.2, 5.2),
    ]
    assert "measured noise 5.2" in changes[1].describe()
    # another row keeps its exact records
    other = {**ROW, "dataset": "sharegpt"}
    changes = compare(_board({**other, "records": 49}), _board(other), DEFAULT_TOLERANCES, noise)
    assert [(c.key, c.kind, c.noise) for c in changes] == [("records", "moved", None)]


@pytest.mark.parametrize(
    "data, needle",
    [
        ([], "no 'rows'"),
        ({"rows": {"humpback": 3}}, "rows.humpback is not a mapping"),
        ({"rows": {"humpback": {"win_rat": 1}}}, "rows.humpback.win_rat: unknown metric"),
        ({"rows": {"humpback": {"win_rate": -1}}}, "not a spread >= 0"),
    ],
)
def test_bad_noise_files_name_the_key(data, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        parse_noise(data, "noise.json")


def test_noise_is_max_minus_min_over_the_settings_boards_and_widens_the_check_to_them():
    from harness.report.check import measure_noise

    other = {**ROW, "dataset": "sharegpt"}
    boards = [
        _board({**other, "win_rate": 50.0}, {**ROW, "records": 29, "win_rate": 57.9}),
        _board({**other, "win_rate": 50.00001}, {**ROW, "records": 81, "win_rate": 63.1}),
        _board({**other, "win_rate": 50.0}, {**ROW, "records": 52, "win_rate": 60.0}),
    ]
    noise = measure_noise(boards, about="three settings")
    assert noise == {"about": "three settings", "rows": {"humpback": {"records": 52.0, "win_rate": 5.2}}}
    parsed = parse_noise(noise, "noise.json")
    assert all(compare(b, boards[0], DEFAULT_TOLERANCES, parsed) == [] for b in boards)
    assert compare(boards[1], boards[0], DEFAULT_TOLERANCES) != []
    with pytest.raises(ConfigError, match="row sets differ"):
        measure_noise([boards[0], _board(ROW)])
