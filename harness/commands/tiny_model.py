"""`harness tiny-model OUT_DIR`: write a tiny random Llama with an in-process tokenizer (offline)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", help="directory to write the model into")
    p.add_argument(
        "--size",
        choices=["tiny", "small", "learner"],
        default="tiny",
        help="tiny: 2 layers, hidden 128, vocab 2048; small: 4 layers, hidden 512, vocab 8192; "
        "learner: tiny with the usual 0.02 init (learns the control task)",
    )
    p.add_argument("--seed", type=int, default=0, help="weight-init seed (same seed, same files)")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from harness.backends.tiny_model import make_tiny_model
    from harness.core.errors import ConfigError

    target = Path(args.out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"{target} exists and is {'a file' if not target.is_dir() else 'not empty'}",
            fix="pass a new or empty directory; nothing was overwritten",
        )
    t0 = time.perf_counter()
    out = make_tiny_model(args.out_dir, size=args.size, seed=args.seed)
    print(
        f"tiny-model: wrote a {args.size} Llama (seed {args.seed}) to {out} in {time.perf_counter() - t0:.1f}s"
    )
    return 0
