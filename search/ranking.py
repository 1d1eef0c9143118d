"""Ranking and explaining: the per-route results of one query fused into one score per song, and each
hit's score split into its routes' parts.

Every route, song-level or not (audio windows, prints), is turned into a part on one scale by
`route_part`, and a song's score is the sum of its parts, whatever the backend. A hit's explanation
gives each route's part and its share: how far the route lifted the song above the lowest part it gave
any song of the query (its floor, at most 0), over the sum of those lifts. Shares lie in [0, 1] and add
up to 1 even where a part is negative or the score near 0; they explain, they do not rank. Rankers:
  calibrated  weight x standard deviations above the query's mean similarity to a random sample of the
              library (text and image queries' default). Routes on unlike scales become comparable, a
              route that tells songs apart counts more than one that does not, and a song without
              lyrics or a cover counts as average (part 0) on the routes it lacks.
  rrf         reciprocal rank fusion, 1 / (60 + rank) per route (clips' default); the print route keeps
              its weight, so the song a clip was cut from outranks songs that merely sound alike.
  weighted    weight x similarity (a request that gives weights without a ranker).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .query import RouteMatch

RRF_K = 60
# A song counts as a clip's source when this many of the clip's weighted codes agree on where in it the
# clip sits (store/print_index.py). Chance places get about 2 (at most ~3 in 19 of 20 clips at 10,000 songs).
PRINT_MIN_VOTES = 3.0
PRINT_LEAD = 2.0  # ... or, below that, the top song alone when it has this many times the votes of any other


def print_sources(matches: list) -> list:
    """The print matches (most votes first, each with `.votes`) that count as the clip's source: those with
    PRINT_MIN_VOTES; else the top one alone, when it has a whole vote and PRINT_LEAD times the runner-up's
    (a short or noisy clip of a quiet song wins few votes, but chance gives every other song fewer still)."""
    found = [m for m in matches if m.votes >= PRINT_MIN_VOTES]
    if found or not matches:
        return found
    runner_up = matches[1].votes if len(matches) > 1 else 0.0
    return matches[:1] if matches[0].votes >= max(PRINT_LEAD * runner_up, 1.0) else []


# {route: {song id: (similarity, rank in that route)}}
PerRoute = dict[str, dict[str, tuple[float, int]]]


def route_part(name: str, score: float, rank: int, weights: dict, ranker: str,
               calibration: tuple[float, float] | None = None) -> float:
    """One route's part of a song's score."""
    if ranker == "calibrated":
        mean, std = calibration
        return weights.get(name, 1.0) * (score - mean) / std
    if ranker == "rrf":
        return (weights.get(name, 1.0) if name == "print" else 1.0) / (RRF_K + rank)
    return weights.get(name, 1.0) * score


def fuse(per_route: PerRoute, weights: dict, ranker: str, calibration: dict) -> dict[str, float]:
    """Each song's score: the sum of its parts over the routes that found it."""
    fused: dict[str, float] = {}
    for name, found in per_route.items():
        for sid, (score, rank) in found.items():
            fused[sid] = fused.get(sid, 0.0) + route_part(name, score, rank, weights, ranker, calibration.get(name))
    return fused


def identified_first(fused: dict[str, float], identified: dict[str, tuple[float, int]]) -> dict[str, float]:
    """Scores where the songs a clip's prints identify (the print route's {song: (votes, rank)}) rank above
    every other song, in the print route's order (most votes first); the other songs keep their scores."""
    ids = sorted((sid for sid in identified if sid in fused), key=lambda sid: identified[sid][1])
    if not ids:
        return fused
    top = max(fused.values())
    step = 1e-3 * max(1.0, abs(top))  # just above, on the ranker's own scale
    out = dict(fused)
    for place, sid in enumerate(ids):
        out[sid] = top + step * (len(ids) - place)
    return out


def floors(per_route: PerRoute, weights: dict, ranker: str, calibration: dict) -> dict[str, float]:
    """Each route's floor in one query: the lowest part it gave any song it found, or 0 when none is
    negative (a song a route did not find counts 0 on it)."""
    return {name: min([0.0, *(route_part(name, s, r, weights, ranker, calibration.get(name)) for s, r in found.values())])
            for name, found in per_route.items()}


def explain(sid: str, per_route: PerRoute, weights: dict, ranker: str, calibration: dict,
            floor: dict[str, float], lift: float = 0.0) -> list[RouteMatch]:
    """How each route saw one song: its part of the score (negative: below the library's average), and
    its share, the route's lift above its floor over the sum of the lifts (in [0, 1], adding up to 1)."""
    matches, lifts = [], {}
    for name, found in per_route.items():
        if sid in found:
            s, r = found[sid]
            part = route_part(name, s, r, weights, ranker, calibration.get(name))
            part += lift if name == "print" else 0.0  # what `identified_first` added: the prints' doing
            matches.append(RouteMatch(name, s, r, part=part))
            lifts[name] = matches[-1].part - floor.get(name, 0.0)
    total = sum(lifts.values())
    for m in matches:
        m.share = lifts[m.route] / total if total > 0 else 1.0 / len(matches)
    matches.sort(key=lambda m: -m.share)
    return matches


def calibration_sample(store, field: str, flt: str, n: int) -> np.ndarray:
    """Up to n stored vectors of one field, of a random sample of the songs that `flt` lets through.

    Song ids are hashes of paths, so the songs whose id starts with a given hex prefix are a random
    sample of the library. The prefix is drawn with the number of songs as the seed: the sample is the
    same on every backend for one library, and it changes when the library does.
    """
    total = store.count(flt)
    if total == 0:
        return np.zeros((0, store.vector_fields[field]), np.float32)
    digits = 0
    while total / 16 ** (digits + 1) >= n:  # the longest prefix whose songs are still at least n
        digits += 1
    seed = int.from_bytes(hashlib.blake2b(f"{total}:{field}:{flt}".encode(), digest_size=8).digest(), "big")
    rng = np.random.default_rng(seed)
    prefix = "".join(rng.choice(list("0123456789abcdef"), digits))
    where = " and ".join(f"({c})" for c in (flt, f'id like "{prefix}%"' if prefix else "") if c)
    ids = sorted(row["id"] for row in store.iter_songs(["id"], filter=where))
    chosen = sorted(str(x) for x in rng.choice(ids, min(n, len(ids)), replace=False)) if ids else []
    rows = store.get_songs(chosen, ["id", field])
    dim = store.vector_fields[field]
    return np.asarray([rows[i][field] for i in chosen if i in rows], np.float32).reshape(-1, dim)


def mean_std(scores: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a route's background scores ((0, 1) when there are too few)."""
    if len(scores) < 2:
        return 0.0, 1.0
    return float(scores.mean()), max(float(scores.std()), 1e-3)


def diversify(order: list[str], scores: dict[str, float], songs: dict[str, dict], decay: float = 0.6) -> list[str]:
    """Greedy re-ranking that spreads results over genres: each repeat of a genre scales a score by `decay`."""
    remaining = [sid for sid in order if sid in songs]
    floor = min((scores[sid] for sid in remaining), default=0.0)
    counts: dict[str, int] = {}
    out = []
    while remaining:  # scores shifted to be positive, so that scaling always lowers them
        best = max(remaining, key=lambda sid: (scores[sid] - floor + 1e-6) * decay ** counts.get(songs[sid].get("genre", ""), 0))
        remaining.remove(best)
        g = songs[best].get("genre", "")
        counts[g] = counts.get(g, 0) + 1
        out.append(best)
    return out
