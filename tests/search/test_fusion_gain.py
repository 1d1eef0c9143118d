"""Fused ranking against each single route on the test library (tests/fixtures/eval_manifest.py).

The figures this prints are recorded in docs/evaluation.md. What is asserted is what the docs claim:
for each query kind (text, clip, cover photo) the fused ranking loses to the best single route by no
more than two points on any metric, and beats it on text queries and on degraded clips (or, where
the best route alone finds every degraded clip first, so does the fused ranking); within a query
group it loses at most one query's worth.
"""

from __future__ import annotations

import pytest

from crossgenre.indexer import song_id
from search import SearchEngine
from search.evaluate import compare_routes, fused_minus_best, routes_table
from tests.fixtures.eval_manifest import make_manifest

pytestmark = pytest.mark.slow

KINDS = ("kind text", "kind audio", "cover-photo")  # cover photos are the one image group
GROUPS = ("text-sound", "text-lyrics", "text-mixed", "clip-clean", "clip-degraded", "cover-photo")


@pytest.fixture(scope="module")
def comparison(library, indexed, tmp_path_factory):
    _, ws, _ = indexed
    manifest = make_manifest(library, tmp_path_factory.mktemp("eval-queries"))
    out = compare_routes(SearchEngine(ws), manifest, library.root, song_id)
    print(routes_table(out))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_fusion_loses_no_metric_by_more_than_two_points_per_query_kind(comparison, kind):
    diff = fused_minus_best(comparison[kind])
    assert diff and min(diff.values()) >= -0.02, diff


@pytest.mark.parametrize("group", GROUPS)
def test_fusion_loses_at_most_one_query_in_a_group(comparison, group):
    one_query = 1 / comparison[group]["fused"]["n"]
    diff = fused_minus_best(comparison[group])
    assert min(diff.values()) >= -one_query - 1e-9, diff


def test_fusion_beats_the_best_single_route_on_degraded_clips_or_is_perfect(comparison):
    # the print route alone finds every degraded clip of this library first: then fusion must too
    fused, diff = comparison["clip-degraded"]["fused"], fused_minus_best(comparison["clip-degraded"])
    assert (fused["R@1"] == 1.0 and fused["MRR"] == 1.0) or (diff["R@1"] > 0 and diff["MRR"] > 0), diff


def test_fusion_beats_the_best_single_route_on_text(comparison):
    diff = fused_minus_best(comparison["kind text"])
    assert diff["nDCG@10"] > 0 and diff["mAP"] > 0, diff


def test_a_cover_photo_finds_every_track_of_its_album(comparison):
    # three albums carry their art in one track only: the others share it (scan.covers.album_cover)
    assert comparison["cover-photo"]["fused"]["mAP"] == 1.0
