"""The ecosystem hooks on a real (3-step) training run: `report_to: [tensorboard]` writes event files
with the loss, and the eval metrics join them; it changes no fingerprint. The trainer's own log and
the loss-token share are kept; the dataset and model cards parse as Hub cards."""

from __future__ import annotations

from pathlib import Path

from harness.experiment import load_experiment
from harness.stages import fingerprints, paths

BASE = ["train.max_steps=3", "train.save_steps=100", "train.logging_steps=1"]


def _scalars(directory: Path) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[float]] = {}
    for events in sorted({p.parent for p in directory.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
    return out


def test_tensorboard_curves_cards_and_unchanged_fingerprints(tmp_path):
    from huggingface_hub import DatasetCard, ModelCard

    from harness.stages import build, cards, train
    from harness.training.tracking import log_eval

    exp = load_experiment("demo", [*BASE, "train.report_to=tensorboard"])
    plain = load_experiment("demo", BASE)
    assert exp.train.recipe.report_to == ("tensorboard",) and plain.train.recipe.report_to == ()
    for name in exp.datasets:  # a display option: no stage reruns for it
        assert fingerprints.train_fingerprint(exp, name) == fingerprints.train_fingerprint(plain, name)
        assert fingerprints.eval_fingerprint(exp, name) == fingerprints.eval_fingerprint(plain, name)

    build.run(exp, tmp_path, only=["alpaca_gpt4"])
    [outcome] = train.run(exp, tmp_path, only=["alpaca_gpt4"])
    train_dir = outcome.directory
    scalars = _scalars(train_dir / "tracking")
    assert len(scalars.get("train/loss", [])) == 3 and "train/learning_rate" in scalars, sorted(scalars)

    metrics = {
        "win_rate": 42.5,
        "standard_error": 3.1,
        "lc_win_rate": float("nan"),
        "n_total": 20,
        "n_parse_failures": 0,
    }
    assert log_eval(
        exp.train.recipe.report_to,
        project=exp.name,
        run_name="alpaca_gpt4",
        train_dir=train_dir,
        metrics=metrics,
    ) == ["tensorboard"]
    scalars = _scalars(train_dir / "tracking")
    assert scalars["eval/win_rate"] == [42.5] and "eval/lc_win_rate" not in scalars  # NaN is not a figure

    history = (train_dir / "log_history.json").read_text()
    assert '"learning_rate"' in history and '"loss"' in history
    stats = outcome.manifest.stats
    assert 0 < stats.loss_token_share < 1 and 0 < stats.extra["assistant_tokens"] < stats.extra["tokens"]

    card = DatasetCard.load(paths.build_dir(exp, "alpaca_gpt4", tmp_path) / "README.md")
    assert card.data.license == "cc-by-nc-4.0"
    assert card.data.configs[0]["data_files"][0]["path"] == "dataset.jsonl"
    assert "harness build --config demo --only alpaca_gpt4" in card.text
    cards.write_model_card(exp, "alpaca_gpt4", tmp_path, metrics=metrics)
    model_card = ModelCard.load(paths.trained_model_dir(exp, "alpaca_gpt4", tmp_path) / "README.md")
    assert model_card.data.library_name == "transformers" and "learning_rate" in model_card.text
    [result] = model_card.data.eval_results
    assert result.metric_type == "win_rate" and result.metric_value == 42.5
