"""The pieces under fit: ridge maps, recall, duplicate groups, album-safe splits, and the InfoNCE loss."""

from __future__ import annotations

import numpy as np
import torch

from fusion.data import check_inputs, duplicate_groups, song_groups, split_songs
from fusion.loss import info_nce
from fusion.metrics import distinct_queries, recall_at_k
from fusion.ridge import fit_ridge
from tests.fusion.synthetic import make_library


def test_ridge_recovers_a_linear_map_and_picks_a_small_penalty_without_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 20))
    w = rng.standard_normal((20, 8))
    r = fit_ridge(x, x @ w + 0.5)
    np.testing.assert_allclose(r.weight, w, atol=1e-3)
    np.testing.assert_allclose(r.bias, 0.5, atol=1e-3)
    noisy = fit_ridge(x, x @ w + 30 * rng.standard_normal((300, 8)))
    assert noisy.penalty > r.penalty


def test_ridge_on_one_pair_predicts_its_target():
    r = fit_ridge(np.ones((1, 4)), np.array([[0.6, 0.8]]))
    np.testing.assert_allclose(r(np.zeros((1, 4))), [[0.6, 0.8]], atol=1e-6)


def test_recall_counts_any_right_answer_in_the_top_k():
    gallery = np.eye(4, dtype=np.float32)
    queries = np.array([[1, 0.1, 0, 0], [0.1, 0.2, 0.3, 0.9]], np.float32)
    positive = np.array([[True, False, False, False], [False, False, True, False]])
    assert recall_at_k(queries, gallery, positive, ks=(1, 2)) == {"R@1": 0.5, "R@2": 1.0}
    assert np.isnan(recall_at_k(queries[:0], gallery, positive[:0])["R@1"])


def test_duplicate_groups_join_identical_vectors_only_where_present():
    x = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32)
    g = duplicate_groups(x, np.array([True, True, True, False]))
    assert g[0] == g[2] and len({g[0], g[1], g[3]}) == 3
    assert distinct_queries(g, np.array([True, True, True, False])).tolist() == [0, 1]


def test_split_never_separates_an_album_and_is_seeded():
    lib = make_library(600, seed=0)
    data = check_inputs(lib.arrays, lib.masks)
    groups = song_groups(data)
    train, val, test = split_songs(groups, (0.1, 0.1), seed=1)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(600))
    covered = lib.masks["cover"]
    for a, b in ((train, test), (train, val), (val, test)):
        shared = set(lib.album[a][covered[a]]) & set(lib.album[b][covered[b]])
        assert not shared
    assert 40 <= len(test) <= 80 and 40 <= len(val) <= 80
    again = split_songs(groups, (0.1, 0.1), seed=1)
    assert len(again) == 3 and all((p == q).all() for p, q in zip((train, val, test), again))


def test_info_nce_rewards_alignment_and_spreads_shared_inputs():
    torch.manual_seed(0)
    p = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    ids = torch.arange(8)
    scale = torch.tensor(20.0)
    aligned = info_nce(p, p, ids, ids, scale)
    shuffled = info_nce(p, p[torch.randperm(8)], ids, ids, scale)
    assert aligned < 0.1 < shuffled
    # two songs sharing one cover: the duplicate is a right answer, not a negative
    q = p.clone()
    q[1] = q[0]
    shared = torch.tensor([0, 0, 2, 3, 4, 5, 6, 7])
    assert info_nce(p, q, ids, shared, scale) < info_nce(p, q, ids, ids, scale)
