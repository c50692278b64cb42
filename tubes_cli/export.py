"""Export a trained model to TorchScript or ONNX, with Detectron2's export tools.

    python -m tubes_cli.export --config-file CFG --format torchscript|onnx --output DIR
        [--sample VIDEO_OR_FRAMES] [--overwrite] MODEL.WEIGHTS model_final.pth [KEY VALUE ...]

Works for Tube R-CNN configs (any T) and stock Detectron2 keypoint R-CNN configs. Writes
DIR/model.ts (TorchScript: runs with torch and torchvision alone) or DIR/model.onnx (runs with
onnxruntime; the keypoint heatmaps are decoded outside the graph), DIR/config.yaml and
DIR/export.json (the input the model takes and its outputs). The model is traced on T frames of
--sample (default: the built-in synthetic validation video), run again from the written file and
checked against the eager model before the file is moved into place. Settings that shape the
graph are taken from the config at export time (the test size, MODEL.ROI_HEADS.SCORE_THRESH_TEST,
TEST.DETECTIONS_PER_IMAGE). Track videos with it: track_video --exported DIR.
"""

import argparse
import itertools
import os
import sys
from typing import List, Optional

from .boundary import run_command, tool_parser

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("export", lambda: _main(argv))


def _sample_frames(path: str, num_frames: int):
    """``num_frames`` consecutive frames from the middle of a video or frame folder (decoded up
    to there only)."""
    from detectron2_tubes.engine import VideoReadError, read_frames

    frames, _, names = read_frames(path)
    start = max(len(names) - num_frames, 0) // 2
    sample = list(itertools.islice(frames, start, start + num_frames))
    if len(sample) < num_frames:
        raise VideoReadError(f"{path}: too few frames; the model takes {num_frames}")
    return sample


def _default_sample() -> str:
    from detectron2_tubes.data import ensure_synthetic_dataset

    folder = os.path.join(ensure_synthetic_dataset(), "images", "val")
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("export", __doc__)
    parser.add_argument("--config-file", required=True, help="the model's config")
    parser.add_argument("--format", required=True, choices=["torchscript", "onnx"])
    parser.add_argument("--output", required=True, help="the folder to write")
    parser.add_argument("--sample", help="a video or folder of frames to trace on")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.config_file):
        parser.error(f"config file {args.config_file} does not exist")
    if args.sample and not os.path.exists(args.sample):
        parser.error(f"--sample {args.sample} does not exist")

    from detectron2_tubes.engine import missing_weights, setup_cfg
    from detectron2_tubes.config import uses_clips
    from detectron2_tubes.export import FORMATS, METADATA, export_model
    from posetrack_core.io import check_output_files, check_output_folder

    cfg = setup_cfg(args.config_file, args.opts)
    error = missing_weights(cfg)
    if error:
        parser.error(error)
    if args.format == "onnx":
        try:
            import onnxruntime  # noqa: F401  (optional: only this command and its tests)
        except ImportError:
            parser.error(
                "--format onnx checks the export with onnxruntime: pip install onnxruntime"
            )
    check_output_folder(args.output)
    names = [FORMATS[args.format], "config.yaml", METADATA]
    check_output_files([os.path.join(args.output, n) for n in names], overwrite=args.overwrite)
    num_frames = cfg.INPUT.CLIP.NUM_FRAMES if uses_clips(cfg) else 1
    sample = args.sample or _default_sample()
    result = export_model(cfg, args.format, args.output, _sample_frames(sample, num_frames))
    print(
        f"export: {args.format} model traced on {num_frames} frame(s) of {sample}: "
        f"{result['detections']} detections, equal to the eager model's within "
        f"{result['max_diff_px']:.2g} px"
    )
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
