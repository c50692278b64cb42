"""The tracker against the trackers people use today, on the same detections.

    python bench/bench_trackers.py [--weights output/demo/model_3d/model_final.pth]
                                   [--boxmot-env output/boxmot_env] [--output output/trackers]

Detections:
- TUD-Campus and TUD-Stadtmitte (MOT15, shipped with py-motmetrics): the CEM tracker's boxes,
  identities removed, every score 1 (the only real MOT data with ground truth offline);
- the synthetic videos: a trained Tube R-CNN's raw per-frame detections (every score >= 0.05,
  with poses), on the training videos (where settings are chosen) and the validation videos
  (where they are reported).

Trackers, all on those detections: the paper's (Hungarian on IoU between adjacent frames), this
tracker with each new part switched on in turn (gate and memory; Kalman motion; ByteTrack's
second association of low-score detections; the OKS pose cost), and ByteTrack, OC-SORT and
BoT-SORT (no appearance model, no camera-motion compensation) from ``boxmot`` 25.0.0 with their
default settings. ``boxmot`` needs numpy >= 2, which Detectron2 cannot take: it gets its own
virtual environment (made here on first use: ``python -m venv --system-site-packages`` and
``pip install boxmot==25.0.0``) and runs in it (bench/external/boxmot_runner.py), exchanging MOT files.
Every tracker's output boxes are the detections' own, so only the association differs.

Scores: TrackEval's HOTA, AssA, IDF1, MOTA and identity switches of the boxes (the synthetic
ground truth on its labelled frames; predictions on unlabelled frames or centred in an ignore
region left out, for every tracker alike), and for the synthetic poses the PoseTrack mAP and MOTA
and PoseTrack21's keypoint HOTA. Time per frame of each tracker's update alone. Results go to
DIR/trackers.json and DIR/trackers.md; the raw detections are cached in DIR.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


BOXMOT = ("bytetrack", "ocsort", "botsort")
BOXMOT_NAMES = {"bytetrack": "ByteTrack", "ocsort": "OC-SORT", "botsort": "BoT-SORT (no ReID)"}
TUD = ("TUD-Campus", "TUD-Stadtmitte")


def boxmot_python(env: str) -> str:
    """The Python of boxmot's virtual environment, made on first use."""
    python = os.path.join(env, "bin", "python")
    ok = os.path.isfile(python) and (
        subprocess.run([python, "-c", "import boxmot"], capture_output=True).returncode == 0
    )
    if not ok:
        print(f"[trackers] making boxmot's virtual environment in {env} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", env], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "boxmot==25.0.0"], check=True)
    return python


def write_mot(path: str, frames, with_ids: bool) -> None:
    """frames: per frame (1-based order) Detections (with track_ids if with_ids)."""
    lines = []
    for f, d in enumerate(frames, 1):
        for i in range(len(d)):
            x0, y0, x1, y1 = d.boxes[i]
            tid = int(d.track_ids[i]) + 1 if with_ids else -1
            lines.append(
                f"{f},{tid},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},{d.scores[i]:.4f}"
            )
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + ("\n" if lines else ""))


def run_ours(videos, options):
    """{seq: per-frame tracked Detections}, seconds in update, frames."""
    from posetrack_core.tracking import PoseTracker

    out, seconds, n = {}, 0.0, 0
    for seq, frames in videos.items():
        tracker = PoseTracker(**options)
        tracked = []
        for d in frames:
            start = time.perf_counter()
            tracked.append(tracker.update(d))
            seconds += time.perf_counter() - start
            n += 1
        out[seq] = tracked
    return out, seconds, n


