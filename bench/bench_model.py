#!/usr/bin/env python
"""Parameters and CPU forward time per clip of Tube R-CNN R-18, T = 1 (2D) vs T = 3 (3D).

    python bench/bench_model.py [--size 256] [--runs 5] [--threads 2] [--output results.json]

Each model is timed twice in the same run: with the project's convolutions (oneDNN on a CPU,
`detectron2_tubes.layers.conv3d`) and with PyTorch's own kernel choice (`F.conv3d`, which
sends a single clip's 3x3 convolutions to its slow reference kernel), so the table shows
what that choice costs.

Models are the paper-scale configs (configs/tube_rcnn_R18_T1.yaml, tube_rcnn_R18_T3.yaml) with
random weights, the T = 3 one inflated from the T = 1 one ("center"), in eval mode on a clip of
real synthetic frames resized to a shortest edge of --size. Time is the median of --runs forward
passes after one warm-up, so it includes the heads on up to 100 detections per clip.
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch.nn import functional as F

from toolbox import ROOT

from detectron2.modeling import build_model  # noqa: E402

from detectron2_tubes import InflatingCheckpointer  # noqa: E402
from detectron2_tubes import layers  # noqa: E402
from detectron2_tubes.data import (  # noqa: E402
    ClipDatasetMapper,
    build_clip_dicts,
    ensure_synthetic_dataset,
)
from detectron2_tubes.data.posetrack import load_posetrack_split  # noqa: E402
from detectron2_tubes.engine import setup_cfg  # noqa: E402
from posetrack_core.io import write_json_atomic  # noqa: E402


def _time(model, clip, runs):
    """Seconds of each of ``runs`` forward passes after one warm-up, and the last output."""
    times = []
    with torch.no_grad():
        for i in range(runs + 1):
            start = time.perf_counter()
            (out,) = model([clip])
            if i:
                times.append(time.perf_counter() - start)
    return times, out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="shortest edge of the input")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = ensure_synthetic_dataset()
    frames = load_posetrack_split(os.path.join(root, "annotations", "val"), root)
    results, ckpt = [], os.path.join(tempfile.mkdtemp(), "r18_t1.pth")
    for name, t in (("tube_rcnn_R18_T1", 1), ("tube_rcnn_R18_T3", 3)):
        cfg = setup_cfg(
            os.path.join(ROOT, "configs", f"{name}.yaml"),
            ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", args.size],
        )
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        if t == 1:
            torch.save({"model": model.state_dict()}, ckpt)
        else:
            InflatingCheckpointer.from_config(cfg, model).load(ckpt)
        clip = ClipDatasetMapper(cfg, False)(build_clip_dicts(frames, t, 1)[30])
        times, out = _time(model, clip, args.runs)
        own_conv = layers.conv3d
        layers.conv3d = F.conv3d  # PyTorch's own choice of kernel, for comparison
        try:
            torch_times, _ = _time(model, clip, args.runs)
        finally:
            layers.conv3d = own_conv
        params = sum(p.numel() for p in model.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        results.append(
            dict(
                model=name,
                T=t,
                input=f"{t}x{tuple(clip['image'].shape[2:])}",
                params_M=round(params / 1e6, 2),
                backbone_params_M=round(backbone / 1e6, 2),
                forward_s=round(statistics.median(times), 3),
                per_frame_s=round(statistics.median(times) / t, 3),
                forward_torch_conv_s=round(statistics.median(torch_times), 3),
                detections=len(out["instances"]),
            )
        )
    print(f"CPU threads: {args.threads}, torch {torch.__version__}")
    print(
        "| model | T | input (T x H x W) | params (M) | backbone (M) | forward per clip (s) "
        "| per frame (s) | with F.conv3d (s) | detections |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['model']} | {r['T']} | {r['input']} | {r['params_M']} | {r['backbone_params_M']} "
            f"| {r['forward_s']} | {r['per_frame_s']} | {r['forward_torch_conv_s']} "
            f"| {r['detections']} |"
        )
    if args.output:
        write_json_atomic(results, args.output, indent=1)


if __name__ == "__main__":
    main()
