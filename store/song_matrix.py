"""Every song's vectors in memory, one float32 matrix a vector field, scored exactly with numpy.

The structure only: which rows it holds, how it is searched, saved and loaded. The store keeps one beside
a Milvus Lite index and keeps it current (store/song_vectors.py).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

FLAGS = ("has_lyrics", "has_cover")
# The filters a matrix applies itself: "" and these clauses joined by "and" (search/engine.py and
# search/similar.py join clauses as "(a) and (b)"). Any other filter is Milvus's to apply.
_CLAUSES = {f"{flag} == true": flag for flag in FLAGS}


def filter_flags(expr: str) -> list[str] | None:
    """The flags a filter expression asks for, or None when it asks anything else."""
    flags = []
    for clause in expr.split(" and ") if expr else []:
        clause = clause.strip()
        while clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        if clause not in _CLAUSES:
            return None
        flags.append(_CLAUSES[clause])
    return flags


class SongMatrix:
    """Rows of songs: id, whether it is still stored, its flags and one unit vector per field."""

    def __init__(self, dims: dict[str, int], capacity: int = 1024):
        self.dims = dict(dims)
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.vectors = {f: np.zeros((capacity, d), np.float32) for f, d in self.dims.items()}
        self.flags = {f: np.zeros(capacity, bool) for f in FLAGS}
        self.alive = np.zeros(capacity, bool)

    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.vectors.values())

    def put(self, rows: list[dict]) -> None:
        """Add or replace songs (rows as the store writes them: id, flags, a list or array per field)."""
        for row in rows:
            i = self.row_of.get(row["id"])
            if i is None:
                i = len(self.ids)
                self._room(i + 1)
                self.ids.append(row["id"])
                self.row_of[row["id"]] = i
            for f in self.dims:
                self.vectors[f][i] = row[f]
            for f in FLAGS:
                self.flags[f][i] = bool(row.get(f))
            self.alive[i] = True

    def delete(self, ids) -> None:
        for sid in ids:
            i = self.row_of.pop(sid, None)
            if i is not None:
                self.alive[i] = False
                self.ids[i] = ""

    def search(self, field: str, vector: np.ndarray, limit: int, expr: str = "") -> list[tuple[str, float]] | None:
        """The `limit` songs whose `field` vector has the highest inner product with `vector` among those that
        pass `expr`, best first: [(id, score)]; None when `expr` is a filter this matrix cannot apply."""
        flags = filter_flags(expr)
        if flags is None or field not in self.dims:
            return None
        n = len(self.ids)
        scores = self.vectors[field][:n] @ np.asarray(vector, np.float32)
        keep = self.alive[:n].copy()
        for f in flags:
            keep &= self.flags[f][:n]
        scores[~keep] = -np.inf
        limit = min(int(limit), int(keep.sum()))
        if limit <= 0:
            return []
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top]

    def score(self, field: str, vector: np.ndarray, ids, expr: str = "") -> list[tuple[str, float]] | None:
        """The inner product of `vector` with each of these songs' `field` vectors, for those stored that pass
        `expr`: [(id, score)] in no order; None when `expr` is a filter this matrix cannot apply."""
        flags = filter_flags(expr)
        if flags is None or field not in self.dims:
            return None
        rows = [(sid, i) for sid in ids if (i := self.row_of.get(sid)) is not None
                and all(self.flags[f][i] for f in flags)]
        if not rows:
            return []
        at = np.fromiter((i for _, i in rows), np.int64, len(rows))
        scores = self.vectors[field][at] @ np.asarray(vector, np.float32)
        return [(sid, float(s)) for (sid, _), s in zip(rows, scores)]

    def save(self, path: Path) -> None:
        """Write the matrix to `path` whole or not at all (a reader sees the old file or the new one)."""
        n = len(self.ids)
        part = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(part, "wb") as f:
                np.savez(f, ids=np.array(self.ids, dtype=str), alive=self.alive[:n],
                         **{f"flag_{k}": v[:n] for k, v in self.flags.items()},
                         **{f"vec_{k}": v[:n] for k, v in self.vectors.items()})
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, dims: dict[str, int]) -> "SongMatrix":
        """A matrix `save` wrote, for these fields and dimensions (else ValueError)."""
        with np.load(path, allow_pickle=False) as saved:
            ids = saved["ids"].tolist()
            matrix = cls(dims, capacity=max(len(ids), 1))
            for f, d in dims.items():
                v = saved[f"vec_{f}"]
                if v.shape != (len(ids), d):
                    raise ValueError(f"its {f} vectors are {v.shape}, the index's are ({len(ids)}, {d})")
                matrix.vectors[f][: len(ids)] = v
            for f in FLAGS:
                matrix.flags[f][: len(ids)] = saved[f"flag_{f}"]
            matrix.alive[: len(ids)] = saved["alive"]
        matrix.ids = [sid if alive else "" for sid, alive in zip(ids, matrix.alive[: len(ids)])]
        matrix.row_of = {sid: i for i, sid in enumerate(matrix.ids) if sid}
        return matrix

    def _room(self, rows: int) -> None:
        """Grow the arrays (doubling) to hold at least `rows` rows."""
        capacity = len(self.alive)
        if rows <= capacity:
            return
        capacity = max(rows, 2 * capacity)
        for f, v in self.vectors.items():
            self.vectors[f] = _grown(v, capacity)
        for f, v in self.flags.items():
            self.flags[f] = _grown(v, capacity)
        self.alive = _grown(self.alive, capacity)


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, *array.shape[1:]), array.dtype)
    out[: len(array)] = array
    return out
