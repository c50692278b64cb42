#!/usr/bin/env python
"""PoseTrack21's keypoint HOTA here against the official kit, on the synthetic val split with
perturbed predictions written as PoseTrack21 files; and, with --end-to-end, the evaluation
commands timed whole (process start to exit) against both official kits on the same files.

    python bench/bench_posetrack21.py [--videos 6] [--seeds 0 1 2] \
        [--kit-python /path/to/venv/bin/python --kit PoseTrack21/eval/posetrack21]
    python bench/bench_posetrack21.py --end-to-end --videos 40 --kit-python KIT_VENV/bin/python \
        --kit PoseTrack21/eval/posetrack21 --poseval POSEVAL_CHECKOUT [--repeats 5]

--end-to-end: `python -m tubes_cli.eval_posetrack --benchmark posetrack21` against the
PoseTrack21 kit (its Evaluator on one core, run by bench/external/posetrack21_kit.py), and
`python -m tubes_cli.eval_posetrack` (AP and MOTA) against poseval (``python -m
poseval.evaluate -g GT -p PRED -e -t``; POSEVAL_CHECKOUT holds its ``poseval`` package, and the
kit's environment has its requirements: motmetrics 1.4.0, shapely, click, tqdm); the median of
--repeats runs each, the numbers compared.

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

from posetrack_core.evaluation.hota_pose import (  # noqa: E402
    HOTA_METRICS,
    evaluate_posetrack21,
    format_hota_table,
)
from posetrack_core.keypoints import POSETRACK17_TO_COCO  # noqa: E402
from posetrack_core.posetrack_json import read_posetrack_file  # noqa: E402
from posetrack_core.synthetic import generate_synthetic_posetrack  # noqa: E402


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


def to_2017(src_dir: str, dst_dir: str) -> None:
    """The same files in PoseTrack 2017's "annolist" format, which poseval reads as written (it
    converts 2018 files only when their frame names are the real PoseTrack ones)."""
    os.makedirs(dst_dir, exist_ok=True)
    for name in sorted(f for f in os.listdir(src_dir) if f.endswith(".json")):
        annolist = []
        for frame in read_posetrack_file(os.path.join(src_dir, name)).frames:
            rects = []
            for person in frame.people:
                points = [
                    {"id": [j], "x": [float(person.keypoints[slot, 0])],
                     "y": [float(person.keypoints[slot, 1])], "is_visible": [1]}
                    | ({} if person.joint_scores is None
                       else {"score": [float(person.joint_scores[slot])]})
                    for j, slot in enumerate(POSETRACK17_TO_COCO) if person.present[slot]
                ]  # fmt: skip
                rect = {"track_id": [person.track_id], "annopoints": [{"point": points}]}
                if person.bbox_head is not None:
                    rect.update(zip(("x1", "y1", "x2", "y2"), ([v] for v in person.bbox_head)))
                if person.score is not None:
                    rect["score"] = [person.score]
                rects.append(rect)
            regions = [
                {"point": [{"x": [float(x)], "y": [float(y)]} for x, y in poly]}
                for poly in frame.ignore_regions
            ]
            annolist.append({
                "image": [{"name": frame.file_name}], "annorect": rects,
                "ignore_regions": regions, "is_labeled": [int(bool(frame.is_labeled))],
            })  # fmt: skip
        with open(os.path.join(dst_dir, name), "w") as f:
            json.dump({"annolist": annolist}, f)


def _timed(cmd, repeats, **kw):
    """Median wall time of ``repeats`` runs of a command (the last run's output kept)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), proc.stdout


def end_to_end(args, gt_dir: str, pred: str, tmp: str) -> None:
    """Each evaluation command timed whole, and the largest difference of its numbers."""
    here = os.path.dirname(os.path.abspath(__file__))
    ours = [sys.executable, "-m", "tubes_cli.eval_posetrack", "--groundTruth", gt_dir + "/"]
    ours += ["--predictions", pred + "/"]
    out21, out18 = os.path.join(tmp, "ours21.json"), os.path.join(tmp, "ours18.json")
    root = os.path.join(here, "..")
    t_ours21, _ = _timed([*ours, "--benchmark", "posetrack21", "--output", out21], args.repeats,
                         cwd=root)  # fmt: skip
    t_kit, kit_out = _timed(
        [args.kit_python, os.path.join(here, "external", "posetrack21_kit.py"), "--kit", args.kit,
         "--gt", gt_dir, "--pred", pred], args.repeats,
    )  # fmt: skip
    with open(out21) as f:
        ours21 = json.load(f)
    kit = json.loads(kit_out.strip().splitlines()[-1])
    hota_diff = max(float(np.max(np.abs(np.subtract(ours21[k], kit[k])))) for k in HOTA_METRICS)
    gt17, pred17 = os.path.join(tmp, "gt2017"), os.path.join(tmp, "pred2017")
    to_2017(gt_dir, gt17)
    to_2017(pred, pred17)
    ours = [sys.executable, "-m", "tubes_cli.eval_posetrack", "--groundTruth", gt17 + "/"]
    t_ours18, _ = _timed([*ours, "--predictions", pred17 + "/", "--output", out18], args.repeats,
                         cwd=root)  # fmt: skip
    out_dir = os.path.join(tmp, "poseval_out")
    t_poseval, _ = _timed(
        [args.kit_python, "-m", "poseval.evaluate", "-g", gt17 + "/", "-p", pred17 + "/", "-e",
         "-t", "-o", out_dir], args.repeats, cwd=args.poseval,
    )  # fmt: skip
    with open(out18) as f:
        ours18 = json.load(f)
    with open(os.path.join(out_dir, "total_AP_metrics.json")) as f:
        ap = json.load(f)["ap"]
    with open(os.path.join(out_dir, "total_MOT_metrics.json")) as f:
        mot = json.load(f)
    # Both in the 2017 joint order, the total last; MOTP, precision and recall as totals.
    ap_diff = float(np.max(np.abs(np.subtract(ours18["ap_per_joint"], ap))))
    mota_diff = float(np.max(np.abs(np.subtract(ours18["mota_per_joint"], mot["mota"]))))
    rest_diff = max(
        abs(ours18[f"{k}_total"] - mot[m][-1])
        for k, m in (("motp", "motp"), ("precision", "pre"), ("recall", "rec"))
    )
    print(f"\n{ours21['num_sequences']} sequences, {ours21['num_frames']} labelled frames; "
          f"median of {args.repeats} runs each, whole commands (start to exit):")  # fmt: skip
    print("| metrics | official kit | s | this project | s | speed-up | largest difference |")
    print("|---|---|---|---|---|---|---|")
    print(f"| keypoint HOTA (all 9 values per joint) | PoseTrack21 kit | {t_kit:.2f} | "
          f"eval_posetrack --benchmark posetrack21 | {t_ours21:.2f} | {t_kit / t_ours21:.1f}x | "
          f"{hota_diff:.2g} |")  # fmt: skip
    print(f"| AP, MOTA (per joint), MOTP, Pre, Rec | poseval | {t_poseval:.2f} | eval_posetrack | {t_ours18:.2f} | "
          f"{t_poseval / t_ours18:.1f}x | AP {ap_diff:.2g}, MOTA {mota_diff:.2g}, MOTP/Pre/Rec "
          f"{rest_diff:.2g} |")  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--videos", type=int, default=6, help="val videos (default 6)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--levels", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--kit-python", help="python of an environment where the kit runs")
    p.add_argument("--kit", help="the kit's eval/posetrack21 folder")
    p.add_argument("--end-to-end", action="store_true", help="time the whole commands")
    p.add_argument("--poseval", help="the folder holding poseval's package (--end-to-end)")
    p.add_argument("--repeats", type=int, default=5, help="runs per command (--end-to-end)")
    args = p.parse_args()
    if args.end_to_end and not (args.kit_python and args.kit and args.poseval):
        p.error("--end-to-end needs --kit-python, --kit and --poseval")
    with tempfile.TemporaryDirectory() as tmp:
        generate_synthetic_posetrack(
            tmp, num_videos=1, num_val_videos=args.videos, num_frames=args.frames, seed=0
        )
        gt_dir = os.path.join(tmp, "annotations", "val")
        if args.end_to_end:
            pred = os.path.join(tmp, "pred")
            perturb(gt_dir, pred, args.seeds[0], args.levels[1 if len(args.levels) > 1 else 0])
            return end_to_end(args, gt_dir, pred, tmp)
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
                    [args.kit_python, os.path.join(os.path.dirname(__file__), "external", "posetrack21_kit.py"),
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
