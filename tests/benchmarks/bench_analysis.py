"""Benchmark: `harness analyze` cost for N vs N texts, split into embedding, MAUVE and classifiers.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_analysis.py [--n 10000]
Texts are synthesised from sentences of the real AlpacaEval outputs in ../shared: set A mixes
2-5 sentences of gpt4 / gpt4_1106_preview answers, set B of alpaca-7b / llama-2 / text-davinci-003
answers; text i of A and of B share the made-up instruction "prompt i", so the paired classifier
runs too. It prints
  * wall time and peak RSS (the process's high-water mark after each phase) for: loading the
    embedder, embedding 2N texts through our cached wrapper (cold cache), MAUVE (several seeds),
    the unpaired and the paired classifier, and the per-set measures (diversity, near-duplicates);
  * embeddings/s of our wrapper (cold cache) vs `SentenceTransformer.encode` called directly with
    the same arguments on the same model, on --direct texts, interleaved in chunks so that load
    from other processes hits both alike;
  * with --prefill K, only K texts of each set are encoded (for a machine too loaded to encode
    20,000 texts in reasonable time): the cache is filled with vectors drawn from a Gaussian fitted
    to their MiniLM embeddings, per set (same mean and covariance, unit-normalised), so MAUVE's
    k-means sees the real spectrum. The cached-rerun figures do not depend on the vectors; MAUVE's
    and the classifiers' times are close to, not equal to, those on real embeddings;
  * the real CLI on the same files twice: first with the embeddings cached (MAUVE, the noise
    floors, the classifiers and their bootstraps are computed and stored), then fully cached (the
    measures come from the results cache): wall time and peak RSS of each, and for the fully
    cached run the top entries of a cProfile, so one sees where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT / ".." / "shared" / "data" / "alpaca_eval" / "model_outputs"
POOLS = {"A": ("gpt4", "gpt4_1106_preview"), "B": ("alpaca-7b", "llama-2-7b-chat-hf", "text_davinci_003")}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def sentences(models: tuple[str, ...]) -> list[str]:
    out = []
    for m in models:
        for row in json.loads((DATA / f"{m}.json").read_text()):
            out += [
                s.strip()
                for s in re.split(r"(?<=[.!?])\s+", row["output"] or "")
                if 20 <= len(s.strip()) <= 300
            ]
    return out


def synthesise(n: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        name: [" ".join(rng.choices(pool, k=rng.randint(2, 5))) for _ in range(n)]
        for name, pool in ((k, sentences(v)) for k, v in POOLS.items())
    }


def timed(label: str, results: dict[str, tuple[float, float]], fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    results[label] = (time.perf_counter() - t0, peak_mib())
    print(f"  {label:<34} {results[label][0]:8.1f} s   peak RSS {results[label][1]:7.0f} MiB", flush=True)
    return out


def direct_vs_wrapper(texts: list[str], cache: Path, chunk: int = 250) -> tuple[float, float]:
    """Seconds for encode() called directly and for our wrapper (cold cache), on the same loaded model."""
    from harness.evaluation.analysis.embeddings import Embedder, SentenceEncoder

    encoder = SentenceEncoder()
    model = encoder.model
    wrapper = Embedder(encoder, cache)
    direct_s = wrapper_s = 0.0
    for k, start in enumerate(range(0, len(texts), chunk)):
        part = texts[start : start + chunk]
        runs = [
            (
                "direct",
                lambda p=part: model.encode(
                    p,
                    batch_size=encoder.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
            ),
            ("wrapper", lambda p=part: wrapper.embed(p)),
        ]
        for name, fn in runs if k % 2 == 0 else runs[::-1]:  # alternate who goes first
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if name == "direct":
                direct_s += dt
            else:
                wrapper_s += dt
    assert wrapper.encoded == len(set(texts))
    return direct_s, wrapper_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="texts per set")
    ap.add_argument("--direct", type=int, default=2000, help="texts for the wrapper-vs-encode comparison")
    ap.add_argument("--mauve-seeds", type=int, default=5)
    ap.add_argument(
        "--threads", type=int, default=1, help="BLAS/OpenMP threads for MAUVE and classifiers (0: all)"
    )
    ap.add_argument(
        "--prefill",
        type=int,
        default=0,
        metavar="K",
        help="encode K texts per set and fill the cache from a Gaussian fitted to them (see above)",
    )
    args = ap.parse_args()

    import numpy as np
    from threadpoolctl import threadpool_limits

    from harness.evaluation.analysis.contamination import near_duplicates
    from harness.evaluation.analysis.diversity import ngram_diversity, tokenize
    from harness.evaluation.analysis.embeddings import make_embedder
    from harness.evaluation.analysis.mauve import mauve_score
    from harness.evaluation.analysis.report import halves
    from harness.evaluation.analysis.separability import classifier_separability, paired_separability

    sets = synthesise(args.n, seed=0)
    extra = synthesise(args.direct // 2, seed=1)  # fresh texts, so the comparison never hits the main cache
    tmp = Path(tempfile.mkdtemp(prefix="bench_analysis_"))
    print(
        f"{args.n} vs {args.n} texts (mean {np.mean([len(t) for t in sets['A'] + sets['B']]):.0f} chars); "
        f"work dir {tmp}",
        flush=True,
    )
    r: dict[str, tuple[float, float]] = {}

    if args.direct:  # 0 skips the comparison
        print(f"wrapper vs direct encode on {args.direct} texts:", flush=True)
        direct_s, wrapper_s = direct_vs_wrapper(extra["A"] + extra["B"], tmp / "cache-compare")
        m = len(extra["A"]) + len(extra["B"])
        print(
            f"  direct encode {m / direct_s:7.1f} texts/s   our wrapper (cold cache) {m / wrapper_s:7.1f} texts/s   "
            f"overhead {100 * (wrapper_s / direct_s - 1):+.1f}%",
            flush=True,
        )

    print("pipeline:", flush=True)
    emb = make_embedder(cache_dir=tmp / "cache")
    if args.prefill:
        from harness.evaluation.analysis.embeddings import text_key

        rng = np.random.default_rng(0)
        for texts in sets.values():
            sample = emb.embed(texts[: args.prefill]).astype(np.float64)
            tokens = emb.token_counts(texts[: args.prefill])
            v = rng.multivariate_normal(
                sample.mean(0), np.cov(sample, rowvar=False), size=len(texts), method="eigh"
            ).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            rest = range(args.prefill, len(texts))
            emb.cache.put_many(
                emb.identity, [(text_key(texts[i]), v[i].tobytes(), tokens[i % args.prefill]) for i in rest]
            )
        print(
            f"  (encoded {args.prefill} texts a set; the rest are vectors drawn from a Gaussian fitted to them: "
            f"MAUVE and classifier times below are on those)",
            flush=True,
        )
        emb = make_embedder(cache_dir=tmp / "cache")
        ea, eb = emb.embed(sets["A"]), emb.embed(sets["B"])
        assert emb.encoded == 0
    else:
        timed("load embedder", r, lambda: emb.encoder.model)
        ea = timed(f"embed A ({args.n}, cold cache)", r, emb.embed, sets["A"])
        eb = timed(f"embed B ({args.n}, cold cache)", r, emb.embed, sets["B"])
        rate = (
            2 * args.n / (r[f"embed A ({args.n}, cold cache)"][0] + r[f"embed B ({args.n}, cold cache)"][0])
        )
        print(f"  -> {rate:.1f} texts/s through the wrapper", flush=True)
    threads = args.threads or None
    with threadpool_limits(limits=threads):
        mv = timed(
            f"MAUVE ({args.mauve_seeds} seeds)", r, mauve_score, ea, eb, seeds=tuple(range(args.mauve_seeds))
        )
        ins = [f"prompt {i}" for i in range(args.n)]
        clf = timed(
            "classifier (5-fold, grouped, bootstrap)",
            r,
            classifier_separability,
            ea,
            eb,
            instructions_a=ins,
            instructions_b=ins,
        )
        pc = timed("paired classifier (5-fold, bootstrap)", r, paired_separability, ea, eb)
        h1, h2 = halves(ins, 0)
        timed(
            f"noise floor of A: MAUVE ({len(h1)} vs {len(h2)})",
            r,
            mauve_score,
            ea[h1],
            ea[h2],
            seeds=tuple(range(args.mauve_seeds)),
        )
        timed("noise floor of A: classifier", r, classifier_separability, ea[h1], ea[h2])
    timed(
        "diversity (both sets)", r, lambda: [ngram_diversity([tokenize(t) for t in s]) for s in sets.values()]
    )
    timed(
        "near-duplicates (both sets)",
        r,
        lambda: [near_duplicates(s, e) for s, e in zip(sets.values(), (ea, eb), strict=True)],
    )
    print(
        f"  MAUVE {mv['mean']:.3f}±{mv['std']:.3f}, accuracy {clf['classifier_accuracy']['mean']:.3f} "
        f"({clf['cv']['kind']}), "
        f"AUC {clf['classifier_auc']['mean']:.3f}, paired {pc['paired_accuracy']['mean']:.3f}",
        flush=True,
    )

    files = []
    for name, texts in sets.items():
        path = tmp / f"{name}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"instruction": f"prompt {i}", "output": t}) + "\n" for i, t in enumerate(texts)
            )
        )
        files.append(str(path))
    # The child reports its own high-water mark (VmHWM): getrusage(RUSAGE_CHILDREN) would count the
    # memory of this big process that the child inherits between fork and exec.
    code = (
        "import atexit, sys; atexit.register(lambda: print('VmHWM', next(l.split()[1] for l in "
        "open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)); "
        "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    child = tmp / "child.py"
    child.write_text(code.replace("; ", "\n") + "\n")
    cli = [
        "analyze",
        *files,
        "--json",
        "--cache",
        str(tmp / "cache"),
        "--mauve-seeds",
        str(args.mauve_seeds),
        "--threads",
        str(args.threads),
    ]
    for label, profile in (
        ("CLI, embeddings cached, measures computed", False),
        ("CLI rerun, fully cached", False),
        ("CLI rerun, fully cached, under cProfile", True),
    ):
        prof = tmp / "rerun.prof"
        pre = ["-m", "cProfile", "-o", str(prof)] if profile else []
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, *pre, str(child), *cli],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        wall = time.perf_counter() - t0
        if out.returncode:
            sys.exit(out.stderr)
        child_peak = int(out.stderr.split("VmHWM")[-1].split()[0]) / 1024
        print(
            f"{label} (harness analyze --json): {wall:.1f} s wall, peak RSS {child_peak:.0f} MiB", flush=True
        )
    import pstats

    print("where the fully cached rerun spends its time (cProfile, cumulative, top entries):")
    pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(12)


if __name__ == "__main__":
    main()
