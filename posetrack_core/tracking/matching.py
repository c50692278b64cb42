"""Matching detections of two frames on a cost matrix: Hungarian (optimal) or greedy."""

from typing import Callable, Dict, Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["hungarian_match", "greedy_match", "MATCHERS"]

_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def hungarian_match(
    cost: np.ndarray, max_cost: Optional[float] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Minimum-total-cost one-to-one matching (`scipy.optimize.linear_sum_assignment`).

    Pairs with cost > ``max_cost`` are never matched (the gate): they are priced out before the
    assignment, so the gate cannot push another pair out, then removed.

    Returns:
        (rows, cols): matched indices, rows ascending.
    """
    if cost.size == 0:
        return _EMPTY
    if max_cost is not None:
        allowed = cost <= max_cost
        if not allowed.any():
            return _EMPTY
        # A price no allowed assignment reaches, so forbidden pairs are chosen only if unavoidable.
        cost = np.where(allowed, cost, cost[allowed].max() * cost.size + 1.0 + max_cost)
    rows, cols = linear_sum_assignment(cost)
    if max_cost is not None:
        keep = allowed[rows, cols]
        rows, cols = rows[keep], cols[keep]
    return rows.astype(np.int64), cols.astype(np.int64)


def greedy_match(
    cost: np.ndarray, max_cost: Optional[float] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy matching: take the lowest-cost pair, remove its row and column, repeat.

    Ties go to the lower row, then the lower column. Pairs above ``max_cost`` are never matched.
    Written by hand: scipy has only the optimal assignment.
    """
    if cost.size == 0:
        return _EMPTY
    m, n = cost.shape
    order = np.argsort(cost, axis=None, kind="stable")
    if max_cost is not None:
        order = order[cost.ravel()[order] <= max_cost]
    row_used, col_used = np.zeros(m, bool), np.zeros(n, bool)
    rows, cols, limit = [], [], min(m, n)
    for flat in order:
        r, c = divmod(int(flat), n)
        if row_used[r] or col_used[c]:
            continue
        row_used[r] = col_used[c] = True
        rows.append(r)
        cols.append(c)
        if len(rows) == limit:
            break
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    order = np.argsort(rows)
    return rows[order], cols[order]


MATCHERS: Dict[str, Callable] = {"hungarian": hungarian_match, "greedy": greedy_match}
