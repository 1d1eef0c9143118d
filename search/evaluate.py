"""The evaluation harness: a JSONL manifest of queries and relevant songs in, retrieval metrics out.

Each manifest line is one query:
  {"id": "calm-1", "text": "calm relaxing music", "relevant": ["calm/a.opus", ...], "group": "mood"}
  {"id": "clip-3", "audio": "calm/a.opus", "start": 8, "seconds": 10, "degrade": {"noise_snr": 10}, "relevant": ["calm/a.opus"]}
  {"id": "cover-2", "image": "calm/cover.png", "degrade": {"crop": 0.85, "jpeg": 40}, "relevant": [...]}
  {"id": "like-4", "song": "calm/a.opus", "options": {"max_per_artist": 2}, "relevant": ["calm/b.opus", ...]}
A "song" query asks for the songs like a library song (search.similar; "options" are SongOptions fields).
Optional: "cross_genre": true, "genre" (the query's genre), "k". Paths are relative to the library root.
Metrics: R@1/5/10 (whether a relevant song is in the top k: for an album or a mood, any of its songs), P@10 (the share
of the top 10 that is relevant), MRR, nDCG@10 (binary gains), mAP,
per group and per genre, and the cross-genre share (top-10 results outside the query's genre).
"""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .query import Query

METRICS = ("R@1", "R@5", "R@10", "P@10", "MRR", "nDCG@10", "mAP")
EVAL_DEPTH = 50


def load_manifest(path: str | Path) -> list[dict]:
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if not item.get("relevant"):
                raise ValueError(f"{path}:{n}: every query needs a non-empty 'relevant' list")
            out.append(item)
    return out


def query_metrics(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    """Metrics of one ranked list of song ids against the set of relevant ids."""
    hits = [sid in relevant for sid in ranked]
    first = next((i for i, h in enumerate(hits) if h), None)
    m = {f"R@{k}": float(any(hits[:k])) for k in (1, 5, 10)}
    m["P@10"] = sum(hits[:10]) / 10
    m["MRR"] = 0.0 if first is None else 1.0 / (first + 1)
    dcg = sum(1.0 / math.log2(i + 2) for i, h in enumerate(hits[:10]) if h)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    m["nDCG@10"] = dcg / ideal
    precisions = [sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h]
    m["mAP"] = sum(precisions) / len(relevant)
    return m


@dataclass
class EvalReport:
    overall: dict[str, float]
    groups: dict[str, dict[str, float]]
    genres: dict[str, dict[str, float]]
    cross_genre_share: float | None
    queries: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"overall": self.overall, "groups": self.groups, "genres": self.genres,
                "cross_genre_share": self.cross_genre_share, "queries": self.queries}

    def table(self) -> str:
        head = f"{'':<22}" + "".join(f"{m:>9}" for m in METRICS) + f"{'queries':>9}"
        lines = [head]
        rows = [("all", self.overall), *((f"group {g}", v) for g, v in self.groups.items()),
                *((f"genre {g}", v) for g, v in self.genres.items())]
        for name, vals in rows:
            lines.append(f"{name[:22]:<22}" + "".join(f"{vals[m]:9.3f}" for m in METRICS) + f"{int(vals['n']):9d}")
        if self.cross_genre_share is not None:
            lines.append(f"cross-genre share of top-10 outside the query's genre: {self.cross_genre_share:.3f}")
        return "\n".join(lines)


def _mean(rows: list[dict]) -> dict[str, float]:
    out = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
    out["n"] = len(rows)
    return out


KIND_ROUTES = {
    "text": ("sound", "lyrics", "cover_text", "joint"),
    "audio": ("audio_track", "audio_windows", "print", "joint"),
    "image": ("cover", "joint"),
}


def item_kind(item: dict) -> str:
    return "text" if "text" in item else "audio" if "audio" in item else "image"


def _like_song(engine, item: dict, root: Path, song_id) -> list:
    from .similar import SongOptions, SongSearch

    options = SongOptions(**{"k": 10, **(item.get("options") or {})})
    return SongSearch(engine.store).similar(song_id(root / item["song"]), options, explain=False)


def only_route(route: str) -> dict[str, float]:
    """Weights that keep one route and silence the others (to compare a single route with the fusion)."""
    from .query import ROUTE_NAMES

    return {r: (1.0 if r == route else 0.0) for r in ROUTE_NAMES}


