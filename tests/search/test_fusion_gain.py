"""Fused ranking against each single route on the test library (tests/fixtures/eval_manifest.py).

The figures this prints are recorded in docs/evaluation.md. What is asserted is what the docs claim:
fusion finds degraded clips that no single route finds as well, lifts album recall of cover photos
over the cover route, and stays within two points of the best single route's MRR for every query kind.
"""

from __future__ import annotations

import pytest

from crossgenre.indexer import song_id
from search import SearchEngine
from search.evaluate import compare_routes, fused_minus_best, routes_table
from tests.fixtures.eval_manifest import make_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def comparison(library, indexed, tmp_path_factory):
    _, ws, _ = indexed
    manifest = make_manifest(library, tmp_path_factory.mktemp("eval-queries"))
    out = compare_routes(SearchEngine(ws.profile, ws.store, ws.fusion), manifest, library.root, song_id)
    print(routes_table(out))
    return out


def test_fusion_finds_degraded_clips_better_than_any_single_route(comparison):
    diff = fused_minus_best(comparison["clip-degraded"])
    assert diff["R@1"] > 0 and diff["MRR"] > 0


def test_fusion_lifts_album_recall_of_cover_photos_over_the_cover_route(comparison):
    rows = comparison["cover-photo"]
    assert rows["fused"]["R@1"] == 1.0
    assert rows["fused"]["mAP"] > rows["cover"]["mAP"] + 0.1


@pytest.mark.parametrize("kind", ["text", "audio"])
def test_fusion_stays_within_two_points_of_the_best_route_per_query_kind(comparison, kind):
    diff = fused_minus_best(comparison[f"kind {kind}"])
    assert diff["MRR"] >= -0.02, diff
    assert diff["nDCG@10"] >= -0.02, diff
