#!/usr/bin/env python
"""Frames per second of the tracker (Hungarian + IoU) against Detectron2's
VanillaHungarianBBoxIOUTracker on the same detections, in the same run.

    python bench/bench_tracker_speed.py [--frames 500] [--people 10 50] [--output results.json]

Detections: N people doing random walks in a 1280x720 video, as Detectron2 `Instances`
(pred_boxes, scores, pred_classes), all kept by both trackers (scores 1, no size filter).
Our tracker is timed on the same `Instances` and on plain arrays (`Detections`).
"""

import argparse
import time

import numpy as np
import torch

from detectron2.structures import Boxes, Instances  # noqa: E402
from detectron2.tracking.vanilla_hungarian_bbox_iou_tracker import (  # noqa: E402
    VanillaHungarianBBoxIOUTracker,
)

from detectron2_tubes.tracking import PoseTrackerHead  # noqa: E402
from posetrack_core.io import write_json_atomic  # noqa: E402
from posetrack_core.tracking import Detections, PoseTracker  # noqa: E402

H, W = 720, 1280


def make_frames(num_frames: int, people: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [W - 60, H - 150], (people, 2))
    vel = rng.normal(0, 2, (people, 2))
    size = rng.uniform([30, 80], [60, 150], (people, 2))
    frames = []
    for _ in range(num_frames):
        pos = np.clip(pos + vel + rng.normal(0, 0.5, pos.shape), 0, [W - 60, H - 150])
        boxes = np.concatenate([pos, pos + size], axis=1)
        inst = Instances((H, W))
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.scores = torch.ones(people)
        inst.pred_classes = torch.zeros(people, dtype=torch.int64)
        frames.append(inst)
    return frames


def fps(track_fn, frames, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        track_fn(frames)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--people", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for n in args.people:
        frames = make_frames(args.frames, n)
        arrays = [
            Detections(f.pred_boxes.tensor.numpy(), f.scores.numpy(), image_size=(H, W))
            for f in frames
        ]

        def ours(fs):
            t = PoseTracker(cost="iou", matcher="hungarian", det_thresh=0.0, min_area=0.0)
            if isinstance(fs[0], Instances):  # the Detectron2 adapter, Instances in and out
                t = PoseTrackerHead(tracker=t)
            for f in fs:
                t.update(f)

        def ours_full(fs):  # Kalman motion, second association, gate and memory
            t = PoseTracker(
                cost="iou",
                det_thresh=0.5,
                min_area=0.0,
                max_cost=0.7,
                memory=8,
                motion="kalman",
                low_thresh=0.1,
            )
            for f in fs:
                t.update(f)

        def d2(fs):
            t = VanillaHungarianBBoxIOUTracker(
                video_height=H, video_width=W, max_num_instances=1000, min_box_rel_dim=0.0
            )
            for f in fs:
                t.update(f)

        r = dict(
            people=n,
            ours_instances_fps=fps(ours, frames),
            ours_arrays_fps=fps(ours, arrays),
            ours_full_fps=fps(ours_full, arrays),
            detectron2_fps=fps(d2, frames, repeat=1),
        )
        r["speedup_instances"] = r["ours_instances_fps"] / r["detectron2_fps"]
        r["speedup_arrays"] = r["ours_arrays_fps"] / r["detectron2_fps"]
        r["speedup_full"] = r["ours_full_fps"] / r["detectron2_fps"]
        rows.append(r)
    print(f"{args.frames} frames, 1 CPU thread")
    print(
        "| people per frame | ours, Instances (fps) | ours, arrays (fps) | ours with Kalman, "
        "two stages, gate, memory (fps) | Detectron2 VanillaHungarianBBoxIOUTracker (fps) | "
        "speed-up |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['people']} | {r['ours_instances_fps']:.0f} | {r['ours_arrays_fps']:.0f} | "
            f"{r['ours_full_fps']:.0f} | {r['detectron2_fps']:.1f} | "
            f"{r['speedup_instances']:.0f}x (Instances), {r['speedup_arrays']:.0f}x (arrays), "
            f"{r['speedup_full']:.0f}x (all parts) |"
        )
    if args.output:
        write_json_atomic(rows, args.output, indent=1)


if __name__ == "__main__":
    main()
