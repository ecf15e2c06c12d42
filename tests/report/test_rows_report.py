"""The report's view of rows: the N warnings, the header's protocol notes, the scaling curve."""

from __future__ import annotations

from harness.experiment import load_experiment
from harness.report.html import _scaling_plot, scaling_curves
from harness.report.leaderboard import n_warnings, protocol_notes


def _row(name, n_target, n_trained, win_rate=50.0, step=None, built_from=None):
    return {
        "dataset": name,
        "built_from": built_from or name.split("@")[0],
        "n_target": n_target,
        "n_trained": n_trained,
        "n_available": n_trained,
        "win_rate": win_rate,
        "standard_error": 2.0,
        "step": step,
        "eval_tags": "seed",
    }


def test_rows_short_of_n_are_warned_about_with_the_reason():
    assert n_warnings([_row("a", 48, 48), _row("b", 48, 48)]) == []
    warned = n_warnings([_row("a", 48, 48), _row("b", 48, 40), _row("b@step2", 48, 40, step=2)])
    assert len(warned) == 2 and warned[0].startswith("b trained on 40 dataset records, not N=48")
    assert "after dedup and screening" in warned[0] and "different N (40, 48)" in warned[1]


def test_header_states_tags_and_the_selection_rule():
    notes = protocol_notes(load_experiment("paper-7b"))
    assert "Answer in the style of an AI Assistant." in notes["train_tags"]
    assert notes["eval_tags"] == "one row per variant: seed, both"
    assert "600, 900" in notes["checkpoints"] and "selected on the test set" in notes["checkpoints"]
    assert protocol_notes(load_experiment("demo"))["eval_tags"] == "seed"


def test_a_dataset_with_sizes_gets_a_scaling_curve():
    rows = [
        _row("h@100", 100, 100, 40.0),
        _row("h@400", 400, 400, 55.0),
        _row("h@100@step2", 100, 100, step=2),
        _row("other", 100, 100),
    ]
    curves = scaling_curves(rows)
    assert list(curves) == ["h"] and [r["n_target"] for r in curves["h"]] == [100, 400]
    assert _scaling_plot(rows) and _scaling_plot(rows[3:]) is None


def test_a_paper_figure_stands_beside_its_own_n_only_and_deviations_are_printed(tmp_path):
    from harness.report.leaderboard import collect, markdown

    board = collect(load_experiment("paper-70b"), tmp_path)
    figures = {r["dataset"]: r["paper_win_rate"] for r in board["rows"] if r["paper_win_rate"] is not None}
    # paper_results holds one table cell per dataset, for N = train.n (51.2K): the 25.6K rows show none
    assert figures == {
        "back_and_forth@51200@selected": 91.74,
        "sharegpt@selected": 88.56,
        "openorca@selected": 87.31,
    }
    text = markdown(board)
    assert "Deviations from the papers" in text
    assert "- the 25.6K rows train 1,600 steps like the 51.2K rows, not the paper's 1,200 (29)" in text
    for name in ("paper-7b", "paper-70b", "paper-7b-instructions", "paper-humpback"):
        assert load_experiment(name).deviations, name
    demo = collect(load_experiment("demo"), tmp_path / "demo")  # demo and control print no such section
    assert "deviations" not in demo and "Deviations" not in markdown(demo)
    assert load_experiment("control").deviations == ()
