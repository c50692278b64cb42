#!/usr/bin/env python
"""The box tracker on real MOT data against a published tracker, on the same boxes.

    python bench/bench_mot_real.py [--gate 0.7] [--memory 8]

Data: TUD-Campus (71 frames) and TUD-Stadtmitte (179 frames) of MOT15's training set, as shipped
with py-motmetrics: the ground truth and the output of the CEM tracker (Milan, Roth, Schindler,
"Continuous Energy Minimization for Multitarget Tracking", TPAMI 2014), whose MOTChallenge
figures py-motmetrics' README quotes. CEM's boxes, with their identities removed, are the
detections: the tracker here re-links them frame by frame (`link_mot`, the `link --format mot`
code path), with the gate and memory chosen on the synthetic benchmark
(bench/bench_tracking_costs.py), never tuned on these sequences. Both are scored with TrackEval
(HOTA, MOTA, IDF1) and with py-motmetrics (MOTA, IDF1), so only the association differs.
"""

import argparse
import os
import tempfile

import motmetrics as mm

from posetrack_core.evaluation.box_metrics import evaluate_mot_many  # noqa: E402
from posetrack_core.tracking import PoseTracker  # noqa: E402
from posetrack_core.tracking.link_files import link_mot, read_mot  # noqa: E402

DATA = os.path.join(os.path.dirname(mm.__file__), "data")
SEQS = ("TUD-Campus", "TUD-Stadtmitte")
# CEM on these sequences, MOTChallenge devkit figures as quoted by py-motmetrics' README.
PUBLISHED = {"TUD-Campus": (52.6, 55.8), "TUD-Stadtmitte": (56.4, 64.5)}  # MOTA, IDF1


def motmetrics_scores(pairs):
    accs = []
    for gt, pred in pairs:
        g = mm.io.loadtxt(gt, fmt="mot15-2D", min_confidence=1)
        p = mm.io.loadtxt(pred, fmt="mot15-2D")
        accs.append(mm.utils.compare_to_groundtruth(g, p, "iou", distth=0.5))
    s = mm.metrics.create().compute_many(
        accs, names=[str(i) for i in range(len(accs))], metrics=["mota", "idf1"],
        generate_overall=True,
    )  # fmt: skip
    return 100 * float(s.loc["OVERALL", "mota"]), 100 * float(s.loc["OVERALL", "idf1"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gate", type=float, default=0.7, help="max IoU cost (default 0.7)")
    p.add_argument("--memory", type=int, default=8, help="frames a track may miss (default 8)")
    args = p.parse_args()
    trackers = {
        "IoU, adjacent frames (the paper's)": dict(),
        f"IoU, gate {args.gate}, memory {args.memory} (recommended)": dict(
            max_cost=args.gate, memory=args.memory
        ),
    }
    print("| sequence(s) | tracker | HOTA | DetA | AssA | MOTA | IDF1 | ID sw. | "
          "MOTA / IDF1 (py-motmetrics) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"CEM (published output)": [(os.path.join(DATA, s, "gt.txt"),
                                            os.path.join(DATA, s, "test.txt")) for s in SEQS]}  # fmt: skip
        for name, options in trackers.items():
            pairs = []
            for s in SEQS:
                tracker = PoseTracker(
                    cost="iou", matcher="hungarian", det_thresh=float("-inf"), min_area=0.0,
                    **options,
                )  # fmt: skip
                lines, _, _ = link_mot(read_mot(os.path.join(DATA, s, "test.txt")), tracker)
                out = os.path.join(tmp, f"{len(runs)}_{s}.txt")
                with open(out, "w") as f:
                    f.write("\n".join(lines) + "\n")
                pairs.append((os.path.join(DATA, s, "gt.txt"), out))
            runs[name] = pairs
        for name, pairs in runs.items():
            for label, sel in [(s, [pr]) for s, pr in zip(SEQS, pairs)] + [("both", pairs)]:
                r = evaluate_mot_many(sel)
                mota, idf1 = motmetrics_scores(sel)
                print(f"| {label} | {name} | {r['HOTA']:.1f} | {r['DetA']:.1f} | {r['AssA']:.1f} | "
                      f"{r['MOTA']:.1f} | {r['IDF1']:.1f} | {r['IDSW']} | {mota:.1f} / {idf1:.1f} |")  # fmt: skip
    print("\nCEM as published (MOTChallenge devkit, MOTA / IDF1): "
          + ", ".join(f"{s} {a} / {b}" for s, (a, b) in PUBLISHED.items()))  # fmt: skip


if __name__ == "__main__":
    main()