def run_boxmot(python, name, videos, size, tmp):
    """Run one boxmot tracker on the videos' detections; {seq: tracked Detections}, s, frames."""
    in_dir, out_dir = os.path.join(tmp, "in"), os.path.join(tmp, name)
    os.makedirs(in_dir, exist_ok=True)
    for seq, frames in videos.items():
        write_mot(os.path.join(in_dir, seq + ".txt"), frames, with_ids=False)
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "external", "boxmot_runner.py")
    subprocess.run(
        [python, runner, name, in_dir, out_dir, str(size[1]), str(size[0])],
        check=True,
        capture_output=True,
    )
    out = {}
    for seq, frames in videos.items():
        rows = np.loadtxt(os.path.join(out_dir, seq + ".txt"), delimiter=",", ndmin=2)
        tracked = []
        for f, d in enumerate(frames, 1):
            r = rows[rows[:, 0] == f] if rows.size else np.zeros((0, 8))
            t = d[r[:, 7].astype(np.int64)]
            t.track_ids = r[:, 1].astype(np.int64) - 1
            tracked.append(t)
        out[seq] = tracked
    with open(os.path.join(out_dir, "timing.json")) as fh:
        timing = json.load(fh)
    return out, timing["seconds"], timing["frames"]


def tud_videos():
    import motmetrics as mm

    from posetrack_core.tracking import Detections

    data = os.path.join(os.path.dirname(mm.__file__), "data")
    videos, gts = {}, {}
    for seq in TUD:
        rows = np.loadtxt(os.path.join(data, seq, "test.txt"), delimiter=",", ndmin=2)
        last = int(rows[:, 0].max())
        frames = []
        for f in range(1, last + 1):
            r = rows[rows[:, 0] == f]
            boxes = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
            frames.append(Detections(boxes, np.ones(len(r)), image_size=(480, 640)))
        videos[seq], gts[seq] = frames, os.path.join(data, seq, "gt.txt")
    return videos, gts