def build_query(item: dict, root: Path, seed: int, weights: dict | None = None, ranker: str | None = None) -> Query:
    """Turn a manifest line into a Query, cutting and degrading clips and images as it says."""
    common = {"k": EVAL_DEPTH, "cross_genre": bool(item.get("cross_genre")), "weights": weights, "ranker": ranker,
              "query_genre": item.get("genre") if item.get("cross_genre") else None}
    if "text" in item:
        return Query(text=item["text"], **common)
    if "audio" in item:
        import soundfile as sf

        from scan import decode_audio

        from .degrade import apply

        rate = 44100
        wave = decode_audio(root / item["audio"], rate)
        start = int(float(item.get("start", 0)) * rate)
        wave = wave[start : start + int(float(item.get("seconds", 10)) * rate)]
        wave = apply(wave, rate, item.get("degrade", {}), seed)
        buf = io.BytesIO()
        sf.write(buf, wave, rate, format="WAV")
        return Query(audio=buf.getvalue(), **common)
    if "image" in item:
        from encoders.augment import apply
        from encoders.images import load_image

        img = apply(load_image((root / item["image"]).read_bytes()), item.get("degrade", {}), seed)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=92)  # any "jpeg" degradation is already applied
        return Query(image=buf.getvalue(), **common)
    raise ValueError(f"query {item.get('id')} has none of text, audio, image")


def evaluate(engine, manifest: list[dict], root: Path, song_id, weights: dict | None = None,
             ranker: str | None = None) -> EvalReport:
    """Run every manifest query through the engine; `song_id(path)` maps a library file to its id.

    `weights` (route -> weight) override the engine's defaults for every query, e.g. `only_route(r)`.
    """
    per_query, by_group, by_genre = [], defaultdict(list), defaultdict(list)
    shares = []
    for n, item in enumerate(manifest):
        relevant = {song_id(root / rel) for rel in item["relevant"]}
        if "song" in item:
            hits = _like_song(engine, item, root, song_id)
        else:
            hits = engine.search(build_query(item, root, seed=n, weights=weights, ranker=ranker))
        ranked = [h.id for h in hits]
        m = query_metrics(ranked, relevant)
        per_query.append({"id": item.get("id", str(n)), **{k: round(v, 4) for k, v in m.items()}, "top": ranked[:5]})
        by_group[item.get("group", "all")].append(m)
        genre = item.get("genre") or (hits[0].song.get("genre") if hits else "")
        by_genre[genre or "unknown"].append(m)
        if item.get("cross_genre") and hits:
            qg = item.get("genre") or ""
            shares.append(np.mean([h.song.get("genre") != qg for h in hits[:10]]))
    rows = [dict(q) for q in per_query]
    return EvalReport(
        overall=_mean([{k: r[k] for k in METRICS} for r in rows]),
        groups={g: _mean(v) for g, v in by_group.items()},
        genres={g: _mean(v) for g, v in by_genre.items()},
        cross_genre_share=float(np.mean(shares)) if shares else None,
        queries=per_query,
    )


def compare_routes(engine, manifest: list[dict], root: Path, song_id) -> dict[str, dict[str, dict[str, float]]]:
    """Group -> {"fused": metrics, route: metrics} for each single route the group's query kind has.

    Where a query kind spans several groups, "kind <kind>" rows pool them (means weighted by queries).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in manifest:
        if not item.get("cross_genre") and "song" not in item:  # song queries have no single-route rankings
            groups[item.get("group", "all")].append(item)
    kinds: dict[str, list[str]] = defaultdict(list)
    for group, items in groups.items():
        kinds[item_kind(items[0])].append(group)
        out[group] = {"fused": evaluate(engine, items, root, song_id).overall}
        for route in KIND_ROUTES[item_kind(items[0])]:
            report = evaluate(engine, items, root, song_id, only_route(route))
            if any(q["top"] for q in report.queries):  # else a route this index lacks (e.g. text -> cover offline)
                out[group][route] = report.overall
    for kind, names in kinds.items():
        if len(names) > 1:
            rankings = [r for r in out[names[0]] if all(r in out[g] for g in names)]
            out[f"kind {kind}"] = {r: _pool([out[g][r] for g in names]) for r in rankings}
    return out


def _pool(rows: list[dict]) -> dict[str, float]:
    """Metrics of several groups together: means weighted by each group's number of queries."""
    n = sum(r["n"] for r in rows)
    return {**{m: sum(r[m] * r["n"] for r in rows) / n for m in METRICS}, "n": n}


def fused_minus_best(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per metric: the fused ranking's figure minus the best single route's (positive: fusion wins)."""
    singles = [v for name, v in rows.items() if name != "fused"]
    return {m: rows["fused"][m] - max(v[m] for v in singles) for m in METRICS} if singles else {}


def routes_table(comparison: dict) -> str:
    lines = [f"{'group':<16}{'ranking':<14}" + "".join(f"{m:>9}" for m in METRICS)]
    for group, rows in comparison.items():
        for name, vals in rows.items():
            lines.append(f"{group[:16]:<16}{name[:14]:<14}" + "".join(f"{vals[m]:9.3f}" for m in METRICS))
        diff = fused_minus_best(rows)
        if diff:
            lines.append(f"{group[:16]:<16}{'fused - best':<14}" + "".join(f"{diff[m]:+9.3f}" for m in METRICS))
    return "\n".join(lines)
