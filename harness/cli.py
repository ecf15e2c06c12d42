"""`harness` command line: parse, load config, call a stage. Nothing heavy is imported here.

Each command lives in its own module under `harness.commands` with `add_arguments(parser)` and
`run(args) -> int`; only the module of the command being run is imported, so `harness --help`
answers at once. Any `HarnessError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.commands.run", "the whole loop of an experiment: build, train, eval, analyze, report"),
    "task": (
        "harness.commands.task",
        "execute one task of an experiment's stage graph (what a cluster job runs)",
    ),
    "status": (
        "harness.commands.status",
        "where a run stands (stages done, running, remaining; tokens, spend), from another terminal",
    ),
    "publish": (
        "harness.commands.publish",
        "push a built dataset or a trained model with its card to the Hugging Face Hub",
    ),
    "build": ("harness.commands.build", "build an experiment's datasets (builders and baselines)"),
    "train": (
        "harness.commands.train",
        "fine-tune the base model on each dataset with the shared SFT recipe",
    ),
    "eval": ("harness.commands.eval", "AlpacaEval: generate, judge against references, score"),
    "report": ("harness.commands.report", "write the leaderboard (Markdown, CSV, JSON, HTML) and print it"),
    "check": (
        "harness.commands.check",
        "compare a leaderboard with a stored baseline; non-zero exit on regressions",
    ),
    "judge-agreement": (
        "harness.commands.judge_agreement",
        "how often a judge agrees with reference judgments",
    ),
    "generate": ("harness.commands.generate", "generate completions for a JSONL file of chat prompts"),
    "tiny-model": ("harness.commands.tiny_model", "write a tiny random Llama with an in-process tokenizer"),
    "sources": (
        "harness.commands.sources",
        "the public datasets an experiment reads: repository, files, pinned revision",
    ),
    "config": ("harness.commands.config", "show an experiment file resolved with its overrides"),
    "analyze": (
        "harness.commands.analyze",
        "compare sets of texts: MAUVE, separability, diversity, contamination",
    ),
    "score": (
        "harness.commands.score",
        "AlpacaEval win rate, SE, discrete and length-controlled win rate of annotations",
    ),
    "compare": (
        "harness.commands.compare",
        "paired difference in win rate between two annotation files, with CI and p-value",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: harness COMMAND [options]   (harness COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    try:
        from rich.console import Console
        from rich.logging import RichHandler

        # logs go to stderr so that `--json` output on stdout stays parseable
        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, rich_tracebacks=False
        )
    except ImportError:  # rich is a dependency; this only keeps --help usable in a broken env
        handler = logging.StreamHandler()
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        print(f"harness: unknown command '{name}'{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = _Parser(prog=f"harness {name}", description=COMMANDS[name][1])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.command_line = shlex.join(["harness", name, *rest])  # what a runner lock records
    _setup_logging(args.verbose)
    from harness.core.errors import ConfigError, HarnessError, InputError

    try:
        return int(module.run(args) or 0)
    except HarnessError as e:
        print(
            f"harness {name}: error: {_one_line(str(e)) if isinstance(e, ConfigError | InputError) else e}",
            file=sys.stderr,
        )
        return e.exit_code
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise
        print(
            f"harness {name}: error: disk full: {e.strerror} ({e.filename or 'writing'}); finished work is "
            "kept and nothing half-written is trusted (free space and rerun)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"harness {name}: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line, like every other bad input (argparse prints the usage first)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(message: str) -> str:
    """A bad-input message stays one line even when it quotes a value holding line breaks."""
    return "".join(repr(c)[1:-1] if c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" else c for c in message)


def entry() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
