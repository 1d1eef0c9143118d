"""Fused ranking against each single route on the test library (tests/fixtures/eval_manifest.py).

The figures this prints are recorded in docs/evaluation.md. What is asserted is what the docs claim:
in no query group and for no query kind does the fused ranking lose to the best single route by more
than two points on any metric, and it beats the best route on degraded clips and on text queries.
"""

from __future__ import annotations

import pytest

from crossgenre.indexer import song_id
from search import SearchEngine
from search.evaluate import compare_routes, fused_minus_best, routes_table
from tests.fixtures.eval_manifest import make_manifest

pytestmark = pytest.mark.slow

GROUPS = ("text-sound", "text-lyrics", "text-mixed", "clip-clean", "clip-degraded", "cover-photo", "kind text",
          "kind audio")


@pytest.fixture(scope="module")
def comparison(library, indexed, tmp_path_factory):
    _, ws, _ = indexed
    manifest = make_manifest(library, tmp_path_factory.mktemp("eval-queries"))
    out = compare_routes(SearchEngine(ws.profile, ws.store, ws.fusion), manifest, library.root, song_id)
    print(routes_table(out))
    return out


@pytest.mark.parametrize("group", GROUPS)
def test_fusion_loses_no_metric_by_more_than_two_points(comparison, group):
    diff = fused_minus_best(comparison[group])
    assert diff and min(diff.values()) >= -0.02, diff


@pytest.mark.parametrize("group", ["clip-degraded", "kind text"])
def test_fusion_beats_the_best_single_route(comparison, group):
    diff = fused_minus_best(comparison[group])
    assert diff["R@1"] > 0 and diff["MRR"] > 0, diff


def test_a_cover_photo_finds_every_track_of_its_album(comparison):
    # two albums carry their art in one track only: the others share it (scan.covers.album_cover)
    assert comparison["cover-photo"]["fused"]["mAP"] == 1.0
