"""Every read of a VectorStore: counts, song rows, and the searches of songs, windows, chunks and prints.

`StoreReads` is the read half of `VectorStore` (store/milvus.py), which provides the client, the
collection names and the layout; filter expressions are built with `quote` and `quote_list`.
"""

from __future__ import annotations

import json

import numpy as np

from . import schema

QUERY_PAGE = 1000
MAX_IN_FILTER = 500  # ids per `id in [...]` expression
MAX_SEARCH_LIMIT = 16384  # the most hits one Milvus search returns


def quote(value: str) -> str:
    """A Milvus string literal: quotes and backslashes escaped, other characters as they are
    (Milvus does not read JSON's \\uXXXX escapes, so "Åkesson" must stay "Åkesson")."""
    return json.dumps(str(value), ensure_ascii=False)


def quote_list(values) -> str:
    """A Milvus expression list of string literals: ["a", "b"]."""
    return json.dumps([str(v) for v in values], ensure_ascii=False)


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


class StoreReads:
    """Reads and searches; mixed into VectorStore."""

    # -- reads ---------------------------------------------------------------------------------
    def count(self, filter: str = "") -> int:
        rows = self.client.query(self.songs, filter=filter, output_fields=["count(*)"],
                                 **self._consistency(self.songs))
        return int(rows[0]["count(*)"])

    def count_parts(self) -> tuple[int, int]:
        """(audio windows, lyric chunks) stored."""
        counts = [self.client.query(name, filter="", output_fields=["count(*)"], **self._consistency(name))
                  for name in (self.windows, self.chunks)]
        return int(counts[0][0]["count(*)"]), int(counts[1][0]["count(*)"])

    def stored_parts(self) -> dict[str, dict]:
        """Rows and bytes per row of each kind of part vector ("windows", "prints"): the fields as Milvus
        holds them (8 bytes per number, 4 per float dimension, an eighth per bit, a string's characters
        plus an 8-byte offset), without Milvus's own 16 bytes a row (row id and timestamp)."""
        out = {}
        for kind in ("windows", "prints"):
            name = getattr(self, kind)
            rows = int(self.client.query(name, filter="", output_fields=["count(*)"], **self._consistency(name))[0]["count(*)"])
            size = 0
            for f in self.client.describe_collection(name)["fields"]:
                dtype, params = getattr(f["type"], "name", str(f["type"])), f.get("params", {})
                if dtype == "FLOAT_VECTOR":
                    size += 4 * int(params["dim"])
                elif dtype == "VARCHAR":  # a song id (16 hexadecimal characters) or print codes, and an offset
                    size += int(params.get("max_length", 16) if f["name"] == "codes" else 16) + 8
                else:
                    size += 8
            out[kind] = {"rows": rows, "bytes_per_row": size}
        return out

    def iter_songs(self, output_fields: list[str], filter: str = ""):
        """Every song row (only the asked fields), page by page."""
        own, side = self._split_fields(output_fields)
        it = self.client.query_iterator(self.songs, batch_size=QUERY_PAGE, filter=filter, output_fields=own,
                                        **self._consistency(self.songs))
        try:
            while True:
                page = it.next()
                if not page:
                    break
                self._add_side_vectors(page, side)
                yield from page
        finally:
            it.close()

    def get_songs(self, ids: list[str], output_fields: list[str] | None = None) -> dict[str, dict]:
        own, side = self._split_fields(output_fields)
        out = {}
        for part in batches(list(ids), MAX_IN_FILTER):
            rows = self.client.query(self.songs, filter=f"id in {quote_list(part)}", output_fields=own,
                                     **self._consistency(self.songs))
            self._add_side_vectors(rows, side)
            out.update({row["id"]: row for row in rows})
        return out

    def query_rows(self, filter: str, limit: int) -> list[dict]:
        """Up to `limit` whole song rows (every scalar and song vector) matching a filter."""
        rows = self.client.query(self.songs, filter=filter, output_fields=["*"], limit=limit,
                                 **self._consistency(self.songs))
        self._add_side_vectors(rows, self._side_fields())
        return rows

    def song_windows(self, song_ids: list[str], known: dict[str, dict] | None = None) -> list[dict]:
        """Every stored audio window of these songs, with its vector: [{song_id, start, end, vector}] in no
        particular order. `known`: song rows already read (with key and extra), by id. (Their prints:
        `song_print_keys`, store/prints.py.)"""
        songs = self._rows_with_parts(song_ids, known)
        ids = [schema.part_key(row["key"], n) for row in songs.values()
               for n in range(int(((row.get("extra") or {}).get("parts") or {}).get("windows", 0)))]
        fields = ["song_id", "start", "end", "vector"]
        out = []
        copies = self.window_copies
        if copies is not None:
            out, ids = self._copied_windows(songs, ids)
        if ids and self.is_server:
            for part in batches(ids, QUERY_PAGE):
                out += self.client.query(self.windows, ids=part, output_fields=fields, **self._consistency(self.windows))
        elif ids:
            read = self._parts_by_search(self.windows, ids, fields)
            if copies is not None:
                self._copy_windows(songs, read)
            out += read
        return out

    def song_chunks(self, song_ids: list[str], known: dict[str, dict] | None = None) -> list[dict]:
        """Every stored lyric chunk of these songs, with its vector: [{song_id, text, vector}] in no particular
        order, read by key (Milvus Lite: a search filtered to the songs' key ranges), not by a filter on
        every stored chunk's song id. `known`: song rows already read (with key and extra), by id."""
        songs = self._rows_with_parts(song_ids, known)
        ids = [schema.part_key(row["key"], n) for row in songs.values()
               for n in range(int(((row.get("extra") or {}).get("parts") or {}).get("chunks", 0)))]
        fields = ["song_id", "text", "vector"]
        if not ids:
            return []
        if self.is_server:
            return [r for part in batches(ids, QUERY_PAGE)
                    for r in self.client.query(self.chunks, ids=part, output_fields=fields, **self._consistency(self.chunks))]
        return self._parts_by_search(self.chunks, ids, fields)

    def _rows_with_parts(self, song_ids: list[str], known: dict[str, dict] | None) -> dict[str, dict]:
        """The rows (id, key, extra) of these songs: those in `known` as they are, the others read."""
        known = {sid: known[sid] for sid in song_ids if sid in (known or {}) and "key" in known[sid] and "extra" in known[sid]}
        return known | self.get_songs([sid for sid in song_ids if sid not in known], ["id", "key", "extra"])

    def _copied_windows(self, songs: dict[str, dict], ids: list[int]) -> tuple[list[dict], list[int]]:
        """(the windows of these songs that have a valid copy beside the index, the part keys still to read)."""
        versions = {row["key"]: _parts_version(row) for row in songs.values()}
        copied = self.window_copies.get(self.prefix, versions)
        out = [{"song_id": sid, "start": float(s), "end": float(e), "vector": v}
               for sid, row in songs.items() if row["key"] in copied
               for s, e, v in zip(*copied[row["key"]])]
        return out, [i for i in ids if (i >> schema.PART_BITS) not in copied]

    def _copy_windows(self, songs: dict[str, dict], read: list[dict]) -> None:
        """Copy the windows just read from Milvus, for each song whose windows were all there."""
        by_key: dict[int, list[dict]] = {}
        for r in read:
            by_key.setdefault(r["id"] >> schema.PART_BITS, []).append(r)
        copies = []
        for row in songs.values():
            got = sorted(by_key.get(row["key"], []), key=lambda r: r["id"])
            if got and len(got) == int(((row.get("extra") or {}).get("parts") or {}).get("windows", 0)):
                copies.append((row["key"], _parts_version(row), [r["start"] for r in got], [r["end"] for r in got],
                               np.asarray([r["vector"] for r in got], np.float32)))
        self.window_copies.put(self.prefix, copies)

    def _parts_by_search(self, collection: str, ids: list[int], fields: list[str]) -> list[dict]:
        """Rows of these part keys, read through a search filtered to the keys' ranges (a song's parts lie in
        one). Milvus Lite answers a query by primary key with a scan of every row (~0.1 s at 400,000 windows);
        a filtered FLAT search finds the keys' rows and scores only those, so it returns exactly them, fast.
        (A server's HNSW search may skip rows that pass a filter; servers read by query.)"""
        runs: dict[int, list[int]] = {}  # each song's asked keys, consecutive part numbers
        for i in sorted(ids):
            runs.setdefault(i >> schema.PART_BITS, []).append(i)
        pieces = [run[i : i + MAX_SEARCH_LIMIT] for run in runs.values() for i in range(0, len(run), MAX_SEARCH_LIMIT)]
        zero = [[0.0] * self._dim(collection)]
        out, group = [], []
        for piece in [*pieces, None]:
            if piece is not None and sum(map(len, group)) + len(piece) <= MAX_SEARCH_LIMIT:
                group.append(piece)
                continue
            if not group:
                break
            flt = " or ".join(f"(id >= {p[0]} and id <= {p[-1]})" for p in group)
            res = self.client.search(collection, data=zero, anns_field="vector", filter=flt, limit=sum(map(len, group)),
                                     output_fields=fields, search_params=self._search_params(1),
                                     **self._consistency(collection))
            wanted = {i for p in group for i in p}
            out += [{"id": h["id"], **h["entity"]} for h in res[0] if h["id"] in wanted]
            group = [piece]
        return out

    def _dim(self, collection: str) -> int:
        """The dimension of a collection's vector field."""
        desc = self.client.describe_collection(collection)
        return next(f["params"]["dim"] for f in desc["fields"] if "dim" in f.get("params", {}))

    def _split_fields(self, fields: list[str] | None) -> tuple[list[str] | None, list[str]]:
        """(fields kept in the songs collection, side vector fields) of an output field list."""
        if fields is None or not self.split:
            return fields, []
        if "*" in fields:
            return fields, self._side_fields()
        side = [f for f in fields if f in self._side_fields()]
        return [f for f in fields if f not in side] or ["id"], side

    def _add_side_vectors(self, rows: list[dict], side: list[str]) -> None:
        if not side or not rows:
            return
        ids = quote_list([r["id"] for r in rows])
        for f in side:
            rows_f = self.client.query(self.side(f), filter=f"id in {ids}", output_fields=["vector"],
                                       **self._consistency(self.side(f)))
            vectors = {r["id"]: r["vector"] for r in rows_f}
            for r in rows:
                r[f] = vectors.get(r["id"])

    def search(self, field: str, vector: np.ndarray, limit: int, filter: str = "", output_fields=None) -> list[dict]:
        """Songs nearest to `vector` in one vector field: [{id, distance, entity}] best first."""
        matrix = self.song_matrix()
        found = matrix.search(field, vector, limit, filter) if matrix is not None else None
        if found is not None:
            rows = self.get_songs([sid for sid, _ in found], ["id", *output_fields]) if output_fields and found else {}
            return [{"id": sid, "distance": score, "entity": {k: rows.get(sid, {}).get(k) for k in output_fields or ()}}
                    for sid, score in found]
        collection, anns = (self.side(field), "vector") if field in self._side_fields() else (self.songs, field)
        res = self.client.search(
            collection, data=[np.asarray(vector, np.float32).tolist()], anns_field=anns, limit=limit,
            filter=filter, output_fields=[] if collection != self.songs else output_fields or [],
            search_params=self._search_params(limit), **self._consistency(collection),
        )
        hits = list(res[0])
        if output_fields and collection != self.songs:
            rows = self.get_songs([h["id"] for h in hits], ["id", *output_fields])
            for h in hits:
                h["entity"] = {k: rows.get(h["id"], {}).get(k) for k in output_fields}
        return hits

    def score(self, field: str, vector: np.ndarray, ids: list[str], filter: str = "") -> list[dict]:
        """The similarity to `vector` of each of these songs that passes `filter`: [{id, distance}], best first."""
        matrix = self.song_matrix()
        found = matrix.score(field, vector, ids, filter) if matrix is not None else None
        if found is not None:
            hits = [{"id": sid, "distance": score} for sid, score in found]
        else:
            hits = []
            for part in batches(list(ids), MAX_IN_FILTER):
                flt = f"id in {quote_list(part)}"
                hits += self.search(field, vector, len(part), f"({filter}) and ({flt})" if filter else flt)
        return sorted(hits, key=lambda h: -float(h["distance"]))

    def search_windows(self, vector: np.ndarray, limit: int, song_ids: list[str] | None = None) -> list[dict]:
        """Audio windows nearest to `vector` (of these songs only, if given): [{id, distance, entity: {song_id,
        start, end}}] best first."""
        flt = f"song_id in {quote_list(song_ids)}" if song_ids else ""
        res = self.client.search(
            self.windows, data=[np.asarray(vector, np.float32).tolist()], anns_field="vector", limit=limit,
            filter=flt, output_fields=["song_id", "start", "end"], search_params=self._search_params(limit),
            **self._consistency(self.windows),
        )
        return list(res[0])

    def ids_passing(self, ids: list[str], filter: str) -> set[str]:
        """Those of these song ids whose rows pass a filter expression."""
        out = set()
        for part in batches(list(ids), MAX_IN_FILTER):
            rows = self.client.query(self.songs, filter=f"(id in {quote_list(part)}) and ({filter})",
                                     output_fields=["id"], **self._consistency(self.songs))
            out |= {r["id"] for r in rows}
        return out

    def songs_by_key(self, keys, filter: str = "") -> dict[int, str]:
        """Song ids of these integer keys (only songs that pass `filter`, if given): {key: id}."""
        out = {}
        for part in batches(sorted(keys), MAX_IN_FILTER):
            flt = f"key in {list(part)}" + (f" and ({filter})" if filter else "")
            rows = self.client.query(self.songs, filter=flt, output_fields=["id", "key"], **self._consistency(self.songs))
            out.update({r["key"]: r["id"] for r in rows})
        return out

    def _search_params(self, limit: int) -> dict:
        if self.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(64, limit * 2)}}
        return {"metric_type": "IP", "params": {}}


def _parts_version(row: dict) -> str:
    """What names a song's stored parts: the nonce written with them; rows written before there was one
    name theirs by count (any rewrite of those parts writes a nonce)."""
    extra = row.get("extra") or {}
    return extra.get("parts_id") or f"n{int((extra.get('parts') or {}).get('windows', 0))}"
