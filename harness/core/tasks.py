"""Known-answer tasks: the positive control's synthetic task family, generated in-process and seeded.

Each task maps a short list of words from a fixed vocabulary to an answer that a program can
check, so an oracle can grade any model's output against the truth (`score`). The instruction
carries its own input ("Reverse the words: fox hat red" -> "red hat fox"), so the truth follows
from the instruction alone and nothing has to travel beside it.

Every example belongs to exactly one split, decided by a hash of its word list, so the seed
pairs, the datasets of known quality, the corpus of answers and the eval set never share an
input. The corpus holds answers without their instructions ("web documents"); for an invertible
task the instruction can be recovered from the answer, so backtranslation is learnable.

`control:<task>` names these as a seed set, a corpus and an eval set in an experiment; the eval
set's reference outputs come from a fixed weaker model (`reference_answer`): the truth with each
word, independently and with a fixed per-instruction seed, replaced by a random vocabulary word
with probability `REFERENCE_NOISE`, so a model beats the reference exactly when it is more
correct. Light module: standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable, Iterator

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError

PREFIX = "control:"
# Short English words that the tiny model's tokenizer (a BPE trained on the standard library's
# docstrings) keeps as one token, with and without a leading space: the task is then a copy of
# tokens, which a 2-layer model learns in a few hundred steps.
VOCAB = (
    "back",
    "base",
    "call",
    "code",
    "data",
    "file",
    "flag",
    "form",
    "hand",
    "host",
    "item",
    "key",
    "line",
    "list",
    "lock",
    "log",
    "main",
    "name",
    "open",
    "pack",
    "part",
    "path",
    "point",
    "port",
    "queue",
    "read",
    "round",
    "run",
    "size",
    "word",
)
MIN_WORDS, MAX_WORDS = 3, 6
SPLITS = {"eval": (0, 2), "seed": (2, 3), "train": (3, 7), "corpus": (7, 10)}  # hash buckets out of 10
REFERENCE_NOISE = 0.5
SIZES = {"eval": 200, "seed": 200, "corpus": 2000}  # what `control:<task>` gives as each kind of source


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    prompt: str  # the instruction is "<prompt> <words>"
    answer: Callable[[list[str]], list[str]]
    invertible: bool  # the input is recoverable from the answer: backtranslation can learn it


TASKS: dict[str, Task] = {
    "reverse": Task("reverse", "Reverse the words:", lambda w: w[::-1], True),
    "copy": Task("copy", "Repeat the words:", list, True),
    "upper": Task("upper", "Write the words in capitals:", lambda w: [x.upper() for x in w], True),
    "sort": Task("sort", "Sort the words:", sorted, False),
}


def get_task(name: str, *, key: str = "task") -> Task:
    if name not in TASKS:
        raise ConfigError(
            f"'{key}': unknown control task {name!r}",
            fix=did_you_mean(name, TASKS, otherwise=f"tasks: {', '.join(TASKS)}"),
        )
    return TASKS[name]


def task_of_source(source: str, *, key: str, invertible: bool = False) -> Task:
    """The task a `control:<task>` source names (an invertible one where the answer alone must do)."""
    task = get_task(source.removeprefix(PREFIX), key=key)
    if invertible and not task.invertible:
        raise ConfigError(
            f"'{key}' is {source!r}, whose answers do not determine their instructions",
            fix=f"use an invertible task: {', '.join(n for n, t in TASKS.items() if t.invertible)}",
        )
    return task


def instruction(task: Task, words: list[str]) -> str:
    return f"{task.prompt} {' '.join(words)}"


def inputs_of(task: Task, text: str) -> list[str] | None:
    """The word list of an instruction of `task`, or None when the text is not one."""
    text = text.strip()
    if not text.startswith(task.prompt):
        return None
    words = text[len(task.prompt) :].split()
    return words if words and all(w in VOCAB for w in words) else None


def truth(task: Task, text: str) -> str | None:
    """The correct answer to an instruction, None when the text is not an instruction of the task."""
    words = inputs_of(task, text)
    return None if words is None else " ".join(task.answer(words))


def score(task: Task, text: str, output: str) -> float:
    """Partial credit in [0, 1]: the share of answer positions right, over the longer of the two
    (so extra words cost as missing ones do); 0 for a text that is not an instruction of the task."""
    want = (truth(task, text) or "").split()
    got = output.split()
    if not want:
        return 0.0
    right = sum(a == b for a, b in zip(want, got, strict=False))
    return right / max(len(want), len(got))


def correct(task: Task, text: str, output: str) -> bool:
    return score(task, text, output) == 1.0


def _bucket(words: list[str]) -> int:
    return hashlib.sha256(" ".join(words).encode()).digest()[0] % 10


def examples(task: Task, split: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n distinct (instruction, answer) pairs of one split, the same for the same arguments."""
    low, high = SPLITS[split]
    rng = random.Random(f"{task.name}/{split}/{seed}")
    seen: set[tuple[str, ...]] = set()
    out = []
    for _ in range(200 * n + 1000):
        if len(out) == n:
            break
        words = [rng.choice(VOCAB) for _ in range(rng.randint(MIN_WORDS, MAX_WORDS))]
        if not low <= _bucket(words) < high or tuple(words) in seen:
            continue
        seen.add(tuple(words))
        out.append((instruction(task, words), " ".join(task.answer(words))))
    return out


def corrupt(answer: str, rng: random.Random, rate: float = 1.0) -> str:
    """The answer with each word replaced by a random vocabulary word with probability `rate`."""
    return " ".join(rng.choice(VOCAB) if rng.random() < rate else w for w in answer.split())


def reference_answer(task: Task, text: str) -> str:
    """The fixed weaker model's answer: the truth, each word replaced with probability REFERENCE_NOISE."""
    rng = random.Random(f"reference/{text}")
    return corrupt(truth(task, text) or "", rng, REFERENCE_NOISE)


def eval_rows(task: Task, n: int = SIZES["eval"]) -> list[dict[str, str]]:
    """The eval set in alpaca_eval's format, with the fixed weaker model's outputs as references."""
    return [
        {
            "instruction": ins,
            "output": reference_answer(task, ins),
            "generator": f"control-reference-{task.name}",
            "dataset": f"control:{task.name}",
        }
        for ins, _ in examples(task, "eval", n)
    ]


def corpus_texts(task: Task, n: int = SIZES["corpus"]) -> Iterator[tuple[str, str]]:
    """(row id, answer) of the corpus split: answers without their instructions."""
    for i, (_, answer) in enumerate(examples(task, "corpus", n)):
        yield f"control:{task.name}:{i}", answer
