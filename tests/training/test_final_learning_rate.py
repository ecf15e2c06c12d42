"""`recipe.final_learning_rate`: the schedule ends at a learning rate of the recipe's (Humpback: linear
decay from 1e-5 to 9e-6), on the real trainer's own scheduler; a recipe without it keeps its
fingerprint (the field stays out at its default)."""

from __future__ import annotations

import pytest
from training.sft_data import make_records, train

from harness.core.errors import ConfigError
from harness.training.recipe import load_recipe, lr_schedule, semantic_dict
from harness.training.sft import build_trainer, train_fingerprint


def _lrs(directory, steps: int) -> list[float]:
    trainer = build_trainer(directory)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    out = []
    for _ in range(steps):
        out.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return [*out, trainer.lr_scheduler.get_last_lr()[0]]


@pytest.mark.parametrize("scheduler", ["linear", "cosine"])
def test_the_schedule_ends_at_the_final_rate(tiny_model, tmp_path, scheduler):
    recipe = load_recipe("tiny", {"lr_scheduler": scheduler, "final_learning_rate": 9e-4, "max_steps": 4})
    outcome = train(tmp_path / "run", f"hf:{tiny_model}", make_records(32), recipe)
    assert outcome.manifest.ok and outcome.manifest.stats.to_dict()["steps"] == 4
    lrs = _lrs(outcome.directory, 10)
    print(scheduler, [f"{x:.3g}" for x in lrs])
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(9e-4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    if scheduler == "linear":  # equal steps down: linear
        steps = [a - b for a, b in zip(lrs, lrs[1:])]
        assert max(steps) == pytest.approx(min(steps), rel=1e-6)


def test_without_it_the_schedule_and_fingerprint_are_as_before():
    tiny = load_recipe("tiny")
    assert lr_schedule(tiny) == ("cosine", {}) and "final_learning_rate" not in semantic_dict(tiny)
    humpback = load_recipe("tiny", {"lr_scheduler": "linear", "final_learning_rate": 9e-4})
    assert lr_schedule(humpback) == ("polynomial", {"lr_end": 9e-4, "power": 1.0})
    assert train_fingerprint(tiny, upstream={}) != train_fingerprint(humpback, upstream={})


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"lr_scheduler": "constant", "final_learning_rate": 1e-4}, "lr_scheduler"),
        ({"final_learning_rate": 2e-3}, "not below"),
    ],
)
def test_bad_final_rate_is_refused(over, match):
    with pytest.raises(ConfigError, match=match):
        load_recipe("tiny", over)
