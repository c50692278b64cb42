#!/usr/bin/env python
"""Time per clip on the CPU of a model run eagerly, as TorchScript and with onnxruntime, in one
run on the same inputs, with the model's FLOPs.

    python bench/bench_export.py --weights-2d output/demo/model_2d/model_final.pth \\
        --weights-3d output/demo/model_3d/model_final.pth [--clips 6] [--runs 3] [--threads 2]

For each model (the demo's configs, quick_schedules/tube_rcnn_R18_T{1,3}_synth.yaml, with the
weights given): export to TorchScript and to ONNX (`detectron2_tubes.export.export_model`, traced
on the first clip), then time eager (`ClipPredictor`'s model as `VideoPredictor` runs it, oneDNN
convolutions, channels-last for T = 3), TorchScript (`torch.jit.load`) and onnxruntime (CPU
provider, with the keypoint decoding outside the graph) on --clips clips of a synthetic
validation video at the config's test size, the median of --runs passes per clip after a
warm-up, interleaved so that the machine's state is shared. Every output is also compared with
the eager model's (detections and largest joint difference). FLOPs: Detectron2's
`FlopCountAnalysis` on the eager model and the first clip (multiply-adds counted once, as
Detectron2 counts). Results go to DIR/export.json and DIR/export.md.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch


from detectron2_tubes.data import ensure_synthetic_dataset  # noqa: E402
from detectron2_tubes.engine import ClipPredictor, setup_cfg  # noqa: E402
from detectron2_tubes.experiments.recipe import CONFIG_2D, CONFIG_3D, quick_config  # noqa: E402
from detectron2_tubes.export import ExportedModel, export_model, export_outputs  # noqa: E402
from toolbox import machine_description  # noqa: E402
from posetrack_core.io import write_json_atomic, write_text_atomic  # noqa: E402


def _clips(pred, count):
    """``count`` clips of a synthetic validation video: (the frames, the model's input)."""
    import cv2

    folder = os.path.join(ensure_synthetic_dataset(), "images", "val")
    video = os.path.join(folder, sorted(os.listdir(folder))[0])
    frames = [cv2.imread(os.path.join(video, n)) for n in sorted(os.listdir(video))]
    t, step = pred.num_frames, max(1, (len(frames) - pred.num_frames) // count)
    clips = [frames[i : i + t] for i in range(0, step * count, step)]
    return [(c, pred.model_input(c)["image"]) for c in clips]


def _flops(model, clip) -> float:
    from detectron2.utils.analysis import FlopCountAnalysis

    # Counted on the portable convolution: the counter does not know the oneDNN call
    # (layers.conv3d's shortcut, which the same model takes when mkldnn is enabled).
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
        analysis = FlopCountAnalysis(model, [{"image": clip}])
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.total() / 1e9


def bench_model(name, config, weights, args, tmp):
    cfg = setup_cfg(quick_config(config), ["MODEL.WEIGHTS", weights])
    pred = ClipPredictor(cfg)  # as VideoPredictor runs it
    clips = _clips(pred, args.clips)
    runners = {}
    for fmt in ("torchscript", "onnx"):
        folder = os.path.join(tmp, f"{name}_{fmt}")
        export_model(cfg, fmt, folder, clips[0][0])
        runners[fmt] = ExportedModel(folder)
    clips = [clip for _, clip in clips]

    def eager(clip):
        with torch.no_grad():
            return {k: v.numpy() for k, v in export_outputs(pred.model, [{"image": clip}]).items()}

    runs = {"eager": eager, **{fmt: (lambda c, r=r: r(c)) for fmt, r in runners.items()}}
    times = {k: [] for k in runs}
    diffs = {k: 0.0 for k in runs}
    detections = 0
    for clip in clips:
        want = eager(clip)
        detections += len(want["scores"])
        for key, run in runs.items():
            got = run(clip)  # warm-up, and the check
            if len(got["scores"]) != len(want["scores"]):
                diffs[key] = float("inf")
            else:
                diffs[key] = max(diffs[key], float(np.abs(got["keypoints"] - want["keypoints"])
                                                   .max(initial=0)))  # fmt: skip
        for _ in range(args.runs):
            for key, run in runs.items():
                start = time.perf_counter()
                run(clip)
                times[key].append(time.perf_counter() - start)
    row = {
        "model": name,
        "T": pred.num_frames,
        "input": "x".join(str(s) for s in clips[0].shape[-2:]),
        "gflops": round(_flops(pred.model, clips[0]), 2),
        "detections_per_clip": detections / len(clips),
    }
    for key in runs:
        row[f"{key}_s"] = statistics.median(times[key])
        row[f"{key}_max_joint_diff_px"] = diffs[key]
    return row


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights-2d", required=True)
    parser.add_argument("--weights-3d", required=True)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="output/bench_export")
    args = parser.parse_args()
    for w in (args.weights_2d, args.weights_3d):
        if not os.path.isfile(w):
            parser.error(f"{w} does not exist (make demo trains both models)")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config, weights in (
            ("demo 2D (T = 1)", CONFIG_2D, args.weights_2d),
            ("demo 3D (T = 3)", CONFIG_3D, args.weights_3d),
        ):
            rows.append(bench_model(name, config, weights, args, tmp))
            print(rows[-1], flush=True)
    lines = [
        f"{machine_description()}; torch {torch.__version__}, {args.threads} threads; median of "
        f"{args.runs} runs on each of {args.clips} clips, one run",
        "",
        "| model | input | GFLOPs | detections per clip | eager s | TorchScript s | onnxruntime s "
        "| TorchScript / eager | onnxruntime / eager | largest joint difference (px) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['gflops']} | {r['detections_per_clip']:.1f} | "
            f"{r['eager_s']:.3f} | {r['torchscript_s']:.3f} | {r['onnx_s']:.3f} | "
            f"{r['torchscript_s'] / r['eager_s']:.2f}x | {r['onnx_s'] / r['eager_s']:.2f}x | "
            f"{max(r['torchscript_max_joint_diff_px'], r['onnx_max_joint_diff_px']):.2g} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_json_atomic(rows, os.path.join(args.output, "export.json"), indent=1)
    write_text_atomic(text, os.path.join(args.output, "export.md"))


if __name__ == "__main__":
    main()
