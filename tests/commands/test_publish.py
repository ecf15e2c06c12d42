"""`harness publish` up to the network call: what it would push (the card and the data files of a real
built dataset), one-line errors for a bad repository id or a missing model, and huggingface_hub's
own offline mode stopping it at the call with one line."""

from __future__ import annotations

from pathlib import Path

from _support import run_harness


def test_publish_a_built_dataset_up_to_the_network_call(tmp_path: Path, capsys):
    from huggingface_hub import DatasetCard

    from harness.cli import main
    from harness.experiment import load_experiment
    from harness.stages import build, paths

    runs = tmp_path / "runs"
    exp = load_experiment("demo")
    build.run(exp, runs, only=["sharegpt"])
    base = ["publish", "--config", "demo", "--runs-dir", str(runs), "--only", "sharegpt"]

    assert main([*base, "--to", "my-lab/demo-sharegpt", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "README.md, dataset.jsonl, drops.jsonl, manifest.json" in out and "nothing pushed" in out
    card = DatasetCard.load(paths.build_dir(exp, "sharegpt", runs) / "README.md")
    assert card.data.license == "other" and "baseline `sharegpt`" in card.text

    r = run_harness(*base, "--to", "my-lab/demo-sharegpt", env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "offline mode" in r.stderr and "Traceback" not in r.stderr

    assert main([*base, "--to", "not a repo"]) == 2
    err = capsys.readouterr().err
    assert "ORG/NAME" in err and err.count("\n") == 1, err
    assert main([*base, "--to", "my-lab/x", "--model", "--dry-run"]) == 2
    assert "harness train --config demo --only sharegpt" in capsys.readouterr().err
