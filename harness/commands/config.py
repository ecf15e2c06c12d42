"""`harness config`: load an experiment file with its overrides and print it resolved (or the error)."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="experiment YAML path or shipped name")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. decoding.top_p=0.95"
    )


def run(args: argparse.Namespace) -> int:
    from harness.core.config import to_dict
    from harness.experiment import load_experiment

    exp = load_experiment(args.config, args.overrides)
    print(json.dumps(to_dict(exp), indent=2))
    return 0
