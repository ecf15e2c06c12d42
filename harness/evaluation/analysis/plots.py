"""Plots of an analysis (matplotlib, Agg backend, no display needed).

`write_plots(analysis, "out.png")` writes
  - out.png         a 2-D PCA map of every set's embeddings (PCA fitted on all sets together),
  - out.lengths.png histograms of token lengths per set,
  - out.mauve.png   a heatmap of mean MAUVE between sets, when there are more than two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.evaluation.analysis.report import Analysis

_MAX_POINTS = 2000  # per set on the map; more only hides the others


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(f"{out.stem}.{suffix}{out.suffix or '.png'}")


def write_plots(analysis: Analysis, out: str | Path, *, seed: int = 0) -> list[Path]:
    """Write the plots next to `out`; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(analysis.embeddings)
    written = [
        _pca_map(analysis, names, out, seed),
        _length_histograms(analysis, names, _sibling(out, "lengths")),
    ]
    if len(names) > 2:
        written.append(_mauve_heatmap(analysis, names, _sibling(out, "mauve")))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pca_map(analysis: Analysis, names: list[str], path: Path, seed: int) -> Path:
    """Every set's embeddings (at most _MAX_POINTS each) on the first two components of one PCA of all sets."""
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    pca = PCA(n_components=2, random_state=seed).fit(np.concatenate(list(analysis.embeddings.values())))
    fig, ax = plt.subplots(figsize=(7, 6))
    for name in names:
        x = analysis.embeddings[name]
        if len(x) > _MAX_POINTS:
            x = x[rng.choice(len(x), _MAX_POINTS, replace=False)]
        xy = pca.transform(x)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.4, label=f"{name} (n={len(analysis.embeddings[name])})")
    ev = pca.explained_variance_ratio_
    ax.set(
        xlabel=f"PC1 ({ev[0]:.1%})",
        ylabel=f"PC2 ({ev[1]:.1%})",
        title=f"PCA of {analysis.report['embedder']['name']} embeddings",
    )
    ax.legend(markerscale=3)
    return _save(fig, path)


def _length_histograms(analysis: Analysis, names: list[str], path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    top = max(np.percentile(v, 99) for v in analysis.token_lengths.values()) or 1
    bins = np.linspace(0, top, 40)
    for name in names:
        ax.hist(np.clip(analysis.token_lengths[name], 0, top), bins=bins, alpha=0.5, label=name)
    ax.set(
        xlabel="tokens per text (regex words; clipped at the 99th percentile)",
        ylabel="texts",
        title="length distribution",
    )
    ax.legend()
    return _save(fig, path)


def _mauve_heatmap(analysis: Analysis, names: list[str], path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.eye(len(names))
    for p in analysis.report["pairs"]:
        i, j = names.index(p["a"]), names.index(p["b"])
        m[i, j] = m[j, i] = p["mauve"]["mean"]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 1.2 * len(names) + 2))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            label = "-" if i == j else f"{m[i, j]:.2f}"  # a set with itself is not measured
            ax.text(j, i, label, ha="center", va="center", color="w" if m[i, j] < 0.6 else "k")
    fig.colorbar(im, ax=ax, label="MAUVE (mean over seeds)")
    ax.set_title("MAUVE between sets")
    return _save(fig, path)
