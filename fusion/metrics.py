"""Cross-modal retrieval recall: does a query's right song come up in the top k of a gallery?"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def recall_at_k(queries: np.ndarray, gallery: np.ndarray, positive: np.ndarray, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """Share of queries with at least one right answer among the k most similar gallery rows.

    queries: (q, d) unit rows; gallery: (g, d) unit rows; positive: (q, g) bool, the right answers of
    each query (a cover query's right answers are every song carrying that cover).
    Returns {"R@1": share, "R@10": share, ...} in [0, 1]; NaN for every k when there are no queries.
    """
    if len(queries) == 0:
        return {f"R@{k}": float("nan") for k in ks}
    sims = queries @ gallery.T
    # rank of the best right answer = number of gallery rows scoring strictly higher than it
    best = np.where(positive, sims, -np.inf).max(1)
    rank = (sims > best[:, None]).sum(1)
    return {f"R@{k}": float((rank < k).mean()) for k in ks}


def distinct_queries(groups: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rows to ask as queries: the first present row of each duplicate group, so an album's shared cover is asked once.

    groups: (n,) duplicate-group ids of the query modality; mask: (n,) which rows may be asked. Returns sorted indices.
    """
    rows = np.flatnonzero(mask)
    _, first = np.unique(groups[rows], return_index=True)
    return rows[np.sort(first)]


def cross_modal_recall(
    data_arrays: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    groups: dict[str, np.ndarray],
    pairs: list[tuple[str, str]],
    projectors: dict[str, dict[str, Callable[[np.ndarray], np.ndarray]]],
    ks: tuple[int, ...] = (1, 10),
) -> tuple[dict, dict, dict]:
    """Recall of each (query modality, target modality) pair under each way of projecting.

    data_arrays/masks/groups: the evaluated songs' inputs, presence and duplicate-group ids per modality.
    projectors: column name ("no fusion", "ridge", "fitted") -> modality -> f((n, dim)) -> (n, joint_dim).
    The gallery of a pair is every song that has the target modality; a query's right answers are the
    gallery songs sharing its query input or its own target input.
    Returns (recall[pair][column] -> {"R@k": share}, queries[pair] -> count, gallery[pair] -> count), pair
    named "lyrics→audio".
    """
    recall, queries, gallery = {}, {}, {}
    for qm, tm in pairs:
        name = f"{qm}→{tm}"
        in_gallery = masks[tm]
        g_rows = np.flatnonzero(in_gallery)
        q_rows = distinct_queries(groups[qm], masks[qm] & masks[tm])
        positive = (groups[qm][q_rows][:, None] == groups[qm][None, g_rows]) & masks[qm][None, g_rows]
        positive |= groups[tm][q_rows][:, None] == groups[tm][None, g_rows]
        recall[name] = {
            col: recall_at_k(proj[qm](data_arrays[qm][q_rows]), proj[tm](data_arrays[tm][g_rows]), positive, ks)
            for col, proj in projectors.items()
        }
        queries[name], gallery[name] = len(q_rows), len(g_rows)
    return recall, queries, gallery

