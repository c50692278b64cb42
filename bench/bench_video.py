#!/usr/bin/env python
"""Video predictor benchmarks.

    python bench/bench_video.py memory [--frames 100 1000]
    python bench/bench_video.py modes --weights output/demo/model_3d/model_final.pth

memory: peak resident memory (ru_maxrss) of a process that streams N synthetic 320x240 frames
through the dense video predictor with tracking (tiny random model, 96 px, at most 10
detections per clip), one process per N: flat when memory does not grow with video length.
modes: time and PoseTrack metrics of the dense (paper) and strided modes on the synthetic
validation videos with a trained quick-schedule model.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
QUICK = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")


def _stream(num_frames: int) -> None:
    import numpy as np
    import torch

    from detectron2_tubes.engine import VideoPredictor, setup_cfg

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = setup_cfg(
        QUICK,
        [
            "INPUT.MIN_SIZE_TEST",
            "96",
            "TEST.DETECTIONS_PER_IMAGE",
            "10",
            "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
            "[32,32]",
            "TRACKING.DET_THRESH",
            "0.3",
        ],
    )
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)

    def frames():
        for i in range(num_frames):  # a new array per frame, as a video reader gives
            yield np.roll(base, i, axis=1).copy()

    start = time.perf_counter()
    n = sum(1 for _ in VideoPredictor(cfg)(frames()))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {n} {peak_mb:.1f} {time.perf_counter() - start:.1f}")


def memory(frame_counts):
    print("| frames | peak memory (MiB) | time (s) |\n|---|---|---|")
    for n in frame_counts:
        out = subprocess.run(
            [sys.executable, __file__, "_stream", str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        _, frames, peak, secs = next(
            line for line in out.splitlines() if line.startswith("RESULT")
        ).split()
        print(f"| {frames} | {float(peak):.0f} | {float(secs):.0f} |", flush=True)


def modes(weights: str):
    from detectron2_tubes.data import ensure_synthetic_dataset
    from detectron2_tubes.engine import setup_cfg
    from detectron2_tubes.evaluation import evaluate_posetrack, grouped
    from detectron2_tubes.track_video import track_video

    root = ensure_synthetic_dataset()
    cfg = setup_cfg(QUICK, ["MODEL.WEIGHTS", weights])
    videos = sorted(os.listdir(os.path.join(root, "images", "val")))
    print(
        "| mode | frames | time (s) | frames per second | mAP | MOTA |\n|---|---|---|---|---|---|"
    )
    for mode in ("dense", "strided"):
        out = tempfile.mkdtemp()
        start, frames = time.perf_counter(), 0
        for seq in videos:
            frames += track_video(
                cfg,
                os.path.join(root, "images", "val", seq),
                out,
                mode=mode,
                write_video=False,
                progress=False,
            )["frames"]
        secs = time.perf_counter() - start
        res = evaluate_posetrack(os.path.join(root, "annotations", "val"), out, warn=lambda m: None)
        print(
            f"| {mode} | {frames} | {secs:.0f} | {frames / secs:.2f} | {grouped(res['ap'])['total']:.1f} "
            f"| {res['mota'][-1]:.1f} |",
            flush=True,
        )


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "_stream":
        return _stream(int(sys.argv[2]))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["memory", "modes"])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--weights", default=os.path.join(ROOT, "output", "demo", "model_3d", "model_final.pth")
    )
    args = parser.parse_args()
    if args.what == "memory":
        memory(args.frames)
    else:
        if not os.path.isfile(args.weights):
            parser.error(f"{args.weights} not found: run make demo first, or give --weights")
        modes(args.weights)


if __name__ == "__main__":
    main()
