#!/usr/bin/env python
"""GPU check for a session with a lent GPU (never needed by tests or CI), in about 10 minutes:

1. paper-size training speed: configs/tube_rcnn_R18_T1.yaml and tube_rcnn_R18_T3.yaml (R-18 at
   full width, 8 x 512 keypoint convs, 512 RoIs per clip), 2 clips per GPU as the release ran
   them, at the release's scales (128/196/256, longer side <= 333), on the synthetic training
   videos: iterations per second and peak GPU memory, and the share of an iteration spent in
   tube NMS (which reads its overlap matrix on the host once per image, as torchvision's CUDA
   NMS does);
2. video inference: 100 frames at 1280x720 (synthetic frames scaled up) through the dense video
   predictor with tracking, R-18 T = 3: frames per second and peak GPU memory;
3. two-process video sharding (needs 2 GPUs on CUDA): track_video over the synthetic videos in
   1 and 2 processes, the seconds of each and whether they write the same files;
4. the exported model: R-18 T = 3 (random weights) exported to TorchScript on the device
   (``detectron2_tubes.export``), its clips per second against the eager model's on the same
   clips, and the largest box difference;
5. the memory table's GPU column: ``bench/bench_memory.py --device cuda`` (a process per point,
   ``torch.cuda.max_memory_allocated``) on MEMORY_POINTS (the paper's R-18 T = 3 at 256 px, and
   R-50 / R-101 up to T = 8 at 800 px, 1 and 2 clips per GPU) in float32 and under bfloat16
   autocast (Detectron2's AMP precision), each point's peak and seconds per iteration.

Weights are random (seeded; the learning rate is 0 so that they stay as they are while the
timing runs): speed, not accuracy. From the checkout's root, with the package installed (``make
install``) or on the path:

    PYTHONPATH=. python bench/gpu_check.py --output gpu_check.json   # MODEL.DEVICE cuda
    PYTHONPATH=. python bench/gpu_check.py --device cpu --smoke       # a 1-minute check of it

It needs Detectron2 (sal-detectron2, installed with --no-deps where numpy 2 is installed) and its
pure-Python dependencies: fvcore, iopath, yacs, termcolor, tabulate, portalocker, omegaconf,
antlr4-python3-runtime, hydra-core, pycocotools, scipy.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from toolbox import ROOT

from detectron2_tubes import layers  # noqa: E402
from detectron2_tubes.data import build_clip_train_loader  # noqa: E402
from detectron2_tubes.engine import TubeTrainer, VideoPredictor, setup_cfg  # noqa: E402
from posetrack_core.synthetic import generate_synthetic_posetrack  # noqa: E402


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _NmsTimer:
    """Wall time inside tube_nms (synchronised before and after each call)."""

    def __init__(self, device):
        self.device, self.seconds, self.calls = device, 0.0, 0
        self.original = layers.tube_nms

    def __enter__(self):
        def timed(*args, **kwargs):
            _sync(self.device)
            start = time.perf_counter()
            out = self.original(*args, **kwargs)
            _sync(self.device)
            self.seconds += time.perf_counter() - start
            self.calls += 1
            return out

        layers.tube_nms = timed
        return self

    def __exit__(self, *exc):
        layers.tube_nms = self.original


def train_speed(config, dataset, device, iters, warmup, smoke):
    opts = [
        "MODEL.DEVICE",
        device,
        "DATASETS.TRAIN",
        f"('{dataset}',)",
        "SOLVER.IMS_PER_BATCH",
        "2",
        "SOLVER.BASE_LR",
        "0.0",
        "DATALOADER.NUM_WORKERS",
        "4",
        "INPUT.CLIP.TRAIN_FILTER",
        "labeled",
    ]
    if smoke:
        opts += ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[64]", "INPUT.MIN_SIZE_TRAIN", "(128,)"]
    cfg = setup_cfg(os.path.join(ROOT, "configs", config), opts)
    torch.manual_seed(0)
    model = TubeTrainer.build_model(cfg)
    model.train()
    optimizer = TubeTrainer.build_optimizer(cfg, model)
    data = iter(build_clip_train_loader(cfg))
    from detectron2.utils.events import EventStorage

    times = []
    with EventStorage(), _NmsTimer(device) as nms:
        for i in range(warmup + iters):
            batch = next(data)
            if i == warmup:
                nms.seconds, nms.calls = 0.0, 0
                if device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
            _sync(device)
            start = time.perf_counter()
            losses = model(batch)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    total = sum(times)
    return {
        "config": config,
        "iterations_per_second": len(times) / total,
        "seconds_per_iteration_median": float(np.median(times)),
        "tube_nms_share": nms.seconds / total,
        "tube_nms_calls_per_iteration": nms.calls / len(times),
        "peak_memory_gib": (
            torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
        ),
    }


def video_speed(root, device, num_frames, smoke):
    import cv2

    opts = ["MODEL.DEVICE", device, "DATASETS.TEST", "()"]
    if smoke:
        opts += ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[64]", "INPUT.MIN_SIZE_TEST", "128"]
    cfg = setup_cfg(os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml"), opts)
    seq_dir = os.path.join(root, "images", "val")
    seq = sorted(os.listdir(seq_dir))[0]
    files = sorted(os.listdir(os.path.join(seq_dir, seq)))
    size = (320, 180) if smoke else (1280, 720)
    frames = [
        cv2.resize(cv2.imread(os.path.join(seq_dir, seq, files[i % len(files)])), size)
        for i in range(num_frames)
    ]
    torch.manual_seed(0)
    predictor = VideoPredictor(cfg)
    for _ in predictor(frames[:4]):  # warm-up
        pass
    predictor.tracker.reset()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    detections = sum(len(inst) for _, _, inst in predictor(frames))
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "frames": num_frames,
        "size": f"{size[0]}x{size[1]}",
        "frames_per_second": num_frames / seconds,
        "seconds": seconds,
        "tracked_detections_per_frame": detections / num_frames,
        "peak_memory_gib": (
            torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
        ),
    }


def export_speed(root, device, smoke, clips=20):
    """Eager vs TorchScript per clip on ``device``, the same clips, after a warm-up."""
    import tempfile

    import cv2
    from detectron2.modeling import build_model

    from detectron2_tubes.engine import ClipPredictor
    from detectron2_tubes.export import ExportedModel, export_model, export_outputs

    opts = ["MODEL.DEVICE", device, "DATASETS.TEST", "()", "TEST.DETECTIONS_PER_IMAGE", "20"]
    if smoke:
        opts += ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[64]", "INPUT.MIN_SIZE_TEST", "128"]
    config = os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml")
    torch.manual_seed(0)
    model = build_model(setup_cfg(config, opts))
    with torch.no_grad():  # random boxes that pass the score threshold, as people would
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.01)
        model.roi_heads.box_predictor.cls_score.bias[0] = 2.0
    seq_dir = os.path.join(root, "images", "val")
    seq = os.path.join(seq_dir, sorted(os.listdir(seq_dir))[0])
    frames = [cv2.imread(os.path.join(seq, f)) for f in sorted(os.listdir(seq))]
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "random.pth")
        torch.save({"model": model.state_dict()}, weights)
        cfg = setup_cfg(config, opts + ["MODEL.WEIGHTS", weights])
        export_model(cfg, "torchscript", tmp, frames[:3])
        exported = ExportedModel(tmp, device=device)
        pred = ClipPredictor(cfg)
        inputs = [pred.model_input(frames[i : i + 3])["image"] for i in range(clips)]
        eager = lambda c: export_outputs(pred.model, [{"image": c}])  # noqa: E731
        times, diff = {"eager": 0.0, "torchscript": 0.0}, 0.0
        with torch.no_grad():
            for run in (eager, exported):  # warm-up
                run(inputs[0])
            for key, run in (("eager", eager), ("torchscript", exported)):
                _sync(device)
                start = time.perf_counter()
                for c in inputs:
                    run(c)
                _sync(device)
                times[key] = time.perf_counter() - start
            for c in inputs[:3]:  # boxes (random keypoint heads give meaningless joints)
                want, got = eager(c), exported(c)
                if len(want["scores"]) == len(got["scores"]):
                    diff = max(diff, float((want["tubes"].cpu() - torch.as_tensor(
                        got["tubes"])).abs().max()))  # fmt: skip
                else:
                    diff = float("inf")
    return {
        "clips": clips,
        "eager_clips_per_second": clips / times["eager"],
        "torchscript_clips_per_second": clips / times["torchscript"],
        "torchscript_over_eager_time": times["torchscript"] / times["eager"],
        "max_box_diff_px": diff,
    }


def video_sharding(root, device, smoke):
    """track_video over the synthetic training videos (folders of frames) in 1 process and in 2
    (--num-gpus 2, each process a share): seconds of each, and whether the files are the same.
    Needs 2 GPUs for CUDA (Detectron2's launch gives each process its own)."""
    import filecmp
    import subprocess
    import tempfile

    if device.startswith("cuda") and torch.cuda.device_count() < 2:
        return {"skipped": f"{torch.cuda.device_count()} GPU(s); two-process sharding needs 2"}
    seq_dir = os.path.join(root, "images", "train")
    inputs = [os.path.join(seq_dir, s) for s in sorted(os.listdir(seq_dir))]
    opts = ["MODEL.DEVICE", device, "TRACKING.DET_THRESH", "0.0", "TEST.DETECTIONS_PER_IMAGE", "5"]
    if smoke:
        opts += ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[64]", "INPUT.MIN_SIZE_TEST", "128"]
    out, seconds = tempfile.mkdtemp(prefix="gpu_check_sharding_"), {}
    # One set of seeded random weights for every process (speed, not accuracy).
    from detectron2_tubes.checkpoint import SafeDetectionCheckpointer

    torch.manual_seed(0)
    cfg = setup_cfg(os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml"), opts[:2] + opts[6:])
    SafeDetectionCheckpointer(TubeTrainer.build_model(cfg), out).save("weights")
    opts += ["MODEL.WEIGHTS", os.path.join(out, "weights.pth")]
    for n in (1, 2):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tubes_cli.track_video", "--config-file",
             os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml"), "--input", *inputs,
             "--output", os.path.join(out, str(n)), "--no-video", "--num-gpus", str(n), *opts],
            check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        )  # fmt: skip
        seconds[n] = time.perf_counter() - start
    names = sorted(os.listdir(os.path.join(out, "1")))
    same = all(filecmp.cmp(os.path.join(out, "1", f), os.path.join(out, "2", f), shallow=False)
               for f in names)  # fmt: skip
    return {"videos": len(inputs), "seconds_1_process": seconds[1],
            "seconds_2_processes": seconds[2], "speedup": seconds[1] / seconds[2],
            "same_files": same}  # fmt: skip


