"""Bad input, probe by probe: each is the real CLI in a subprocess, with the exit code and the one line
it must print (the key or file, the value, the fix). Nothing may be written before the error.

The table is the contract of the README's "Bad input" section: add a row for every new check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import run_harness

# (probe, argv after `harness`, expected exit code, fragments the error must contain)
CONFIG_PROBES: list[tuple[str, list[str], int, list[str]]] = [
    (
        "threshold above the 1-5 scale",
        ["datasets.humpback.options.threshold=9.5"],
        2,
        ["datasets.humpback.options.threshold", "9.5", "[1, 5]"],
    ),
    (
        "threshold below the 1-5 scale",
        ["datasets.back_and_forth.options.threshold=-3"],
        2,
        ["datasets.back_and_forth.options.threshold", "-3", "[1, 5]"],
    ),
    (
        "a judge model the eval stage cannot resolve",
        ["eval.judge=local:alpaca_eval_gpt4:@seed_model"],
        2,
        ["'eval.judge' is '@seed_model'", "use @base or a backend spec"],
    ),
    (
        "a tagger model the analysis stage cannot resolve",
        ["analysis.instruction_tagger=tiny:tiny"],
        2,
        ["'analysis.instruction_tagger' is 'tiny:tiny'", "use @base or a backend spec"],
    ),
    (
        "negative iterations",
        ["datasets.humpback.options.iterations=-2"],
        2,
        ["datasets.humpback.options.iterations", "-2", ">= 0"],
    ),
    (
        "near-duplicate threshold above 1",
        ["corpus.near_dup_threshold=1.5"],
        2,
        ["corpus.near_dup_threshold", "[0, 1]"],
    ),
    ("negative eval temperature", ["eval.decoding.temperature=-1"], 2, ["eval.decoding.temperature", ">= 0"]),
    (
        "infinite eval temperature",
        ["eval.decoding.temperature=inf"],
        2,
        ["eval.decoding.temperature", "inf", "a finite number >= 0"],
    ),
    (
        "NaN eval temperature",
        ["eval.decoding.temperature=nan"],
        2,
        ["eval.decoding.temperature", "nan", ">= 0"],
    ),
    (
        "infinite builder temperature",
        ["datasets.humpback.options.temperature=inf"],
        2,
        ["datasets.humpback.options.temperature", "a finite number"],
    ),
    ("top_p above 1", ["eval.decoding.top_p=1.5"], 2, ["eval.decoding.top_p", "(0, 1]"]),
    ("zero eval instances", ["eval.max_instances=0"], 2, ["eval.max_instances", ">= 1"]),
    ("zero max tokens", ["decoding.max_tokens=0"], 2, ["decoding.max_tokens", ">= 1"]),
    ("min_chars above max_chars", ["corpus.min_chars=5000"], 2, ["corpus.min_chars", "corpus.max_chars"]),
    ("missing base model directory", ["base_model=hf:/missing/path"], 2, ["base_model", "does not exist"]),
    (
        "missing builder model directory",
        ["datasets.humpback.options.backward_model=hf:/missing/m"],
        2,
        ["datasets.humpback.options.backward_model", "does not exist"],
    ),
    (
        "unknown baseline loader",
        ["datasets.sharegpt.options.loader=sharegtp"],
        2,
        ["datasets.sharegpt.options", "did you mean 'sharegpt'"],
    ),
    (
        "baseline without a loader",
        ["datasets.x.builder=baseline"],
        2,
        ["datasets.x.options.loader", "missing"],
    ),
    ("zero training steps", ["train.max_steps=0"], 2, ["train.max_steps", "-1", ">= 1"]),
    ("negative learning rate", ["train.learning_rate=-1"], 2, ["train.learning_rate", "> 0"]),
    (
        "final learning rate with a constant schedule",
        ["train.lr_scheduler=constant", "train.final_learning_rate=1e-6"],
        2,
        ["train.final_learning_rate", "lr_scheduler", "linear or cosine"],
    ),
    (
        "final learning rate above the peak",
        ["train.final_learning_rate=1"],
        2,
        ["train.final_learning_rate", "not below"],
    ),
    ("unknown chat template", ["train.chat_template=llama3"], 2, ["train.chat_template", "llama2"]),
    (
        "unknown backtranslation input",
        ["datasets.humpback.options.backtranslation_input=wrapped"],
        2,
        ["datasets.humpback.options.backtranslation_input", "prompt"],
    ),
    (
        "unknown truncation policy",
        ["datasets.back_and_forth.options.truncated=cut"],
        2,
        ["datasets.back_and_forth.options.truncated", "by_content"],
    ),
    ("unknown eval tag placement", ["eval.tag_placement=prefix"], 2, ["eval.tag_placement", "question"]),
    ("zero batch size", ["train.per_device_batch_size=0"], 2, ["train.per_device_batch_size", ">= 1"]),
    ("empty experiment name", ["name="], 2, ["'name'", "run directory"]),
    (
        "experiment name YAML reads as a boolean",
        ["name=no"],
        2,
        ["'name' must be str, got False", "quote it"],
    ),
    (
        "judge YAML reads as a boolean",
        ["eval.judge=on"],
        2,
        ["'eval.judge' must be str, got True", "quote it"],
    ),
    ("zero GPUs per node", ["hardware.gpus_per_node=0"], 2, ["hardware.gpus_per_node", ">= 1"]),
    (
        "data-generation temperature is a builder option",
        ["decoding.temperature=0.5"],
        2,
        ["decoding.temperature", "unknown key"],
    ),
    (
        "a section set to null",
        ["train=null"],
        2,
        ["'train' is null", "reset all of it to the defaults", "train.<key>"],
    ),
    (
        "a nested section set to null",
        ["eval.decoding=null"],
        2,
        ["'eval.decoding' is null", "eval.decoding.<key>"],
    ),
    (
        "builder options set to null",
        ["datasets.humpback.options=null"],
        2,
        ["'datasets.humpback.options' is null"],
    ),
    (
        "misspelt override: the hint is the full key",
        ["eval.judg=x"],
        2,
        ["unknown key 'eval.judg'", "did you mean 'eval.judge'?"],
    ),
    (
        "misspelt nested override",
        ["eval.decoding.temprature=1"],
        2,
        ["did you mean 'eval.decoding.temperature'?"],
    ),
    (
        "eval.max_instances below what the analysis compares",
        ["eval.max_instances=10"],
        2,
        ["'eval.max_instances' is 10", "below the 20", "eval.max_instances >= 20", "analysis.enabled=false"],
    ),
    (
        "analysis.max_texts below the analysis minimum",
        ["analysis.max_texts=5"],
        2,
        ["'analysis.max_texts' is 5", "analysis.max_texts >= 20"],
    ),
]


@pytest.mark.parametrize("probe,overrides,code,fragments", CONFIG_PROBES, ids=[p[0] for p in CONFIG_PROBES])
@pytest.mark.parametrize("command", ["config", "run --dry-run"])
def test_config_values_are_checked_when_the_experiment_loads(
    tmp_path: Path, command: str, probe: str, overrides: list[str], code: int, fragments: list[str]
) -> None:
    runs = tmp_path / "runs"
    proc = run_harness(*command.split(), "--config", "demo", *overrides, env={"HARNESS_RUNS_DIR": str(runs)})
    assert proc.returncode == code, (probe, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert not runs.exists(), f"{probe}: something was written before the error"


@pytest.mark.parametrize(
    "typo",
    [
        "train.lerning_rate=1e-5",
        "eval.judg=alpaca_eval:alpaca_eval_gpt4",
        "eval.decoding.temprature=0.5",
        "datasets.humpback.options.treshold=3",
        "seed_dta.n=8",
        "analysis.mauve_sedes=2",
        "corpus.min_char=100",
    ],
)
def test_the_did_you_mean_of_an_override_is_a_valid_key(typo: str) -> None:
    """The key the hint suggests, typed as it is with the same value, loads."""
    import re

    from harness.cli import main

    bad = run_harness("config", "--config", "demo", typo)
    assert bad.returncode == 2, bad.stderr
    [suggested] = re.findall(r"did you mean '([^']+)'\?", bad.stderr)
    assert main(["config", "--config", "demo", f"{suggested}={typo.split('=', 1)[1]}"]) == 0, (
        typo,
        suggested,
    )


# ---------------------------------------------------------------- input files the experiment names
def _input_files(tmp_path: Path) -> dict[str, Path]:
    """Eval sets and seed files that are bad in one way each (30 rows, above the analysis minimum)."""
    import json

    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(30)]
    dup = [dict(r) for r in rows]
    dup[7]["instruction"] = dup[2]["instruction"]
    no_output = [dict(r) for r in rows]
    del no_output[4]["output"]
    files = {
        "dup_eval": json.dumps(dup, indent=2),
        "no_output_eval": json.dumps(no_output, indent=2),
        "dup_eval_lines": "".join(json.dumps(r) + "\n" for r in dup),
        "empty_eval": "[]",
        "empty_seed": "",
        "small_eval": json.dumps(rows[:12]),
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / (name + (".jsonl" if name.endswith(("_lines", "_seed")) else ".json"))
        out[name].write_text(text, encoding="utf-8")
    out["a_dir"] = tmp_path / "a_dir"
    out["a_dir"].mkdir()
    return out


# (probe, override with {placeholders}, fragments the error must contain)
INPUT_FILE_PROBES: list[tuple[str, str, list[str]]] = [
    (
        "eval set with a repeated instruction",
        "eval.eval_set={dup_eval}",
        [
            "'eval.eval_set'",
            "dup_eval.json:30: row [7] repeats the instruction of row [2] (line 10)",
            "delete or reword",
        ],
    ),
    (
        "eval set (JSONL) with a repeated instruction",
        "eval.eval_set={dup_eval_lines}",
        ["dup_eval_lines.jsonl:8: row [7] repeats the instruction of row [2] (line 3)"],
    ),
    (
        "eval set row without its reference output",
        "eval.eval_set={no_output_eval}",
        ["no_output_eval.json:18: row [4] has no string 'output'", "'instruction' and 'output'"],
    ),
    (
        "eval set given as a directory",
        "eval.eval_set={a_dir}",
        ["'eval.eval_set'", "a_dir has no alpaca_eval.json", "pass the file itself"],
    ),
    ("empty eval set", "eval.eval_set={empty_eval}", ["empty_eval.json", "the eval set is empty"]),
    (
        "eval set smaller than the analysis compares",
        "eval.eval_set={small_eval}",
        ["small_eval.json' has 12 instructions", "below the 20", "analysis.enabled=false"],
    ),
    (
        "empty seed file",
        "seed_data.source={empty_seed}",
        ["'seed_data.source'", "empty_seed.jsonl", "no seed pairs"],
    ),
    (
        "seed given as a directory",
        "seed_data.source={a_dir}",
        [
            "'seed_data.source'",
            "is a directory but not a copy of the Open Assistant repository",
            "JSONL file of pairs",
        ],
    ),
]


@pytest.mark.parametrize("probe,override,fragments", INPUT_FILE_PROBES, ids=[p[0] for p in INPUT_FILE_PROBES])
@pytest.mark.parametrize("command", ["config", "run --dry-run", "build"])
def test_input_files_are_checked_when_the_experiment_loads(
    tmp_path: Path, command: str, probe: str, override: str, fragments: list[str]
) -> None:
    """Not after every build and training: the eval set and the seed are read when the experiment loads."""
    files = {k: str(v) for k, v in _input_files(tmp_path).items()}
    runs = tmp_path / "runs"
    where = ["--runs-dir", str(runs)] if command != "config" else []
    proc = run_harness(*command.split(), "--config", "demo", *where, override.format(**files), timeout=120)
    assert proc.returncode == 2, (probe, proc.stdout[-2000:], proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert not runs.exists(), f"{probe}: something was written before the error"


# ---------------------------------------------------------------- hub sources already on disk
HUB = Path(__file__).resolve().parents[1] / "fixtures" / "hub"


def _mirror(tmp_path: Path, probe: str) -> Path:
    """A copy of the replicas of AlpacaEval's and Open Assistant's hub repositories, spoilt as `probe` says."""
    import json
    import shutil

    root = tmp_path / "mirror"
    for repo in ("tatsu-lab/alpaca_eval", "OpenAssistant/oasst1"):
        shutil.copytree(HUB / repo, root / repo)
    ae = root / "tatsu-lab" / "alpaca_eval" / "alpaca_eval.json"
    if probe == "no references":
        ae.unlink()
    elif probe == "repeated instruction":
        rows = json.loads(ae.read_text())
        ae.write_text(json.dumps([*rows, dict(rows[1])]))
    elif probe.startswith("cache: "):  # the same file as huggingface_hub's cache holds a download
        commit = "1" * 40
        repo = tmp_path / "hf" / "hub" / "datasets--tatsu-lab--alpaca_eval"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        (repo / "snapshots" / commit).mkdir(parents=True)
        rows = json.loads(ae.read_text())
        (repo / "snapshots" / commit / ae.name).write_text(json.dumps([*rows, dict(rows[1])]))
    elif probe == "no train split":
        for f in (root / "OpenAssistant" / "oasst1" / "data").glob("train-*.parquet"):
            f.unlink()
    return root


# (probe, mirror spoilt how, override, extra environment, fragments the error must contain)
HUB_PROBES: list[tuple[str, str, str, dict[str, str], list[str]]] = [
    (
        "hub eval set whose mirror copy lacks the references",
        "no references",
        "eval.eval_set=hub",
        {},
        ["'eval.eval_set' (hub)", "has no alpaca_eval.json", "download the repository's JSON files"],
    ),
    (
        "hub eval set with a repeated instruction in the mirror copy",
        "repeated instruction",
        "eval.eval_set=hub",
        {},
        ["'eval.eval_set' (hub)", "alpaca_eval.json", "repeats the instruction of row [1]"],
    ),
    (
        "hub eval set of 5 instructions under the analysis",
        "",
        "eval.eval_set=hub",
        {},
        ["the eval set 'hub' has 5 instructions", "below the 20", "analysis.enabled=false"],
    ),
    (
        "hub seed whose mirror copy has no train split",
        "no train split",
        "seed_data.source=hub:OpenAssistant/oasst1",
        {},
        ["'seed_data.source' (hub:OpenAssistant/oasst1)", "matches data/train-*.parquet", "files there:"],
    ),
    (
        "hub seed pinned to another commit than the mirror copy's",
        "",
        "seed_data.source=hub:OpenAssistant/oasst1@" + "0" * 40,
        {},
        ["'seed_data.source'", "the config pins 000000000000", "download the pinned commit"],
    ),
    (
        "hub eval set in huggingface_hub's cache with a repeated instruction",
        "cache: repeated instruction",
        "eval.eval_set=hub",
        {"HF_HUB_OFFLINE": "1", "HARNESS_HUB_MIRROR": ""},
        ["'eval.eval_set' (hub)", "snapshots", "repeats the instruction of row [1]"],
    ),
]


@pytest.mark.parametrize("probe,spoil,override,env,fragments", HUB_PROBES, ids=[p[0] for p in HUB_PROBES])
def test_hub_sources_on_disk_are_checked_when_the_experiment_loads(  # noqa: PLR0913
    tmp_path: Path, probe: str, spoil: str, override: str, env: dict[str, str], fragments: list[str]
) -> None:
    """A hub eval set or seed that needs no download (the mirror's copy, the offline cache) is read as
    a local one is: its problems are one line at load, before any work, not after the builds."""
    root = _mirror(tmp_path, spoil)
    runs = tmp_path / "runs"
    full_env = {"HARNESS_HUB_MIRROR": str(root), "HF_HOME": str(tmp_path / "hf"), **env}
    proc = run_harness(
        "run", "--dry-run", "--config", "demo", "--runs-dir", str(runs), override, env=full_env
    )
    assert proc.returncode == 2, (probe, proc.stdout[-2000:], proc.stderr[-2000:])
    # the last line is the error; above it only the warning that `hub` names no commit (README)
    *before, err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and err.startswith("harness run: error: "), proc.stderr
    assert all("WARNING" in line or line.startswith(" ") for line in before), proc.stderr
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert not runs.exists(), f"{probe}: something was written before the error"


def test_a_hub_source_that_needs_a_download_is_left_to_its_stage(tmp_path: Path) -> None:
    """Offline, with neither a mirror nor the cache holding it, a hub eval set or seed is not read at
    load (the dry run still plans the run); the stage that reads it says so in one line."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HARNESS_HUB_MIRROR": ""}
    over = ["eval.eval_set=hub", "seed_data.source=hub:OpenAssistant/oasst1"]
    runs = tmp_path / "runs"
    proc = run_harness("run", "--dry-run", "--config", "demo", "--runs-dir", str(runs), *over, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_harness(
        "build", "--config", "demo", "--runs-dir", str(runs), "--only", "sharegpt", *over, env=env
    )
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()[-1]
    assert "seed_data.source" in err and "not reachable (offline) and not in the local cache" in err, err


def test_intact_hub_sources_on_disk_pass_the_load_check(tmp_path: Path) -> None:
    """The same copies intact: the experiment loads (the hub eval set counted from its file, 5 rows)."""
    root = _mirror(tmp_path, "")
    env = {"HARNESS_HUB_MIRROR": str(root), "HF_HOME": str(tmp_path / "hf")}
    proc = run_harness(
        "config",
        "--config",
        "demo",
        "eval.eval_set=hub",
        "seed_data.source=hub:OpenAssistant/oasst1",
        "analysis.enabled=false",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    shown = json.loads(proc.stdout)
    assert shown["eval"]["eval_set"] == "hub" and shown["seed_data"]["source"] == "hub:OpenAssistant/oasst1"


# ---------------------------------------------------------------- names that become directories
def _named_experiment(tmp_path: Path, name: str, dataset: str) -> Path:
    """A one-dataset experiment (a bundled baseline) with these names, written as JSON strings."""
    import json

    path = tmp_path / "named.yaml"
    path.write_text(
        f"name: {json.dumps(name)}\nbase_model: tiny:tiny\nseed_data: {{source: bundled:demo}}\n"
        "eval: {eval_set: bundled:demo, judge: 'local:alpaca_eval_gpt4:@base'}\n"
        f"analysis: {{reference: null}}\ndatasets:\n  {json.dumps(dataset)}: "
        "{builder: baseline, options: {loader: alpaca_gpt4}}\n",
        encoding="utf-8",
    )
    return path


# (probe, experiment name, dataset name, fragments the error must contain)
NAME_PROBES: list[tuple[str, str, str, list[str]]] = [
    ("dataset named ../x", "names", "../x", ["dataset name '../x'", "path separator", "rename it"]),
    ("dataset named ../../../../x", "names", "../../../../x", ["'../../../../x'", "path separator"]),
    (
        "300-character dataset name",
        "names",
        "d" * 300,
        ["dataset name 'ddd", "300 characters long, above 100"],
    ),
    (
        "300-character experiment name",
        "e" * 300,
        "a",
        ["'name' is 'eee", "300 characters long", "run directory"],
    ),
    ("experiment name with a slash", "a/b", "a", ["'name' is 'a/b'", "path separator", "run directory"]),
    ("dataset name with shell metacharacters", "names", "a;touch x", ["'a;touch x'", "holds ';'"]),
    ("dataset name with a NUL", "names", "a\0b", ["'a\\x00b'", "holds '\\x00'"]),
    (
        "dataset named like the shared sub-stages' folder",
        "names",
        "_shared",
        ["'_shared'", "starts with '_'"],
    ),
]


@pytest.mark.parametrize("probe,name,dataset,fragments", NAME_PROBES, ids=[p[0] for p in NAME_PROBES])
@pytest.mark.parametrize("command", ["run --dry-run", "build"])
def test_names_that_would_escape_their_directory_fail_before_any_work(
    tmp_path: Path, command: str, probe: str, name: str, dataset: str, fragments: list[str]
) -> None:
    """Experiment and dataset names become directories: one line, exit 2, and nothing written anywhere
    (the runs root lies three levels down, so a name that climbs out still lands in tmp_path)."""
    config = _named_experiment(tmp_path, name, dataset)
    runs = tmp_path / "a" / "b" / "runs"
    proc = run_harness(*command.split(), "--config", str(config), "--runs-dir", str(runs), timeout=300)
    assert proc.returncode == 2, (probe, proc.stdout[-2000:], proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert [p for p in tmp_path.rglob("*") if p != config] == [], f"{probe}: something was written"


def test_generated_command_lines_are_quoted_for_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dataset card's rebuild line quotes what the user typed (a config path with a space and a `;`),
    so pasting it runs `harness build` and nothing else."""
    import shlex
    import sys

    from harness.core.runs import StageResult, run_stage
    from harness.experiment import load_experiment
    from harness.stages import cards, paths

    exp = load_experiment("demo")
    config = "my exp;touch pwned.yaml"
    monkeypatch.setattr(sys, "argv", ["harness", "build", "--config", config, "--only", "alpaca_gpt4"])

    def body(d: Path) -> StageResult:
        (d / "dataset.jsonl").write_text("{}\n")
        return StageResult(outputs=["dataset.jsonl"])

    run_stage(paths.build_dir(exp, "alpaca_gpt4", tmp_path), stage="build", fingerprint="fp", body=body)
    card = cards.dataset_card(exp, "alpaca_gpt4", tmp_path)
    assert "    harness build --config 'my exp;touch pwned.yaml' --only alpaca_gpt4\n" in card
    [line] = [ln for ln in card.splitlines() if ln.strip().startswith("harness build")]
    assert shlex.split(line) == ["harness", "build", "--config", config, "--only", "alpaca_gpt4"]


# ---------------------------------------------------------------- files and commands
BOMB = "name: bomb\nbase_model: tiny:tiny\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh")
)


def _files(tmp_path: Path) -> dict[str, Path]:
    """Bad input files, written fresh for each probe."""
    files = {
        "bomb": (tmp_path / "bomb.yaml", BOMB.encode()),
        "latin_yaml": (tmp_path / "latin.yaml", b"name: x\nbase_model: tiny:tiny\ndescription: caf\xe9\n"),
        "latin_json": (tmp_path / "latin.json", b'[{"preference": 1.0, "instruction": "caf\xe9"}]'),
        "empty_list": (tmp_path / "empty.json", b"[]"),
        "out_of_range": (
            tmp_path / "prefs.json",
            b'[{"preference": 2.0}, {"preference": 1.0}, {"preference": 3}, {"preference": -1},'
            b' {"preference": NaN}, {"preference": 1e300}, {"preference": null}]',
        ),
        "a_file": (tmp_path / "a_file", b"not a directory"),
        "prompts": (tmp_path / "prompts.jsonl", b'{"id": "a", "instruction": "Say hi."}\n'),
        "records": (
            tmp_path / "records.jsonl",
            b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n',
        ),
        "assistant_first": (
            tmp_path / "assistant_first.jsonl",
            b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
            b'{"messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "a"}]}\n',
        ),
        "all_empty": (
            tmp_path / "all_empty.jsonl",
            b'{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": " "}]}\n',
        ),
    }
    import gzip
    import os

    files["gzip_json"] = (tmp_path / "gz.json", gzip.compress(b'[{"preference": 1.0}]'))
    files["empty_jsonl"] = (tmp_path / "empty.jsonl", b"")
    files["annotations"] = (
        tmp_path / "ann.json",
        b'[{"instruction": "a", "output_1": "x", "output_2": "y", "preference": 1.0}]',
    )
    two = [
        {
            "instruction": f"q{i}",
            "output_1": "x",
            "output_2": "y" * i,
            "generator_2": ["m1", "m2"][i % 2],
            "preference": 1.0 + i % 2,
        }
        for i in range(4)
    ]
    import json

    files["two_generators"] = (tmp_path / "two.json", json.dumps(two).encode())
    files["jsonl_as_json"] = (tmp_path / "lines.json", b'{"preference": 1.0}\n{"preference": 2.0}\n')
    for path, data in files.values():
        path.write_bytes(data)
    out = {k: p for k, (p, _) in files.items()}
    out["a_dir"] = tmp_path / "a_dir.json"
    out["a_dir"].mkdir()
    out["loop"] = tmp_path / "loop.json"
    out["loop"].symlink_to(out["loop"])
    out["fifo"] = tmp_path / "fifo.json"
    os.mkfifo(out["fifo"])
    return out


# (probe, argv with {placeholders} for _files' paths and {tmp}, exit code, fragments the stderr must contain)
FILE_PROBES: list[tuple[str, list[str], int, list[str]]] = [
    ("YAML alias bomb", ["config", "--config", "{bomb}"], 2, ["bomb.yaml:4", "alias"]),
    ("non-UTF-8 YAML", ["config", "--config", "{latin_yaml}"], 2, ["latin.yaml:3", "not UTF-8"]),
    ("non-UTF-8 JSON", ["score", "{latin_json}"], 2, ["latin.json", "not UTF-8"]),
    (
        "report over runs that do not exist",
        ["report", "--config", "demo", "--runs-dir", "{tmp}/empty-runs", "--results-dir", "{tmp}/results"],
        2,
        ["no evaluation for", "distillation", "--force"],
    ),
    (
        "judge-agreement on no annotations",
        ["judge-agreement", "--judge", "alpaca_eval:alpaca_eval_gpt4", "--annotations", "{empty_list}"],
        2,
        ["nothing to agree with"],
    ),
    (
        "eval of outputs that do not exist",
        [
            "eval",
            "--model-outputs",
            "{tmp}/missing.json",
            "--judge",
            "alpaca_eval:alpaca_eval_gpt4",
            "--output",
            "{tmp}/out",
        ],
        2,
        ["missing.json", "not found"],
    ),
    (
        "eval into a file",
        [
            "eval",
            "--model-outputs",
            "{out_of_range}",
            "--judge",
            "alpaca_eval:alpaca_eval_gpt4",
            "--output",
            "{a_file}",
        ],
        2,
        ["a_file", "is a file"],
    ),
    (
        "zero shards",
        ["build", "--config", "demo", "--runs-dir", "{tmp}/runs", "--num-shards", "0"],
        2,
        ["--num-shards is 0", "at least 1"],
    ),
    (
        "runs directory that is a file, dry run",
        ["run", "--config", "demo", "--dry-run", "--runs-dir", "{a_file}"],
        2,
        ["runs directory", "a_file is not a directory", "--runs-dir"],
    ),
    (
        "runs directory under a file, dry run",
        ["run", "--config", "demo", "--dry-run", "--runs-dir", "{a_file}/runs"],
        2,
        ["runs directory", "a_file is a file"],
    ),
    (
        "results directory that is a file",
        ["run", "--config", "demo", "--dry-run", "--runs-dir", "{tmp}/runs", "--results-dir", "{a_file}"],
        2,
        ["--results-dir", "is not a directory"],
    ),
    (
        "report into a results directory that is a file",
        ["report", "--config", "demo", "--runs-dir", "{tmp}/runs", "--results-dir", "{a_file}"],
        2,
        ["--results-dir", "is not a directory"],
    ),
    ("tiny-model onto a file", ["tiny-model", "{a_file}"], 2, ["a_file exists", "nothing was overwritten"]),
    (
        "generate over its own input",
        ["generate", "--model", "hf:{tmp}/m", "--input", "{prompts}", "--output", "{prompts}"],
        2,
        ["is the input file"],
    ),
    (
        "generate into a directory",
        ["generate", "--model", "hf:{tmp}/m", "--input", "{prompts}", "--output", "{tmp}"],
        2,
        ["is a directory"],
    ),
    (
        "empty stop string",
        [
            "generate",
            "--model",
            "hf:{tmp}/m",
            "--input",
            "{prompts}",
            "--output",
            "{tmp}/o.jsonl",
            "--stop",
            "",
        ],
        2,
        ["stop strings must not be empty"],
    ),
    (
        "zero batch size",
        [
            "generate",
            "--model",
            "hf:{tmp}/m",
            "--input",
            "{prompts}",
            "--output",
            "{tmp}/o.jsonl",
            "--batch-size",
            "0",
        ],
        2,
        ["--batch-size", "at least 1"],
    ),
    (
        "unknown dtype",
        [
            "generate",
            "--model",
            "hf:{tmp}/m",
            "--input",
            "{prompts}",
            "--output",
            "{tmp}/o.jsonl",
            "--dtype",
            "float33",
        ],
        2,
        ["--dtype", "float33"],
    ),
    (
        "a cache that is not SQLite",
        [
            "generate",
            "--model",
            "hf:{tmp}/m",
            "--input",
            "{prompts}",
            "--output",
            "{tmp}/o.jsonl",
            "--cache",
            "{a_file}",
        ],
        2,
        ["not an SQLite database"],
    ),
    (
        "train --model with zero steps",
        ["train", "--model", "hf:{tmp}/m", "--data", "{records}", "--output", "{tmp}/out", "max_steps=0"],
        2,
        ["max_steps", "-1", ">= 1"],
    ),
    (
        "train --model from a directory that does not exist",
        ["train", "--model", "hf:{tmp}/m", "--data", "{records}", "--output", "{tmp}/out"],
        2,
        ["base model directory not found"],
    ),
    (
        "annotations given as a directory",
        ["score", "{a_dir}"],
        2,
        ["a_dir.json", "is a directory", "name a file"],
    ),
    ("annotations as a symlink loop", ["score", "{loop}"], 2, ["loop.json", "symlink loop"]),
    ("annotations as a FIFO (must not block)", ["score", "{fifo}"], 2, ["fifo.json", "named pipe (FIFO)"]),
    ("gzip bytes under a .json name", ["score", "{gzip_json}"], 2, ["gz.json", "gzip-compressed", "gunzip"]),
    (
        "JSON Lines where JSON is expected",
        ["score", "{jsonl_as_json}"],
        2,
        ["lines.json", "looks like JSON Lines", "wrap the objects in a list"],
    ),
    (
        "eval outputs given as a directory",
        [
            "eval",
            "--model-outputs",
            "{a_dir}",
            "--judge",
            "alpaca_eval:alpaca_eval_gpt4",
            "--output",
            "{tmp}/out",
        ],
        2,
        ["a_dir.json", "is a directory"],
    ),
    (
        "train on an assistant-first conversation",
        ["train", "--model", "hf:{tmp}", "--data", "{assistant_first}", "--output", "{tmp}/out"],
        2,
        ["assistant_first.jsonl:2", "starts with the 'assistant' role", "user turn must come first"],
    ),
    (
        "train on an all-empty conversation",
        ["train", "--model", "hf:{tmp}", "--data", "{all_empty}", "--output", "{tmp}/out"],
        2,
        ["all_empty.jsonl:1", "every message", "empty"],
    ),
    (
        "train on an empty --data file (no output directory left)",
        ["train", "--model", "hf:{tmp}", "--data", "{empty_jsonl}", "--output", "{tmp}/out"],
        2,
        ["empty.jsonl", "--data holds no records"],
    ),
    (
        "judge-agreement with @base, which only an experiment resolves",
        [
            "judge-agreement",
            "--judge",
            "local:weighted_alpaca_eval_gpt4_turbo:@base",
            "--annotations",
            "{annotations}",
        ],
        2,
        [
            "--judge 'local:weighted_alpaca_eval_gpt4_turbo:@base' names @base",
            "local:weighted_alpaca_eval_gpt4_turbo:hf:",
        ],
    ),
    (
        "judge-agreement's hint for a judge without a model names one it accepts",
        ["judge-agreement", "--judge", "local:alpaca_eval_gpt4", "--annotations", "{annotations}"],
        2,
        [
            "--judge 'local:alpaca_eval_gpt4' names no judge model",
            "local:weighted_alpaca_eval_gpt4_turbo:hf:/path",
        ],
    ),
    (
        "judge-agreement on a judge model directory that does not exist",
        [
            "judge-agreement",
            "--judge",
            "local:alpaca_eval_gpt4:hf:{tmp}/none",
            "--annotations",
            "{annotations}",
        ],
        2,
        ["--judge 'local:alpaca_eval_gpt4:hf:", "the judge model directory", "does not exist"],
    ),
    (
        "eval --judge errors name --judge, not eval.judge (no --output made)",
        ["eval", "--model-outputs", "{annotations}", "--judge", "oracle:nope", "--output", "{tmp}/out"],
        2,
        ["--judge 'oracle:nope': unknown control task 'nope'"],
    ),
    (
        "eval --judge with an unknown annotator",
        [
            "eval",
            "--model-outputs",
            "{annotations}",
            "--judge",
            "local:alpaca_eval_gpt3:hf:{tmp}",
            "--output",
            "{tmp}/out",
        ],
        2,
        [
            "--judge 'local:alpaca_eval_gpt3:hf:",
            "no annotator 'alpaca_eval_gpt3'",
            "did you mean 'alpaca_eval_gpt4'",
        ],
    ),
    (
        "score over annotations of several generators",
        ["score", "{two_generators}"],
        2,
        ["two.json", "judge 2 generators", "m1: 2", "m2: 2", "would blend the models", "--generator"],
    ),
    (
        "score --generator that no row has",
        ["score", "{two_generators}", "--generator", "m3"],
        2,
        ["no row has generator_2 'm3'"],
    ),
    (
        "preferences out of range are said, not silently dropped",
        ["score", "{out_of_range}"],
        0,
        ["5 of 7 row(s) not counted", "outside [1, 2]: 3", "NaN: 1", "null: 1"],
    ),
]


@pytest.mark.parametrize("probe,argv,code,fragments", FILE_PROBES, ids=[p[0] for p in FILE_PROBES])
def test_bad_files_and_commands_get_one_line(
    tmp_path: Path, probe: str, argv: list[str], code: int, fragments: list[str]
) -> None:
    files = {k: str(v) for k, v in _files(tmp_path).items()}
    args = [a.format(tmp=tmp_path, **files) for a in argv]
    proc = run_harness(*args, timeout=120)
    assert proc.returncode == code, (probe, proc.stdout[-2000:], proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert not (tmp_path / "results").exists() and not (tmp_path / "out").exists()


def test_read_only_places_and_unreadable_files_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What root (these tests' user) cannot see: a read-only runs or results directory (os.access says
    so) and an experiment file that cannot be read fail with the path and a fix, before any work."""
    import os

    from harness.commands._experiment import require_place_for
    from harness.core.config import load_yaml
    from harness.core.errors import ConfigError

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="runs directory .*runs cannot be written .*is read-only"):
        require_place_for(tmp_path / "runs", what="runs directory", fix="write elsewhere")
    assert not (tmp_path / "runs").exists()
    experiment = tmp_path / "e.yaml"
    experiment.write_text("name: e\n", encoding="utf-8")
    monkeypatch.setattr(
        Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
    )
    with pytest.raises(ConfigError, match=r"e\.yaml cannot be read \(Permission denied\)"):
        load_yaml(experiment)


def test_an_unreadable_data_file_is_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads every file, so the permission error is simulated at both places it can come from:
    os.access (checked first) and the open itself (for what os.access cannot foresee)."""
    import builtins
    import os

    from harness.core.errors import InputError
    from harness.core.io import read_json, read_jsonl

    data = tmp_path / "a.json"
    data.write_text("[]", encoding="utf-8")
    real_access, real_open = os.access, builtins.open
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if Path(p) == data else real_access(p, mode, **kw)
    )
    with pytest.raises(InputError, match=r"a\.json: cannot be read \(Permission denied\).*chmod"):
        read_json(data)
    monkeypatch.setattr(os, "access", real_access)

    def denied(file, *args, **kwargs):
        if Path(file) == data:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    for reader in (read_json, read_jsonl):
        with pytest.raises(InputError, match=r"a\.json: cannot be read \(Permission denied\)"):
            reader(data)


def test_an_api_judge_whose_server_is_unreachable_is_one_line_before_any_work(tmp_path: Path) -> None:
    """OPENAI_API_BASE at a port nothing listens on: a socket connect says so in seconds, instead of
    alpaca_eval's retries and hundreds of lines of tracebacks."""
    proc = run_harness(
        "eval",
        "--model-outputs",
        str(_other_outputs(tmp_path)),
        "--judge",
        "alpaca_eval:alpaca_eval_gpt4",
        "--eval-set",
        "bundled:demo",
        "--max-instances",
        "2",
        "--output",
        str(tmp_path / "out"),
        "--no-cache",
        env={
            "OPENAI_API_KEY": "sk-dummy",
            "OPENAI_API_BASE": "http://127.0.0.1:9",
            "OPENAI_CLIENT_CONFIG_PATH": str(tmp_path / "none.yaml"),
        },
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "cannot reach its server http://127.0.0.1:9" in err and "OPENAI_API_BASE" in err, err
    assert not (tmp_path / "out" / "annotations.json").exists()


def test_an_api_judge_without_its_key_is_said_by_the_dry_run(tmp_path: Path) -> None:
    """Not after every build and training: the dry run of an experiment judged by an API model says the key
    is missing (and prints no cost for a judge it could not call)."""
    env = {"HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "", "OPENAI_CLIENT_CONFIG_PATH": ""}
    proc = run_harness(
        "run", "--config", "paper-7b", "--runs-dir", str(tmp_path / "runs"), "--dry-run", env=env, timeout=120
    )
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    err = proc.stderr.strip().splitlines()[-1]  # after the unpinned hub source's warning
    assert "Traceback" not in proc.stderr and err.startswith("harness run: error: "), proc.stderr
    assert "OPENAI_API_KEY" in err and "is not set" in err and "judge cost estimate" not in proc.stdout, err
    assert not (tmp_path / "runs").exists()


def test_a_local_judge_says_it_has_no_cost_estimate(tmp_path: Path) -> None:
    proc = run_harness(
        "run",
        "--config",
        "demo",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--dry-run",
        env={"COLUMNS": "200"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no cost estimate: local judge" in proc.stdout, proc.stdout


def test_a_report_never_replaces_a_leaderboard_with_fewer_figures() -> None:
    from harness.stages.report import lost_figures

    old = {
        "rows": [{"dataset": "a", "win_rate": 50.0, "lc_win_rate": 40.0}, {"dataset": "b", "win_rate": 10.0}]
    }
    assert lost_figures(old, old) == []
    new = {"rows": [{"dataset": "a", "win_rate": 51.0, "lc_win_rate": None}]}
    assert lost_figures(old, new) == ["a: lc_win_rate", "row b"]
    more = {
        "rows": [
            {"dataset": "a", "win_rate": 1.0, "lc_win_rate": 2.0, "n_eval": 3},
            {"dataset": "b", "win_rate": 0.0},
        ]
    }
    assert lost_figures(old, more) == []


def test_a_local_file_or_folder_never_hides_a_shipped_name(tmp_path: Path) -> None:
    """`demo` and `tiny` folders in the current directory: the shipped experiment and recipe still win."""
    import subprocess
    import sys

    from _support import PROJECT_ROOT

    (tmp_path / "demo").mkdir()
    (tmp_path / "tiny").write_text("not a recipe")
    env = {"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "config", "--config", "demo", "train.recipe=tiny"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"name": "demo"' in proc.stdout


# ---------------------------------------------------------------- random overrides never crash the loader
KEYS = [
    "name",
    "base_model",
    "seed",
    "backend",
    "description",
    "seed_data.source",
    "seed_data.n",
    "corpus.source",
    "corpus.min_chars",
    "corpus.max_chars",
    "corpus.max_tokens",
    "corpus.dedup",
    "corpus.near_dup_threshold",
    "datasets.humpback.options.threshold",
    "datasets.humpback.options.iterations",
    "datasets.back_and_forth.options.variant",
    "datasets.back_and_forth.options.top_p",
    "datasets.distillation.options.teacher",
    "datasets.sharegpt.options.loader",
    "datasets.new.builder",
    "train.n",
    "train.learning_rate",
    "train.max_steps",
    "train.recipe",
    "train.mix_seed",
    "eval.judge",
    "eval.protocol",
    "eval.max_instances",
    "eval.decoding.temperature",
    "eval.decoding.top_p",
    "analysis.mauve_seeds",
    "analysis.reference",
    "decoding.max_tokens",
    "engine.batch_size",
    "unknown.key",
    "paper_results.humpback",
]


def _override_values():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(
            [
                "tiny:tiny",
                "hf:/nope",
                "@base",
                "bundled:demo",
                "1e-5",
                "[1, 2]",
                "{a: 1}",
                "baseline",
                "humpback",
                "'x: &a [*a]'",
            ]
        ),
    )
    return st.lists(st.tuples(st.sampled_from(KEYS), scalars), min_size=1, max_size=3)


def test_random_overrides_give_a_valid_config_or_one_line_naming_a_key(capsys: pytest.CaptureFixture) -> None:
    import json

    from hypothesis import HealthCheck, given, settings

    from harness.cli import main

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_override_values())
    def check(pairs: list[tuple[str, object]]) -> None:
        overrides = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in pairs]
        code = main(["config", "--config", "demo", *overrides])  # a traceback here fails the test
        out, err = capsys.readouterr()
        assert code in (0, 2), (overrides, code, err)
        if code == 0:
            assert json.loads(out)["name"], overrides
        else:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("harness config: error: "), (overrides, err)
            assert (
                any(k.split(".")[-1] in lines[0] or k in lines[0] for k, _ in pairs) or "override" in lines[0]
            ), (overrides, lines[0])

    check()


# ---------------------------------------------------------------- faults
def test_disk_full_while_writing_a_dataset_is_one_line_and_leaves_nothing_a_rerun_trusts(
    tmp_path: Path,
) -> None:
    """A file-size limit (RLIMIT_FSIZE, as a full disk would) stops the dataset write: one clear line,
    no dataset.jsonl, a failed manifest; the rerun without the limit builds it."""
    import subprocess
    import sys

    from _support import PROJECT_ROOT

    from harness.core.runs import read_manifest
    from harness.experiment import load_experiment
    from harness.stages import paths
    from harness.stages.base import ensure_base_model

    runs = tmp_path / "runs"
    exp = load_experiment("demo")
    ensure_base_model(exp, runs)  # the 3 MB model is written before the limit
    limited = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192)); from harness.cli import main; "
        f"sys.exit(main(['build', '--config', 'demo', '--only', 'alpaca_gpt4', '--runs-dir', {str(runs)!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", limited], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "cannot write" in proc.stderr and "dataset.jsonl" in proc.stderr
    d = paths.build_dir(exp, "alpaca_gpt4", runs)
    assert not (d / "dataset.jsonl").exists() and not list(d.glob(".dataset.jsonl.*"))
    assert read_manifest(d).status == "failed"

    ok = run_harness("build", "--config", "demo", "--only", "alpaca_gpt4", "--runs-dir", str(runs))
    assert ok.returncode == 0, ok.stderr[-2000:]
    m = read_manifest(d)
    assert m.ok and m.records("dataset.jsonl") == 48


def _other_outputs(tmp_path: Path) -> Path:
    """Outputs for the bundled demo eval set that differ from its references (so the judge is called)."""
    import json

    from _support import PROJECT_ROOT

    rows = json.loads((PROJECT_ROOT / "harness" / "data" / "demo_eval.json").read_text(encoding="utf-8"))
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps([{**r, "output": f"Answer {i}.", "generator": "mine"} for i, r in enumerate(rows)])
    )
    return path


