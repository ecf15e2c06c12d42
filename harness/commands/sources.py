"""`harness sources --config EXPERIMENT [--resolve]`: every public source an experiment reads.

One line per source (the seed set, the corpus, each baseline, the eval set): which repository and
files, the revision it is pinned to (or "not pinned"), and where it would be read from here (the
`HARNESS_HUB_MIRROR` copy with the commit it records, a local directory, or the Hub). `--resolve`
asks the Hub for the commit each source's revision points at now, the value to pin with
`@<commit>`; it needs Hub access and exits 1 when a source cannot be resolved. Reads no data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.commands._experiment import add_experiment_arguments, load
from harness.experiment import is_local_source


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument("--resolve", action="store_true", help="ask the Hub for the current commit of each source")
    p.add_argument("--json", action="store_true", help="print the sources as a JSON list")


def experiment_sources(exp) -> list[dict[str, Any]]:
    """(key, source, revision, files) of every repository or local copy the experiment reads."""
    from harness.core import sources
    from harness.evaluation import eval_set

    out: list[dict[str, Any]] = []

    def add(key: str, source: str, revision: str | None, files: Any) -> None:
        ref = sources.parse_ref(source, key=key, revision=revision)
        out.append(
            {
                "key": key,
                "source": f"{ref.kind}:{ref.repo}" if ref.kind != "local" else ref.repo,
                "revision": ref.revision,
                "pinned": ref.pinned or ref.kind == "local",
                "files": files,
            }
        )

    seed = exp.seed_data.source
    if seed.startswith("hub:") or _is_dir(seed):
        from datasets_builders.seed import OASST_FILES

        add("seed_data.source", seed, None, OASST_FILES)
    corpus = exp.corpus
    if sources.is_remote(corpus.source) or _is_dir(corpus.source):
        add(
            "corpus.source",
            corpus.source,
            None,
            [f"{corpus.url_list} (URLs{' matching ' + corpus.data_files if corpus.data_files else ''})"]
            if corpus.url_list
            else [corpus.data_files or "*"],
        )
    import baselines

    for name, spec in exp.datasets.items():
        if spec.builder != "baseline":
            continue
        opts = baselines.Options(**spec.options)
        extra = baselines.fingerprint_extra(opts)
        if extra and extra.get("source"):
            add(f"datasets.{name}", extra["source"], extra["revision"], extra["files"])
        elif opts.path and _is_dir(opts.path):
            add(f"datasets.{name}", opts.path, None, opts.files or baselines.source_module(opts.loader).FILES)
    ev = exp.eval.eval_set
    if eval_set.is_hub_source(ev):
        proto = eval_set.get_protocol(exp.eval.protocol)
        add(
            "eval.eval_set",
            eval_set.HUB_SOURCE if ev == "hub" else ev,
            eval_set.HUB_REVISION if ev == "hub" else None,
            [proto.hub_file],
        )
    for row in out:
        row["read_from"] = _read_from(row)
    return out


def _is_dir(value: str) -> bool:
    return is_local_source(value) and Path(value).expanduser().is_dir()


def _read_from(row: dict[str, Any]) -> str:
    from harness.core import sources

    if not sources.is_remote(row["source"]):
        commit = sources.recorded_commit(Path(row["source"]))
        return f"local copy (commit {commit[:12]})" if commit else "local copy (no commit recorded)"
    local = sources.mirror_dir(sources.parse_ref(row["source"], key=row["key"], revision=row["revision"]))
    if local is not None:
        commit = sources.recorded_commit(local)
        return f"{sources.MIRROR_ENV} copy {local}" + (f" (commit {commit[:12]})" if commit else "")
    return "the Hub" if row["source"].startswith("hub:") else "GitHub"


def resolve(row: dict[str, Any]) -> str:
    """The commit the source's revision (or main) points at now, from the Hub."""
    from harness.core import sources

    if row["source"].startswith("github:") or not sources.is_remote(row["source"]):
        return row["revision"] or "-"
    from huggingface_hub import HfApi

    repo = row["source"].split(":", 1)[1]
    return HfApi().dataset_info(repo, revision=row["revision"]).sha or "?"


def run(args: argparse.Namespace) -> int:
    exp = load(args)
    rows = experiment_sources(exp)
    failed = 0
    if args.resolve:
        for row in rows:
            try:
                row["resolved"] = resolve(row)
            except Exception as e:  # offline, gated, unknown revision: said per source, exit 1
                row["resolved"] = None
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                failed += 1
    if args.json:
        print(json.dumps(rows, indent=1))
        return 1 if failed else 0
    for row in rows:
        pin = (
            row["revision"]
            if row["pinned"] and row["revision"]
            else ("local" if row["pinned"] else "NOT PINNED")
        )
        line = (
            f"{row['key']:<28} {row['source']}  files: {', '.join(map(str, row['files']))}  revision: {pin}  "
            f"read from: {row['read_from']}"
        )
        if args.resolve:
            line += (
                f"  now: {row['resolved']}" if row.get("resolved") else f"  cannot resolve ({row['error']})"
            )
        print(line)
    unpinned = [r["key"] for r in rows if not r["pinned"]]
    if unpinned:
        print(
            f"{len(unpinned)} source(s) not pinned: {', '.join(unpinned)}; pin with @<commit> "
            "(`--resolve` prints the current commit)"
        )
    return 1 if failed else 0
