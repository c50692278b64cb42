#!/usr/bin/env python
"""Tracking accuracy of each cost and matcher on noisy detections, scored with py-motmetrics.

    python bench/bench_tracking_costs.py [--videos 10] [--seed 100] [--output results.json]

Ground truth: a synthetic PoseTrack set generated with its own seed (every frame labelled; the
LSTM cost is trained on the built-in posetrack_synth_train, a different seed). Detections: each
ground-truth person is dropped with probability 0.1 (a missed detection), its box jittered by 4%
of its size, its labelled joints by 2% of its height (score 1; unlabelled joints placed at random
in the box with score 0); about 0.3 spurious detections per frame at random places. All scores
are 1 and no area filter applies, so only linking is compared. MOTA, IDF1 and ID switches are
py-motmetrics' (boxes matched at IoU >= 0.5), HOTA and AssA TrackEval's (MOT15 rules, the same
tracks written as MOT files), over all videos.
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import cv2
import motmetrics as mm
import numpy as np
import torch

from detectron2.data import DatasetCatalog  # noqa: E402

from detectron2_tubes.data import group_by_video  # noqa: E402
from detectron2_tubes.data.posetrack import load_posetrack_split  # noqa: E402
from detectron2_tubes.tracking import CropFeatureExtractor, train_box_lstm  # noqa: E402
from posetrack_core.evaluation.box_metrics import evaluate_mot_many  # noqa: E402
from posetrack_core.synthetic import generate_synthetic_posetrack  # noqa: E402
from posetrack_core.tracking import Detections, PoseTracker  # noqa: E402


def noisy_detections(
    frame: dict, rng: np.random.Generator, p_drop=0.1, box_noise=0.04, kp_noise=0.02, spurious=0.3
):
    h_img, w_img = frame["height"], frame["width"]
    boxes, kps = [], []
    for a in frame["annotations"]:
        if rng.random() < p_drop:
            continue
        b = np.array(a["bbox"], float)
        wh = np.array([b[2] - b[0], b[3] - b[1]] * 2)
        boxes.append(b + rng.normal(0, box_noise, 4) * wh)
        k = np.array(a["keypoints"], float).reshape(17, 3)
        labelled = k[:, 2] > 0
        out = np.zeros((17, 3))
        out[:, 0] = rng.uniform(b[0], b[2], 17)
        out[:, 1] = rng.uniform(b[1], b[3], 17)
        out[labelled, :2] = k[labelled, :2] + rng.normal(0, kp_noise * wh[1], (labelled.sum(), 2))
        out[labelled, 2] = 1.0
        kps.append(out)
    for _ in range(rng.poisson(spurious)):
        w, h = rng.uniform(20, 50), rng.uniform(60, 130)
        x, y = rng.uniform(0, w_img - w), rng.uniform(0, h_img - h)
        boxes.append(np.array([x, y, x + w, y + h]))
        kps.append(
            np.stack([rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17), rng.random(17)], 1)
        )
    n = len(boxes)
    return Detections(
        np.array(boxes).reshape(n, 4),
        np.ones(n),
        np.array(kps).reshape(n, 17, 3),
        image_size=(h_img, w_img),
    )


def xywh(boxes):
    b = np.asarray(boxes, float).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def _mot_line(frame, tid, box):
    x, y, w, h = xywh([box])[0]
    return f"{frame},{tid + 1},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1"


def evaluate(videos, detections, images, make_tracker):
    """MOTA, IDF1, ID switches (py-motmetrics) and HOTA (TrackEval, from MOT files of the same
    tracks) over all videos."""
    accs, names, pairs = [], [], []
    tmp = tempfile.mkdtemp(prefix="tracking_costs_mot_")
    for vid, (frames, dets) in enumerate(zip(videos, detections)):
        tracker = make_tracker()
        acc = mm.MOTAccumulator(auto_id=True)
        gt_lines, pred_lines = [], []
        for i, (f, d) in enumerate(zip(frames, dets)):
            out = tracker.update(d, images[vid][i] if images else None)
            gt_ids = [a["track_id"] for a in f["annotations"]]
            gt_boxes = xywh([a["bbox"] for a in f["annotations"]])
            dist = mm.distances.iou_matrix(gt_boxes, xywh(out.boxes), max_iou=0.5)
            acc.update(gt_ids, out.track_ids.tolist(), dist)
            gt_lines += [_mot_line(i + 1, a["track_id"], a["bbox"]) for a in f["annotations"]]
            pred_lines += [_mot_line(i + 1, t, b) for t, b in zip(out.track_ids, out.boxes)]
        accs.append(acc)
        names.append(str(vid))
        for kind, lines in (("gt", gt_lines), ("pred", pred_lines)):
            with open(os.path.join(tmp, f"{kind}_{vid}.txt"), "w") as fh:
                fh.write("\n".join(lines) + "\n")
        pairs.append(tuple(os.path.join(tmp, f"{k}_{vid}.txt") for k in ("gt", "pred")))
    mh = mm.metrics.create()
    summary = mh.compute_many(
        accs, names=names, metrics=["mota", "idf1", "num_switches"], generate_overall=True
    )
    overall = summary.loc["OVERALL"]
    hota = evaluate_mot_many(pairs, benchmark="MOT15")
    shutil.rmtree(tmp)
    return {
        "mota": 100 * float(overall["mota"]),
        "idf1": 100 * float(overall["idf1"]),
        "switches": int(overall["num_switches"]),
        "hota": hota["HOTA"],
        "assa": hota["AssA"],
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--lstm-steps", type=int, default=600)
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.set_num_threads(2)

    root = tempfile.mkdtemp(prefix="tracking_bench_")
    generate_synthetic_posetrack(
        root, num_videos=args.videos, num_frames=60, seed=args.seed, num_val_videos=1
    )
    videos = group_by_video(load_posetrack_split(os.path.join(root, "annotations", "train"), root))
    rng = np.random.default_rng(args.seed)
    detections = [[noisy_detections(f, rng) for f in v] for v in videos]
    images = [[cv2.imread(f["file_name"]) for f in v] for v in videos]

    start = time.perf_counter()
    lstm, losses = train_box_lstm(
        DatasetCatalog.get("posetrack_synth_train"), steps=args.lstm_steps
    )
    print(
        f"LSTM cost: trained {args.lstm_steps} steps in {time.perf_counter() - start:.0f} s on "
        f"posetrack_synth_train tracks; loss (mean of 50 steps) {losses[0]:.3f} -> {losses[-1]:.3f}"
    )
    torch.manual_seed(0)
    extractor = CropFeatureExtractor()  # random-init ResNet-18 res3: no weights offline

    common = dict(det_thresh=0.0, min_area=0.0, keypoint_thresh=0.5)
    rows = []
    for cost in (
        "iou",
        "pose",
        "cnn",
        {"iou": 1, "pose": 1},
        {"iou": 1, "pose": 1, "cnn": 1},
        "lstm",
    ):
        for matcher in ("hungarian", "greedy"):
            name = cost if isinstance(cost, str) else " + ".join(cost)
            needs_images = "cnn" in (cost if isinstance(cost, dict) else {cost: 1})
            res = evaluate(
                videos,
                detections,
                images if needs_images else None,
                lambda: PoseTracker(
                    cost=cost, matcher=matcher, lstm=lstm, feature_extractor=extractor, **common
                ),
            )
            rows.append(dict(cost=name, matcher=matcher, gate="-", memory=0, **res))
            print(rows[-1])
    sweep = []
    for gate in (None, 0.95, 0.9, 0.8, 0.7, 0.5):
        for memory in (0, 2, 4, 8, 12):
            res = evaluate(
                videos,
                detections,
                None,
                lambda: PoseTracker(cost="iou", max_cost=gate, memory=memory, **common),
            )
            sweep.append(
                dict(
                    cost="iou",
                    matcher="hungarian",
                    gate="-" if gate is None else gate,
                    memory=memory,
                    **res,
                )
            )
    best = max(sweep, key=lambda r: (r["mota"], r["idf1"]))
    print(
        "| cost | matcher | gate (max cost) | memory (frames) | MOTA | IDF1 | HOTA | AssA "
        "| ID switches |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows + [best]:
        print(
            f"| {r['cost']} | {r['matcher']} | {r['gate']} | {r['memory']} | {r['mota']:.1f} | "
            f"{r['idf1']:.1f} | {r['hota']:.1f} | {r['assa']:.1f} | {r['switches']} |"
        )
    print("\nGate and memory sweep (IoU, Hungarian):")
    print("| gate | " + " | ".join(f"memory {m}" for m in (0, 2, 4, 8, 12)) + " |")
    print("|---|---|---|---|---|---|")
    for gate in ("-", 0.95, 0.9, 0.8, 0.7, 0.5):
        cells = [
            f"{r['mota']:.1f} / {r['idf1']:.1f} / {r['hota']:.1f} / {r['switches']}"
            for r in sweep
            if r["gate"] == gate
        ]
        print(f"| {gate} | " + " | ".join(cells) + " |")
    print(
        f"(MOTA / IDF1 / HOTA / ID switches). Best MOTA: gate {best['gate']}, memory {best['memory']}"
    )
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {"rows": rows, "sweep": sweep, "best": best, "lstm_losses": losses}, f, indent=1
            )


if __name__ == "__main__":
    main()