# (depths, frames, sizes, clips) groups for bench_memory.py on the GPU.
MEMORY_POINTS = (
    ("18", "3", "256", "1 2"),
    ("50", "3", "512", "1"),
    ("101", "3", "800", "1 2"),
    ("101", "8", "800", "1"),
)


def memory_points(device, output, smoke):
    """Run bench_memory.py (a script beside this one, in processes of its own) on MEMORY_POINTS
    in float32 and bfloat16; returns its measured points."""
    import subprocess

    script = os.path.join(ROOT, "bench", "bench_memory.py")
    groups = (("18", "1", "256", "1"),) if smoke else MEMORY_POINTS
    for depths, frames, sizes, clips in groups:
        subprocess.run(
            [sys.executable, script, "--device", device, "--output", output, "--timeout", "300",
             "--depths", depths, "--frames", *frames.split(), "--sizes", sizes,
             "--clips", *clips.split(), "--precision", "float32", "bfloat16"],
            check=True,
        )  # fmt: skip
    points_dir = os.path.join(output, "points")
    out = []
    for name in sorted(os.listdir(points_dir)):
        with open(os.path.join(points_dir, name)) as f:
            out.append(json.load(f))
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--iters", type=int, default=40, help="timed training iterations")
    parser.add_argument("--frames", type=int, default=100, help="video frames")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the script")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument(
        "--memory-output", default="output/gpu_check_memory", help="bench_memory.py's folder"
    )
    parser.add_argument("--skip-memory", action="store_true", help="leave out part 5")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device here (use --device cpu --smoke to check the script)")
    from detectron2_tubes.data import register_posetrack

    root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gpu_check_synth")
    generate_synthetic_posetrack(
        root, num_videos=4, num_frames=30, seed=0, num_val_videos=1, overwrite=True
    )
    register_posetrack("gpu_check_train", os.path.join(root, "annotations", "train"), root)
    report = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "train": [
            train_speed(c, "gpu_check_train", args.device, args.iters, 5, args.smoke)
            for c in ("tube_rcnn_R18_T1.yaml", "tube_rcnn_R18_T3.yaml")
        ],
        "video": video_speed(root, args.device, args.frames, args.smoke),
    }
    report["video_sharding"] = video_sharding(root, args.device, args.smoke)
    try:
        report["export"] = export_speed(root, args.device, args.smoke)
    except Exception as e:  # noqa: BLE001  (report it; the other parts still count)
        report["export"] = {"error": f"{type(e).__name__}: {e}"}
    if not args.skip_memory:
        report["memory"] = memory_points(args.device, args.memory_output, args.smoke)
    t1, t3 = report["train"]
    report["train_T3_over_T1_time"] = t1["iterations_per_second"] / t3["iterations_per_second"]
    print(json.dumps(report, indent=1))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
