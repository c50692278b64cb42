"""Add track ids to per-frame detections read from files.

    python -m detectron2_tubes.link --input PATH --output PATH [--format posetrack|mot]
        [--cost iou|pose|oks|cnn|lstm|name:weight,...] [--matcher hungarian|greedy]
        [--det-thresh 0.95] [--min-area 50] [--max-cost X] [--memory K]
        [--motion none|kalman] [--low-thresh X]

posetrack: PoseTrack 2018/2021 (``images`` + ``annotations``) or 2017 ("annolist") prediction
files, one file or a folder of per-video files; every frame is tracked in file order, detections
below the thresholds are removed, the others get a ``track_id`` (0..999). mot: MOTChallenge text,
``frame,id,x,y,w,h,score,...`` (input ids ignored), written back with ids from 1 (MOT's
convention) and the extra columns kept. Nothing is written unless every input is valid.
"""

import os
import sys
from typing import List, Optional

from .tracking import COST_NAMES, CropFeatureExtractor, PoseTracker, parse_cost
from .tracking.link_files import (  # noqa: F401  (link_posetrack: public here too)
    LinkError,
    link_mot,
    link_path,
    link_posetrack,
    read_mot,
    write_outputs,
)
from .utils.cli import run_command, tool_parser
from .utils.io import check_output_files, check_output_folder

__all__ = ["LinkError", "link_posetrack", "read_mot", "link_mot", "main"]


def _infer_format(path: str) -> Optional[str]:
    if os.path.isdir(path) or path.endswith(".json"):
        return "posetrack"
    if path.endswith((".txt", ".csv")):
        return "mot"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("link", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("link", __doc__)
    parser.add_argument("--input", required=True, help="PoseTrack JSON file or folder, or MOT .txt")
    parser.add_argument(
        "--output", required=True, help="where to write (a folder for a folder input)"
    )
    parser.add_argument("--format", help="posetrack or mot (default: from the input's name)")
    parser.add_argument(
        "--cost",
        default="iou",
        help=f"one of {COST_NAMES} or a weighted sum like iou:1,pose:1 (default iou)",
    )
    parser.add_argument("--matcher", default="hungarian", choices=["hungarian", "greedy"])
    parser.add_argument(
        "--det-thresh",
        type=float,
        default=0.95,
        help="drop detections scoring below this (default 0.95, the paper's)",
    )
    parser.add_argument(
        "--min-area", type=float, default=50.0, help="drop smaller boxes (px^2, default 50)"
    )
    parser.add_argument(
        "--max-cost", type=float, default=None, help="never match pairs costlier than this"
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        help="frames a track may be unmatched and still continue (default 0)",
    )
    parser.add_argument(
        "--motion",
        default="none",
        choices=["none", "kalman"],
        help="kalman: predict each track's box into the frame before matching (default none)",
    )
    parser.add_argument(
        "--low-thresh",
        type=float,
        default=None,
        help="ByteTrack's second association for detections scoring in [this, --det-thresh)",
    )
    parser.add_argument(
        "--keypoint-thresh",
        type=float,
        default=None,
        help="joints scoring below this are ignored by the pose cost",
    )
    parser.add_argument("--lstm-weights", help="weights of the lstm cost")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--cnn-weights", help="torchvision ResNet-18 weights for the cnn cost")
    args = parser.parse_args(argv)

    fmt = args.format or _infer_format(args.input)
    if fmt not in ("posetrack", "mot"):
        parser.error(
            f"unknown format {fmt!r} for {args.input}: use --format posetrack or --format mot"
        )
    if not os.path.exists(args.input):
        parser.error(f"input {args.input} does not exist")
    if os.path.isdir(args.input):  # the outputs' place, checked before any work
        check_output_folder(args.output)
    else:
        check_output_files([args.output], overwrite=args.overwrite)
    cost = parse_cost(args.cost)
    lstm = None
    if args.lstm_weights:
        from .tracking import load_box_lstm

        lstm = load_box_lstm(args.lstm_weights)
    if "cnn" in (cost if isinstance(cost, dict) else {cost: 1}):
        parser.error(
            "the cnn cost needs the frame images; use it through the Python API or track_video"
        )
    tracker = PoseTracker(
        cost=cost,
        matcher=args.matcher,
        det_thresh=args.det_thresh,
        min_area=args.min_area,
        max_cost=args.max_cost,
        memory=args.memory,
        motion=args.motion,
        low_thresh=args.low_thresh,
        keypoint_thresh=args.keypoint_thresh,
        lstm=lstm,
        feature_extractor=(
            CropFeatureExtractor(weights=args.cnn_weights) if args.cnn_weights else None
        ),
    )
    outputs, kept, dropped = link_path(args.input, args.output, fmt, tracker)
    check_output_files([dst for dst, _ in outputs], overwrite=args.overwrite)
    write_outputs(outputs)  # every input was valid
    print(
        f"link: {kept} detections tracked, {dropped} dropped (score < {args.det_thresh}"
        + ("" if args.low_thresh is None else " and unmatched, or score < " + str(args.low_thresh))
        + f", or area < {args.min_area}); wrote {len(outputs)} file(s) to {args.output}"
    )
    if dropped and not kept:
        print(
            "link: note: every detection was dropped. Files written by track_video and "
            "train_net --eval-only hold only detections at or above the TRACKING.DET_THRESH "
            "they ran with: give --det-thresh at or below it",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