def synthetic_detections(weights, dataset, out_dir):
    """Raw per-frame detections (every score >= 0.05, poses) of a trained quick-schedule
    Tube R-CNN on ``dataset``, cached: {video_id: {frame_id: Detections}}."""
    from detectron2_tubes.evaluation import RAW_PREDICTIONS_FILE, load_raw_predictions

    raw_path = os.path.join(out_dir, "inference", dataset, RAW_PREDICTIONS_FILE)
    if not os.path.isfile(raw_path):
        from detectron2_tubes.experiments.recipe import CONFIG_3D, evaluate, quick_config

        opts = ["TRACKING.DET_THRESH", "0.0", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05"]
        evaluate(quick_config(CONFIG_3D), weights, dataset, out_dir, opts)
    return load_raw_predictions(raw_path)


def synthetic_videos(raw, dataset):
    from detectron2.data import DatasetCatalog

    from detectron2_tubes.data.clips import group_by_video
    from posetrack_core.keypoints import NUM_KEYPOINTS
    from posetrack_core.tracking import Detections

    videos, frames_of = {}, {}
    for frames in group_by_video(DatasetCatalog.get(dataset)):
        seq = os.path.splitext(os.path.basename(frames[0]["annotation_file"]))[0]
        preds = raw.get(frames[0]["video_id"], {})
        empty = Detections.empty(NUM_KEYPOINTS)
        dets = [preds.get(d["frame_id"], empty) for d in frames]
        videos[seq], frames_of[seq] = dets, frames
    return videos, frames_of


def synthetic_gt(frames_of, tmp):
    """MOT15-layout ground truth of the labelled frames; per sequence, the labelled frame
    numbers and the ignore polygons."""
    gts, labelled, ignore = {}, {}, {}
    for seq, frames in frames_of.items():
        lines = []
        for f, d in enumerate(frames, 1):
            for a in d["annotations"]:
                x0, y0, x1, y1 = a["bbox"]
                lines.append(f"{f},{a['track_id'] + 1},{x0},{y0},{x1 - x0},{y1 - y0},1,-1,-1,-1")
        gts[seq] = os.path.join(tmp, f"gt_{seq}.txt")
        with open(gts[seq], "w") as fh:
            fh.write("\n".join(lines) + "\n")
        labelled[seq] = {f for f, d in enumerate(frames, 1) if d.get("is_labeled", True)}
        ignore[seq] = [
            np.asarray(p, np.float32).reshape(-1, 2) for p in frames[0].get("ignore_regions") or []
        ]
    return gts, labelled, ignore


def score_boxes(tracked, gts, tmp, tag, labelled=None, ignore=None):
    """TrackEval on the tracked boxes (synthetic: labelled frames only, none in ignore regions)."""
    import cv2

    from posetrack_core.evaluation.box_metrics import evaluate_mot_many

    pairs = []
    for seq, frames in tracked.items():
        kept = []
        for f, d in enumerate(frames, 1):
            if labelled is not None and f not in labelled[seq]:
                kept.append(d[np.zeros(0, np.int64)])
                continue
            centre = (d.boxes[:, :2] + d.boxes[:, 2:]) / 2
            ok = np.ones(len(d), bool)
            for poly in (ignore or {}).get(seq, []):
                ok &= [
                    cv2.pointPolygonTest(poly, (float(x), float(y)), False) < 0 for x, y in centre
                ]
            kept.append(d[np.flatnonzero(ok)])
        path = os.path.join(tmp, f"pred_{tag}_{seq}.txt")
        write_mot(path, kept, with_ids=True)
        pairs.append((gts[seq], path))
    return evaluate_mot_many(pairs)


def score_poses(tracked, frames_of, out_dir, cfg_options):
    from detectron2_tubes.evaluation import score_written
    from posetrack_core.evaluation.hota_pose import evaluate_posetrack21
    from posetrack_core.evaluation.writer import write_posetrack_video

    paths, videos = [], []
    for seq, frames in frames_of.items():
        path = os.path.join(out_dir, os.path.basename(frames[0]["annotation_file"]))
        preds = {d["frame_id"]: t for d, t in zip(frames, tracked[seq])}
        write_posetrack_video(path, frames, preds, **cfg_options)
        paths.append(path)
        videos.append(frames)
    r = score_written(videos, paths, warn=lambda m: None)
    gt_dir = os.path.dirname(videos[0][0]["annotation_file"])
    hota = evaluate_posetrack21(gt_dir, out_dir)
    return {"mAP": r["ap"][-1], "MOTA": r["mota"][-1], "HOTA": hota["HOTA"][-1]}


def ours_variants(det, low, gate, memory, poses):
    """The paper's tracker, then each new part switched on in turn (cumulative)."""
    base = dict(cost="iou", matcher="hungarian", det_thresh=det, min_area=0.0)
    steps = [("this tracker: the paper's (IoU, adjacent frames)", {})]
    steps.append((f"+ gate {gate}, memory {memory}", dict(max_cost=gate, memory=memory)))
    steps.append(("+ Kalman motion", dict(max_cost=gate, memory=memory, motion="kalman")))
    steps.append(
        (f"+ second association (scores >= {low})",
         dict(max_cost=gate, memory=memory, motion="kalman", low_thresh=low))
    )  # fmt: skip
    if poses:
        steps.append(
            ("+ OKS cost (IoU + OKS)",
             dict(max_cost=gate, memory=memory, motion="kalman", low_thresh=low,
                  cost={"iou": 1.0, "oks": 1.0}))
        )  # fmt: skip
    return [(name, {**base, **o}) for name, o in steps]


def choose_settings(videos, gts, tmp, labelled, ignore):
    """Detection threshold, low threshold, gate and memory of the full tracker with the best
    HOTA on the synthetic training videos (the only place settings are chosen)."""
    best = None
    for det, low, gate, memory in itertools.product(
        (0.5, 0.7, 0.9), (0.1, 0.3), (0.7, 0.8), (8, 16, 30)
    ):
        if low >= det:
            continue
        options = dict(cost="iou", det_thresh=det, min_area=0.0, max_cost=gate, memory=memory)
        options.update(motion="kalman", low_thresh=low)
        tracked, _, _ = run_ours(videos, options)
        r = score_boxes(tracked, gts, tmp, "choose", labelled, ignore)
        if best is None or r["HOTA"] > best[0]:
            best = (r["HOTA"], dict(det=det, low=low, gate=gate, memory=memory))
    print(f"[trackers] chosen on the training videos: {best[1]} (HOTA {best[0]:.1f})", flush=True)
    return best[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default="output/demo/model_3d/model_final.pth")
    parser.add_argument("--boxmot-env", default="output/boxmot_env")
    parser.add_argument("--output", default="output/trackers")
    args = parser.parse_args(argv)
    import detectron2_tubes  # noqa: F401  (registers the datasets)
    from detectron2_tubes.engine import setup_cfg
    from detectron2_tubes.experiments.recipe import CONFIG_3D, quick_config
    from posetrack_core.from_config import writer_options
    from posetrack_core.io import write_json_atomic, write_text_atomic

    os.makedirs(args.output, exist_ok=True)
    python = boxmot_python(args.boxmot_env)
    writer = dict(writer_options(setup_cfg(quick_config(CONFIG_3D))), det_thresh=0.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = {
            split: synthetic_detections(
                args.weights, f"posetrack_synth_{split}", os.path.join(args.output, split)
            )
            for split in ("train", "val")
        }
        train_videos, train_frames = synthetic_videos(raw["train"], "posetrack_synth_train")
        gts, labelled, ignore = synthetic_gt(train_frames, tmp)
        s = choose_settings(train_videos, gts, tmp, labelled, ignore)
        val_videos, val_frames = synthetic_videos(raw["val"], "posetrack_synth_val")
        val_gts, val_labelled, val_ignore = synthetic_gt(val_frames, tmp)
        tud, tud_gts = tud_videos()
        for data, videos, gt, size, lab, ign, poses in (
            ("TUD (both)", tud, tud_gts, (480, 640), None, None, False),
            ("synthetic val", val_videos, val_gts, (240, 320), val_labelled, val_ignore, True),
        ):
            # On TUD every score is 1: the detection threshold and low-score stage do nothing.
            runs = [
                (name, lambda o=o: run_ours(videos, o))
                for name, o in ours_variants(s["det"], s["low"], s["gate"], s["memory"], poses)
            ]
            runs += [
                (BOXMOT_NAMES[b], lambda b=b: run_boxmot(python, b, videos, size, tmp))
                for b in BOXMOT
            ]
            for name, run in runs:
                tracked, seconds, frames = run()
                tag = f"{len(rows)}"
                r = score_boxes(tracked, gt, tmp, tag, lab, ign)
                row = {"data": data, "tracker": name, "ms_per_frame": 1000 * seconds / frames}
                row.update({k: r[k] for k in ("HOTA", "AssA", "IDF1", "MOTA", "IDSW")})
                if data == "TUD (both)":
                    for seq in TUD:
                        one = score_boxes({seq: tracked[seq]}, gt, tmp, tag + seq)
                        row[seq] = {k: one[k] for k in ("HOTA", "AssA", "IDF1", "MOTA", "IDSW")}
                if poses:
                    pose_dir = os.path.join(args.output, "poses", tag)
                    row.update(
                        {
                            f"pose {k}": v
                            for k, v in score_poses(tracked, val_frames, pose_dir, writer).items()
                        }
                    )
                rows.append(row)
                print(f"[trackers] {data} | {name} | HOTA {row['HOTA']:.1f} | IDF1 "
                      f"{row['IDF1']:.1f} | MOTA {row['MOTA']:.1f}", flush=True)  # fmt: skip
    lines = [f"Settings chosen on the synthetic training videos: {s}.", ""]
    for data in ("TUD (both)", "TUD-Campus", "TUD-Stadtmitte", "synthetic val"):
        src = "TUD (both)" if data.startswith("TUD-") else data
        pose = data == "synthetic val"
        lines += [
            f"{data}:",
            "",
            "| tracker | HOTA | AssA | IDF1 | MOTA | ID switches | "
            + ("pose mAP | pose MOTA | PoseTrack21 HOTA | " if pose else "")
            + "ms per frame |",
            "|---|---|---|---|---|---|" + ("---|---|---|" if pose else "") + "---|",
        ]
        for row in (r for r in rows if r["data"] == src):
            m = row[data] if data.startswith("TUD-") else row
            cells = [f"{m[k]:.1f}" for k in ("HOTA", "AssA", "IDF1", "MOTA")] + [str(m["IDSW"])]
            if pose:
                cells += [f"{row[k]:.1f}" for k in ("pose mAP", "pose MOTA", "pose HOTA")]
            lines.append(f"| {row['tracker']} | {' | '.join(cells)} | {row['ms_per_frame']:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    write_json_atomic({"settings": s, "rows": rows}, os.path.join(args.output, "trackers.json"))
    write_text_atomic(text + "\n", os.path.join(args.output, "trackers.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
