#!/usr/bin/env python
"""PoseTrack21's keypoint HOTA here against the official kit, on the synthetic val split with
perturbed predictions written as PoseTrack21 files.

    python bench/bench_posetrack21.py [--videos 6] [--seeds 0 1 2] \
        [--kit-python /path/to/venv/bin/python --kit PoseTrack21/eval/posetrack21]

Predictions per seed (`perturb`): people dropped, joints jittered (in head sizes) and dropped,
identities swapped part-way through tracks, false positives added, some joints moved into
ignore regions. Without the kit it prints this project's numbers; with it, both and the largest
difference per metric (the kit needs numpy < 1.24: give the python of a separate environment).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from detectron2_tubes.data import generate_synthetic_posetrack  # noqa: E402
from posetrack_core.evaluation.hota_pose import (  # noqa: E402
    HOTA_METRICS,
    evaluate_posetrack21,
    format_hota_table,
)


def perturb(gt_dir: str, pred_dir: str, seed: int, level: float = 1.0) -> None:
    """Prediction files made from the ground truth (see the module doc)."""
    rng = np.random.default_rng(seed)
    os.makedirs(pred_dir, exist_ok=True)
    for name in sorted(f for f in os.listdir(gt_dir) if f.endswith(".json")):
        with open(os.path.join(gt_dir, name)) as f:
            data = json.load(f)
        frame_of = {img["id"]: n for n, img in enumerate(data["images"])}
        tracks = sorted({a["track_id"] for a in data["annotations"]})
        # each track's id changes to another track's at a random frame, for some tracks
        swap_at = {t: rng.integers(0, len(data["images"])) for t in tracks if rng.random() < 0.3}
        anns = []
        for a in data["annotations"]:
            if rng.random() < 0.1 * level:
                continue
            k = np.array(a["keypoints"], float).reshape(17, 3)
            head = np.hypot(*a["bbox_head"][2:]) if a.get("bbox_head") else 20.0
            k[:, :2] += rng.normal(0, 0.15 * level * head, (17, 2))
            keep = (k[:, 2] > 0) & (rng.random(17) > 0.1 * level)
            tid = a["track_id"]
            if tid in swap_at and frame_of[a["image_id"]] >= swap_at[tid]:
                tid = tracks[(tracks.index(tid) + 1) % len(tracks)] + 1000
            anns.append((a["image_id"], tid, np.where(keep[:, None], k, 0), a.get("bbox")))
            if rng.random() < 0.05 * level:  # a false positive beside the person
                fp = k.copy()
                fp[:, 0] += rng.uniform(30, 80)
                anns.append((a["image_id"], 5000 + len(anns), np.where(keep[:, None], fp, 0), None))
        seen, out = set(), []
        for image_id, tid, k, box in anns:
            if (image_id, tid) in seen:
                continue
            seen.add((image_id, tid))
            k[:, 2] = np.where(k[:, 2] > 0, 1.0, 0.0)
            out.append({
                "id": len(out), "image_id": image_id, "track_id": int(tid), "category_id": 1,
                "keypoints": [round(float(v), 2) for v in k.reshape(-1)],
                "scores": [float(s) for s in rng.uniform(0.3, 1.0, 17) * (k[:, 2] > 0)],
                "bbox": box or [0, 0, 1, 1],
            })  # fmt: skip
        images = [{"id": i["id"], "file_name": i["file_name"]} for i in data["images"]]
        with open(os.path.join(pred_dir, name), "w") as f:
            json.dump({"images": images, "annotations": out, "categories": data["categories"]}, f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--videos", type=int, default=6, help="val videos (default 6)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--levels", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--kit-python", help="python of an environment where the kit runs")
    p.add_argument("--kit", help="the kit's eval/posetrack21 folder")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate_synthetic_posetrack(
            tmp, num_videos=1, num_val_videos=args.videos, num_frames=args.frames, seed=0
        )
        gt_dir = os.path.join(tmp, "annotations", "val")
        worst = {k: 0.0 for k in HOTA_METRICS}
        for seed in args.seeds:
            for level in args.levels:
                pred = os.path.join(tmp, f"pred_{seed}_{level}")
                perturb(gt_dir, pred, seed, level)
                t0 = time.perf_counter()
                ours = evaluate_posetrack21(gt_dir, pred)
                dt = time.perf_counter() - t0
                print(f"seed {seed}, level {level}: {ours['num_frames']} frames in {dt:.1f} s")
                print(format_hota_table(ours))
                if not args.kit_python:
                    continue
                kit = json.loads(subprocess.run(
                    [args.kit_python, os.path.join(os.path.dirname(__file__), "posetrack21_kit.py"),
                     "--kit", args.kit, "--gt", gt_dir, "--pred", pred],
                    check=True, capture_output=True, text=True,
                ).stdout.strip().splitlines()[-1])  # fmt: skip
                diffs = {
                    k: float(np.max(np.abs(np.subtract(ours[k], kit[k])))) for k in HOTA_METRICS
                }
                for k, d in diffs.items():
                    worst[k] = max(worst[k], d)
                print("kit: HOTA total %.4f; largest |ours - kit| over joints: %s" % (
                    kit["HOTA"][-1], ", ".join(f"{k} {d:.2g}" for k, d in diffs.items())))  # fmt: skip
        if args.kit_python:
            print("\nlargest difference over every seed, level and joint (percent points):")
            print(", ".join(f"{k} {d:.3g}" for k, d in worst.items()))


if __name__ == "__main__":
    main()
