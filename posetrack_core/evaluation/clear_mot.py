"""A lean CLEAR-MOT accumulator with py-motmetrics' exact semantics, without its event table.

`motmetrics.MOTAccumulator` appends every event (including one "RAW" row per candidate pair) to
a pandas table and computes metrics from it afterwards; the official PoseTrack toolkit runs one
per joint per sequence, which dominates its run time. `ClearMOTCounter.update` follows
`MOTAccumulator.update` of py-motmetrics 1.4.0 step for step (carry matches forward, assign the
rest as motmetrics assigns them, switches, transfers, misses, false positives) but only keeps
the counters the metrics need. Tests check it against motmetrics on random sequences: identical
counts and the same sum of distances.
"""

from typing import Dict, Hashable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment as _scipy_assignment

__all__ = ["ClearMOTCounter", "MotmetricsCounter", "assign"]


def assign(dists: np.ndarray):
    """The assignment py-motmetrics 1.4.0 makes with scipy (its solver where, as here, no faster
    one is installed): pairs at NaN or infinite distance cannot be matched. Written here so that
    the evaluator does not import motmetrics, and pandas with it (about 0.3 s of a 0.5 s start).

    The missing pairs get one cost so high that an optimal assignment takes one only when no
    complete assignment avoids it (with all finite costs in [-c, c] and r = min(M, N) pairs,
    2 r c + 1 exceeds any total of real pairs), and are then dropped from the result."""
    valid = np.isfinite(dists)
    if not dists.size:
        return np.zeros(0, int), np.zeros(0, int)
    if valid.all():
        costs = dists
    elif not valid.any():
        costs = np.zeros_like(dists)
    else:
        c = np.abs(dists[valid]).max() + 1
        costs = np.where(valid, dists, 2 * min(dists.shape) * c + 1)
    rows, cols = _scipy_assignment(costs)
    real = valid[rows, cols]
    return rows[real].astype(int), cols[real].astype(int)


class ClearMOTCounter:
    """Counts of one accumulator: ``matches``, ``switches``, ``misses``, ``false_positives``,
    ``objects`` (= matches + switches + misses), ``detections`` (= matches + switches) and
    ``sum_d``: the sum of motmetrics' whole ``events['D']`` column, i.e. every finite candidate
    distance (the "RAW" rows) plus the distances of MATCH, SWITCH, ASCEND, TRANSFER and MIGRATE
    events (what the official PoseTrack MOTP divides).
    """

    def __init__(self, max_switch_time: float = float("inf")):
        self.max_switch_time = max_switch_time
        self.m: Dict[Hashable, Hashable] = {}  # object -> hypothesis it was last matched to
        self.res_m: Dict[Hashable, Hashable] = {}  # hypothesis -> object
        self.last_occurrence: Dict[Hashable, int] = {}
        self.last_match: Dict[Hashable, int] = {}
        self.hyp_history: Dict[Hashable, int] = {}
        self.frame = -1
        self.matches = self.switches = self.misses = self.false_positives = 0
        self.sum_d = 0.0

    @property
    def objects(self) -> int:
        return self.matches + self.switches + self.misses

    @property
    def detections(self) -> int:
        return self.matches + self.switches

    def update(self, oids: Sequence, hids: Sequence, dists) -> None:
        """One frame: object ids, hypothesis ids, (len(oids), len(hids)) distances (NaN = no pair)."""
        self.frame += 1
        frame = self.frame
        oids, hids = list(oids), list(hids)
        no, nh = len(oids), len(hids)
        dists = np.array(dists, dtype=float).reshape(no, nh)
        finite = np.isfinite(dists)
        self.sum_d += float(dists[finite].sum())  # the RAW rows
        o_done, h_done = [False] * no, [False] * nh
        if no and nh:
            # 1. Carry forward established correspondences.
            for i, o in enumerate(oids):
                if o not in self.m:
                    continue
                prev = self.m[o]
                j = next((j for j in range(nh) if not h_done[j] and hids[j] == prev), None)
                if j is None or not finite[i, j]:
                    continue
                o_done[i] = h_done[j] = True
                self.m[o] = hids[j]
                self.matches += 1
                self.sum_d += dists[i, j]
                self.last_match[o] = frame
                self.hyp_history[hids[j]] = frame
            # 2. Minimise the distance of the remaining pairs.
            dists[np.array(o_done, bool), :] = np.nan
            dists[:, np.array(h_done, bool)] = np.nan
            rids, cids = assign(dists)
            for i, j in zip(rids, cids):
                d = dists[i, j]
                if not np.isfinite(d):
                    continue
                o, h = oids[i], hids[j]
                switch = (
                    o in self.m
                    and self.m[o] != h
                    and abs(frame - self.last_occurrence[o]) <= self.max_switch_time
                )
                if switch and h not in self.hyp_history:
                    self.sum_d += d  # ASCEND
                if h in self.res_m and self.res_m[h] != o:  # TRANSFER
                    if o not in self.last_match:
                        self.sum_d += d  # MIGRATE
                    self.sum_d += d
                self.hyp_history[h] = frame
                self.last_match[o] = frame
                if switch:
                    self.switches += 1
                else:
                    self.matches += 1
                self.sum_d += d
                o_done[i] = h_done[j] = True
                self.m[o] = h
                self.res_m[h] = o
        self.misses += o_done.count(False)
        self.false_positives += h_done.count(False)
        for o in oids:
            self.last_occurrence[o] = frame


class MotmetricsCounter:
    """The same counters computed the toolkit's way, with a `motmetrics.MOTAccumulator` (the
    reference the tests and the benchmark compare `ClearMOTCounter` with)."""

    _NAMES = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]

    def __init__(self):
        try:  # not a dependency of the project: the reference of the benchmark only
            import motmetrics as mm
        except ImportError as e:
            raise ImportError(
                f"mot_backend='motmetrics' needs py-motmetrics ({e}): pip install motmetrics"
            ) from None

        self.acc = mm.MOTAccumulator(auto_id=True)
        self._mh = mm.metrics.create()
        self._cache = None

    def update(self, oids, hids, dists) -> None:
        self.acc.update(oids, hids, dists)
        self._cache = None

    def _metrics(self):
        if self._cache is None:
            m = self._mh.compute(self.acc, metrics=self._NAMES, return_dataframe=False, name="acc")
            s = self.acc.events["D"].sum()
            self._cache = {k: int(m[k]) for k in self._NAMES}
            self._cache["sum_d"] = 0.0 if np.isnan(s) else float(s)
        return self._cache

    misses = property(lambda self: self._metrics()["num_misses"])
    switches = property(lambda self: self._metrics()["num_switches"])
    false_positives = property(lambda self: self._metrics()["num_false_positives"])
    objects = property(lambda self: self._metrics()["num_objects"])
    detections = property(lambda self: self._metrics()["num_detections"])
    sum_d = property(lambda self: self._metrics()["sum_d"])
