"""One small experiment end to end through the real CLI, covering what makes leaderboard rows:
a shared instruction list (`instructions_from`), a baseline as published with an N above its
size, a saved checkpoint, eval-tag variants and the best-on-eval selection. Tiny model, real
trainer, real hf backend and local judge; about two minutes on CPU."""

from __future__ import annotations

import json
import sqlite3

import pytest
from _support import PROJECT_ROOT, run_harness

from harness.experiment import SEED_TAG, WEB_TAG, eval_system_prompt, load_experiment
from harness.stages import paths
from harness.stages.rows import rows

CONFIG = """\
# harness run --config {path}
name: rows-e2e
base_model: tiny:tiny
seed_data: {{source: bundled:demo}}
datasets:
  rewritten:
    builder: baseline
    options: {{loader: alpaca_gpt4, path: {a}}}
  distilled:
    builder: baseline
    options: {{loader: alpaca_gpt4, path: {b}}}
    instructions_from: rewritten
  sharegpt:
    builder: baseline
    options: {{loader: sharegpt}}
    assembly: as_published
    n: 100
train: {{recipe: tiny, n: 12, max_steps: 3, save_steps: 100, checkpoints: [2], select_checkpoint: best_on_eval}}
eval:
  eval_set: bundled:demo
  judge: local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:@base
  max_instances: 2
  decoding: {{max_tokens: 8}}
  tag_variants: [none, both]
analysis: {{enabled: false, reference: null}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("rows")
    rows_a = json.loads((PROJECT_ROOT / "baselines" / "data" / "alpaca_gpt4_demo.json").read_text())
    # the same instructions from 8 on, other responses: what distillation is to back-and-forth
    rows_b = [{**r, "output": f"In short: {r['output']}"} for r in rows_a[8:]]
    (base / "a.json").write_text(json.dumps(rows_a))
    (base / "b.json").write_text(json.dumps(rows_b))
    cfg = base / "rows-e2e.yaml"
    cfg.write_text(CONFIG.format(path=cfg, a=base / "a.json", b=base / "b.json"))
    runs, results = base / "runs", base / "results"
    r = run_harness(
        "run",
        "--config",
        str(cfg),
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
        timeout=900,
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    board = json.loads((results / "rows-e2e" / "leaderboard.json").read_text())
    return {"exp": load_experiment(str(cfg)), "runs": runs, "board": board}


def _trained(run: dict, key: str) -> list[dict]:
    return [
        json.loads(line) for line in (paths.train_dir(run["exp"], key, run["runs"]) / "train.jsonl").open()
    ]


def _system(rec: dict) -> str | None:
    return rec["messages"][0]["content"] if rec["messages"][0]["role"] == "system" else None


def _user(rec: dict) -> str:
    return next(m["content"] for m in rec["messages"] if m["role"] == "user")


def test_every_row_is_reported_with_its_protocol(run):
    exp, board = run["exp"], run["board"]
    by_name = {r["dataset"]: r for r in board["rows"]}
    assert set(by_name) == {r.name for r in rows(exp)} and len(by_name) == 13
    assert {by_name[n]["eval_tags"] for n in ("rewritten[tags=none]", "rewritten@step2[tags=both]")} == {
        "none",
        "both",
    }
    assert by_name["sharegpt[tags=none]"]["assembly"] == "as_published"
    assert by_name["rewritten@selected"]["selection"].startswith("best_on_eval: ")
    assert (paths.trained_model_dir(exp, "rewritten", run["runs"], step=2) / "config.json").is_file()
    assert "none, both" in board["eval_tags"] and SEED_TAG in board["train_tags"]
    assert "selected on the test set" in board["checkpoints"]
    # every row trains on exactly N dataset records, or the leaderboard says why not
    assert by_name["rewritten[tags=none]"]["n_trained"] == by_name["distilled[tags=both]"]["n_trained"] == 12
    assert any(w.startswith("sharegpt[tags=none] trained on") and "not N=100" in w for w in board["warnings"])


def test_training_sets_hold_the_tagged_seed_and_the_same_instructions(run):
    seed_users = {_user(r) for r in _trained(run, "rewritten") if _system(r) == SEED_TAG}
    assert seed_users  # the seed set is mixed in, with its tag
    web = {}
    for key in ("rewritten", "distilled"):
        recs = _trained(run, key)
        assert {_system(r) for r in recs} == {SEED_TAG, WEB_TAG}
        assert {_user(r) for r in recs if _system(r) == SEED_TAG} == seed_users
        web[key] = {_user(r): r["messages"][-1]["content"] for r in recs if _system(r) == WEB_TAG}
    assert len(web["rewritten"]) == 12 and set(web["rewritten"]) == set(web["distilled"])
    assert all(web["distilled"][k] != web["rewritten"][k] for k in web["rewritten"])  # other responses
    assert all(_system(r) is None for r in _trained(run, "sharegpt"))  # as published: no seed, no tags


def test_eval_prompts_carry_the_rows_tags(run):
    """The requests the final model answered (the request cache's keys) hold each variant's system
    turn, and no other; the template renders that turn as it renders the training records' one."""
    from transformers import AutoTokenizer

    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.backends.cache import _Keys
    from harness.core.records import Message
    from harness.evaluation.eval_set import load_eval_set, select_instances

    exp, runs = run["exp"], run["runs"]
    d = exp.eval.decoding
    params = SamplingParams(temperature=d.temperature, top_p=d.top_p, max_tokens=d.max_tokens, seed=d.seed)
    instructions = [
        r["instruction"] for r in select_instances(load_eval_set("bundled:demo", exp.eval.protocol), 2)
    ]
    with sqlite3.connect(paths.request_cache(exp, runs)) as db:
        stored = {k for (k,) in db.execute("SELECT key FROM generations")}
    model = paths.trained_model_dir(exp, "rewritten", runs)
    gen = load_generator(f"hf:{model}", dtype="float32")
    keys = _Keys(gen.identity())
    gen.close()
    for tags in ("none", "seed", "web", "both"):
        system = eval_system_prompt(exp.train, tags)
        head = (Message("system", system),) if system else ()
        asked = [
            keys(ChatRequest(id="x", messages=(*head, Message("user", i)), params=params))
            for i in instructions
        ]
        assert all((k in stored) == (tags in exp.eval.tag_variants) for k in asked), tags
    tok = AutoTokenizer.from_pretrained(str(model))
    turns = [
        {"role": "system", "content": eval_system_prompt(exp.train, "both")},
        {"role": "user", "content": "Q"},
    ]
    prompt = tok.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    trained = tok.apply_chat_template([*turns, {"role": "assistant", "content": "A"}], tokenize=False)
    assert trained.startswith(prompt) and "<|system|>" in prompt
