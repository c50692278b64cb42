#!/usr/bin/env python
"""Video predictor benchmarks.

    python bench/bench_video.py memory [--frames 100 1000]
    python bench/bench_video.py modes --weights output/demo/model_3d/model_final.pth
    python bench/bench_video.py models --video vtest.avi [--frames 40] [--demo output/demo]

memory: peak resident memory (ru_maxrss) of a process that streams N synthetic 320x240 frames
through the dense video predictor with tracking (tiny random model, 96 px, at most 10
detections per clip), one process per N: flat when memory does not grow with video length.
modes: time and PoseTrack metrics of the dense (paper) and strided modes on the synthetic
validation videos with a trained quick-schedule model.
models: how much 3D costs. On the first --frames frames of a real video, scaled to 1280x720,
each model kind runs with tracking in its own process: the demo's trained 2D and 3D models, and
the paper-size R-18 configs with weights from one 2D checkpoint (random, seeded: no trained
paper-size model exists offline), T = 3 inflated from it. Reported: frames per second for T1,
T3 dense and T3 strided, the T3/T1 time per frame, the same ratio of FLOPs (fvcore, one clip),
peak memory, and where the time goes (torch.profiler, per stage).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from toolbox import ROOT
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
    from detectron2_tubes.engine.video import track_video
    from posetrack_core.evaluation import evaluate_posetrack, grouped

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


STAGES = ("backbone", "rpn", "box head", "keypoint head", "tracker")


def _label(obj, attr: str, name: str) -> None:
    """Run ``obj.attr`` inside a torch.profiler record_function named ``name``."""
    import torch

    fn = getattr(obj, attr)

    def labelled(*args, **kwargs):
        with torch.profiler.record_function(name):
            return fn(*args, **kwargs)

    setattr(obj, attr, labelled)


def _model_run(spec: dict) -> None:
    """One model kind in this process (the peak memory is its own); prints RESULT json."""
    import cv2
    import torch
    from detectron2.utils.analysis import FlopCountAnalysis
    from torch.nn import functional as F

    from detectron2_tubes import layers
    from detectron2_tubes.engine import VideoPredictor, read_frames, setup_cfg

    torch.set_num_threads(2)
    cfg = setup_cfg(spec["config"], ["MODEL.WEIGHTS", spec["weights"], "MODEL.DEVICE", "cpu"])
    reader, _, _ = read_frames(spec["video"])
    frames = []
    for frame in reader:
        frames.append(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
        if len(frames) == spec["frames"]:
            break
    result = {"name": spec["name"], "frames": len(frames)}
    video = VideoPredictor(cfg)
    model = video.predictor.model
    for mode in spec["modes"]:
        video = VideoPredictor(cfg, mode=mode, predictor=video.predictor)
        start = time.perf_counter()
        kept = sum(len(inst) for _, _, inst in video(frames))
        result[mode] = {"seconds": time.perf_counter() - start, "tracked": kept}
    # Where the time goes: the first mode again, under the profiler, stages labelled.
    video = VideoPredictor(cfg, mode=spec["modes"][0], predictor=video.predictor)
    _label(model.backbone, "forward", "backbone")
    _label(model.proposal_generator, "forward", "rpn")
    _label(model.roi_heads, "_forward_box", "box head")
    _label(model.roi_heads, "_forward_keypoint", "keypoint head")
    _label(video.tracker, "update", "tracker")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in video(frames):
            pass
        total = time.perf_counter() - start
    times = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in STAGES}
    result["stages"] = {k: times.get(k, 0.0) for k in STAGES}
    result["stages"]["other"] = max(0.0, total - sum(result["stages"].values()))
    # FLOPs of one clip (the middle one) as the model sees it.
    clip = frames[len(frames) // 2 : len(frames) // 2 + video.predictor.num_frames]
    own_conv = layers.conv3d
    layers.conv3d = F.conv3d  # fvcore counts aten::_convolution, not the oneDNN op we call
    try:
        with torch.no_grad():
            flops = FlopCountAnalysis(model, [video.predictor.model_input(clip)])
            flops.unsupported_ops_warnings(False)
            flops.uncalled_modules_warnings(False)
            result["gflops_per_clip"] = flops.total() / 1e9
    finally:
        layers.conv3d = own_conv
    result["T"] = video.predictor.num_frames
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def models(video: str, num_frames: int, demo_dir: str):
    import torch
    from detectron2.modeling import build_model

    from detectron2_tubes.engine import setup_cfg

    quick = os.path.join(ROOT, "configs", "quick_schedules")
    paper_2d = os.path.join(tempfile.mkdtemp(), "r18_t1_seed0.pth")
    torch.manual_seed(0)
    cfg = setup_cfg(os.path.join(ROOT, "configs", "tube_rcnn_R18_T1.yaml"), ["MODEL.DEVICE", "cpu"])
    torch.save({"model": build_model(cfg).state_dict()}, paper_2d)
    kinds = [
        ("demo 2D", os.path.join(quick, "tube_rcnn_R18_T1_synth.yaml"), "model_2d", ["dense"]),
        (
            "demo 3D",
            os.path.join(quick, "tube_rcnn_R18_T3_synth.yaml"),
            "model_3d",
            ["dense", "strided"],
        ),
        ("R18 T1", os.path.join(ROOT, "configs", "tube_rcnn_R18_T1.yaml"), None, ["dense"]),
        (
            "R18 T3",
            os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml"),
            None,
            ["dense", "strided"],
        ),
    ]
    results = []
    for name, config, demo_model, modes in kinds:
        weights = os.path.join(demo_dir, demo_model, "model_final.pth") if demo_model else paper_2d
        spec = dict(
            name=name, config=config, weights=weights, video=video, frames=num_frames, modes=modes
        )
        out = subprocess.run(
            [sys.executable, __file__, "_model", json.dumps(spec)],
            capture_output=True,
            text=True,
        )
        line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
        if out.returncode or not line:
            sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(line[0][len("RESULT ") :]))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(
        "| model | T | mode | frames per second | time per frame (s) | T3/T1 time per frame "
        "| GFLOPs per clip | T3/T1 FLOPs per frame | time ratio / FLOP ratio | peak memory (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {}
    for r in results:
        family = r["name"].split()[0]
        for mode in ("dense", "strided"):
            if mode not in r:
                continue
            per_frame = r[mode]["seconds"] / r["frames"]
            # FLOPs per output frame: dense runs a clip per frame, strided a clip per T frames.
            flops_frame = r["gflops_per_clip"] / (r["T"] if mode == "strided" else 1)
            if r["T"] == 1:
                base[family] = (per_frame, flops_frame)
                ratio = flop_ratio = "-"
                rel = "-"
            else:
                t1_time, t1_flops = base[family]
                ratio, flop_ratio = per_frame / t1_time, flops_frame / t1_flops
                rel = f"{ratio / flop_ratio:.2f}"
                ratio, flop_ratio = f"{ratio:.2f}x", f"{flop_ratio:.2f}x"
            print(
                f"| {r['name']} | {r['T']} | {mode} | {1 / per_frame:.2f} | {per_frame:.3f} | {ratio} "
                f"| {r['gflops_per_clip']:.1f} | {flop_ratio} | {rel} | {r['peak_mb']:.0f} |"
            )
    print("\nWhere the time goes (first mode, seconds over all frames, torch.profiler):\n")
    print("| model | " + " | ".join(STAGES) + " | other (reading, resizing, post-processing) |")
    print("|---|" + "---|" * (len(STAGES) + 1))
    for r in results:
        st = r["stages"]
        print(f"| {r['name']} | " + " | ".join(f"{st[k]:.1f}" for k in (*STAGES, "other")) + " |")
    return results


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "_stream":
        return _stream(int(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "_model":
        return _model_run(json.loads(sys.argv[2]))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["memory", "modes", "models"])
    parser.add_argument(
        "--frames", type=int, nargs="+", help="memory: video lengths (100 1000); models: 40"
    )
    parser.add_argument("--video", help="models: a real video (vtest.avi, see ENVIRONMENT)")
    parser.add_argument(
        "--demo", default=os.path.join(ROOT, "output", "demo"), help="models: make demo's output"
    )
    parser.add_argument("--output", help="models: write the results as JSON here")
    parser.add_argument(
        "--weights", default=os.path.join(ROOT, "output", "demo", "model_3d", "model_final.pth")
    )
    args = parser.parse_args()
    if args.what == "memory":
        memory(args.frames or [100, 1000])
    elif args.what == "models":
        if not args.video or not os.path.isfile(args.video):
            parser.error(f"--video {args.video}: not a file (models needs a real video)")
        for kind in ("model_2d", "model_3d"):
            if not os.path.isfile(os.path.join(args.demo, kind, "model_final.pth")):
                parser.error(f"{args.demo}/{kind}/model_final.pth not found: run make demo first")
        results = models(args.video, (args.frames or [40])[0], args.demo)
        if args.output:
            with open(args.output, "w") as f:
                json.dump(results, f, indent=1)
    else:
        if not os.path.isfile(args.weights):
            parser.error(f"{args.weights} not found: run make demo first, or give --weights")
        modes(args.weights)


if __name__ == "__main__":
    main()