def test_an_eval_in_which_no_judgment_counts_fails_and_says_why(tiny_model: Path, tmp_path: Path) -> None:
    """The text annotator on the random tiny model never yields a readable preference: no win rate, exit 2."""
    out = tmp_path / "out"
    proc = run_harness(
        "eval",
        "--model-outputs",
        str(_other_outputs(tmp_path)),
        "--eval-set",
        "bundled:demo",
        "--max-instances",
        "2",
        "--judge",
        f"local:alpaca_eval_gpt4:hf:{tiny_model}",
        "--output",
        str(out),
        "--cache",
        str(tmp_path / "cache.sqlite"),
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "none of the 2 judgments could be counted" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "annotations.json").is_file() and not (out / "metrics.json").exists()


def test_an_eval_directory_with_other_settings_is_not_replaced(tiny_model: Path, tmp_path: Path) -> None:
    out, outputs = tmp_path / "out", _other_outputs(tmp_path)
    args = [
        "eval",
        "--model-outputs",
        str(outputs),
        "--eval-set",
        "bundled:demo",
        "--judge",
        f"local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:hf:{tiny_model}",
        "--output",
        str(out),
        "--cache",
        str(tmp_path / "cache.sqlite"),
    ]
    first = run_harness(*args, "--max-instances", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    before = (out / "metrics.json").read_bytes()
    other = run_harness(*args, "--max-instances", "3")
    assert other.returncode == 2 and "holds a finished evaluation with other settings" in other.stderr, (
        other.stderr
    )
    assert (out / "metrics.json").read_bytes() == before
    forced = run_harness(*args, "--max-instances", "3", "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
