#!/usr/bin/env python
"""Time the PoseTrack evaluation of a 50-video synthetic set (AP and tracking metrics), with
this project's CLEAR-MOT counter and with plain py-motmetrics accumulators (as the official
toolkit runs them), on the same files, checking that the numbers agree.

    python bench/bench_eval.py [--videos 50] [--frames 60]

Predictions: the ground truth perturbed (15% of people dropped, joints jittered by 3 px, 10%
of identities switched, random keypoint scores).
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np

from posetrack_core.evaluation import evaluate_posetrack, grouped  # noqa: E402
from posetrack_core.synthetic import generate_synthetic_posetrack  # noqa: E402


def perturb(gt_dir, pred_dir, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(pred_dir, exist_ok=True)
    for name in sorted(os.listdir(gt_dir)):
        with open(os.path.join(gt_dir, name)) as f:
            data = json.load(f)
        anns, seen = [], set()
        for a in data["annotations"]:
            if rng.random() < 0.15:
                continue
            k = np.array(a["keypoints"], float).reshape(17, 3)
            k[:, :2] += rng.normal(0, 3, (17, 2)) * (k[:, 2:] > 0)
            tid = a["track_id"] + (50 if rng.random() < 0.1 else 0)
            if (a["image_id"], tid) in seen:
                continue
            seen.add((a["image_id"], tid))
            anns.append(
                dict(
                    a,
                    keypoints=k.reshape(-1).tolist(),
                    scores=rng.random(17).tolist(),
                    track_id=tid,
                )
            )
        data["annotations"] = anns
        with open(os.path.join(pred_dir, name), "w") as f:
            json.dump(data, f)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_eval_")
    # Videos labelled on every frame (the generator's train split), as ground truth.
    generate_synthetic_posetrack(
        root, num_videos=args.videos, num_frames=args.frames, seed=5, num_val_videos=1
    )
    gt_dir = os.path.join(root, "annotations", "train")
    pred_dir = os.path.join(root, "pred")
    perturb(gt_dir, pred_dir)
    rows = {}
    for backend in ("fast", "motmetrics"):
        start = time.perf_counter()
        res = evaluate_posetrack(gt_dir, pred_dir, mot_backend=backend, warn=lambda m: None)
        rows[backend] = (time.perf_counter() - start, res)
    (t_fast, fast), (t_ref, ref) = rows["fast"], rows["motmetrics"]
    same = all(
        fast["counts"][k] == ref["counts"][k]
        for k in ("misses", "switches", "fps", "objects", "dets")
    )
    print(
        f"{fast['num_sequences']} videos, {fast['num_frames']} evaluated frames; "
        f"AP {grouped(fast['ap'])['total']:.1f}, MOTA {fast['mota'][-1]:.2f}, MOTP {fast['motp'][-1]:.2f}"
    )
    print("| evaluation (AP + tracking metrics) | time (s) | MOTA total | MOTP total |")
    print("|---|---|---|---|")
    print(
        f"| detectron2_tubes (ClearMOTCounter) | {t_fast:.2f} | {fast['mota'][-1]:.3f} | {fast['motp'][-1]:.3f} |"
    )
    print(
        f"| same, py-motmetrics accumulators | {t_ref:.2f} | {ref['mota'][-1]:.3f} | {ref['motp'][-1]:.3f} |"
    )
    print(
        f"speed-up {t_ref / t_fast:.1f}x; identical counts: {same}; "
        f"max |MOTP difference| {np.nanmax(np.abs(np.array(fast['motp']) - np.array(ref['motp']))):.2e}"
    )


if __name__ == "__main__":
    main()
