"""Eval metrics into the experiment trackers the recipe's `report_to` names, beside the training logs.

The trainer logs loss and learning rate itself (transformers' integrations); after a row's eval
the harness adds its metrics (win rate, SE, LC win rate, ...) to the same trackers: TensorBoard
into the training run's own log directory (so one run shows both), wandb, trackio and MLflow as a
run named after the dataset in a project named after the experiment. Other trackers get the
training logs only, said once in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
EVAL_KEYS = (
    "win_rate",
    "standard_error",
    "lc_win_rate",
    "discrete_win_rate",
    "avg_output_length",
    "n_total",
    "n_parse_failures",
)


def eval_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric headline figures of an eval, as `eval/<key>`."""
    return {
        f"eval/{k}": float(metrics[k])
        for k in EVAL_KEYS
        if isinstance(metrics.get(k), (int, float))
        and not isinstance(metrics.get(k), bool)
        and metrics[k] == metrics[k]
    }


def log_eval(
    trackers: Sequence[str], *, project: str, run_name: str, train_dir: Path, metrics: Mapping[str, Any]
) -> list[str]:
    """Log one row's eval metrics to each tracker; returns the trackers written to."""
    scalars = eval_scalars(metrics)
    done = []
    for tracker in trackers:
        writer = WRITERS.get(tracker)
        if writer is None:
            log.info(
                "report_to %s: the harness logs eval metrics to %s only; training logs went there",
                tracker,
                ", ".join(WRITERS),
            )
            continue
        try:
            writer(scalars, project=project, run_name=run_name, train_dir=Path(train_dir))
            done.append(tracker)
        except ImportError as e:
            log.warning("report_to %s: not installed (%s); eval metrics not logged there", tracker, e)
    return done


def _tensorboard(scalars: dict[str, float], *, project: str, run_name: str, train_dir: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from harness.training.sft import tracking_dir

    with SummaryWriter(log_dir=str(tracking_dir(train_dir) / "tensorboard")) as w:
        for k, v in scalars.items():
            w.add_scalar(k, v, global_step=0)


def _wandb(scalars: dict[str, float], *, project: str, run_name: str, train_dir: Path) -> None:
    import wandb

    run = wandb.init(project=project, name=f"{run_name}-eval", group=run_name, reinit=True)
    run.log(scalars)
    run.finish()


def _trackio(scalars: dict[str, float], *, project: str, run_name: str, train_dir: Path) -> None:
    import trackio

    trackio.init(project=project, name=f"{run_name}-eval")
    trackio.log(scalars)
    trackio.finish()


def _mlflow(scalars: dict[str, float], *, project: str, run_name: str, train_dir: Path) -> None:
    import mlflow

    mlflow.set_experiment(project)
    with mlflow.start_run(run_name=f"{run_name}-eval"):
        mlflow.log_metrics({k.replace("/", "_"): v for k, v in scalars.items()})


WRITERS = {"tensorboard": _tensorboard, "wandb": _wandb, "trackio": _trackio, "mlflow": _mlflow}
