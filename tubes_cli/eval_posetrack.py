"""PoseTrack evaluation with the official toolkit's flags and numbers.

    python -m tubes_cli.eval_posetrack --groundTruth GT_DIR/ --predictions PRED_DIR/
        [--benchmark posetrack18|posetrack21] [--evalPoseEstimation] [--evalPoseTracking]
        [--output metrics.json]

Prediction files are matched to ground-truth files by name. posetrack18 (the default): the
official PoseTrack 2017/2018 toolkit's per-joint AP and MOTA; files may be 2017 ("annolist"),
2018 or 2021 JSON, and without either --eval flag both are computed. posetrack21: the PoseTrack21
evaluation kit's keypoint HOTA, DetA, AssA, LocA, ... per joint (2018/2021-style JSON).
"""

import math
import sys
import time
from typing import List, Optional

from posetrack_core.evaluation import evaluate_posetrack, format_tables, grouped
from posetrack_core.evaluation.hota_pose import evaluate_posetrack21, format_hota_table
from posetrack_core.io import check_output_files, write_json_atomic

from .boundary import run_command, tool_parser


def summary(result: dict) -> dict:
    """The --output JSON: {"ap": {head..total}, "mota": {...}, "motp_total", "precision_total",
    "recall_total"} in percent, plus per-joint lists and counts."""
    out = {}
    if "ap" in result:
        out["ap"] = grouped(result["ap"])
        out["ap_per_joint"] = result["ap"]
    if "mota" in result:
        out["mota"] = grouped(result["mota"])
        out["mota_per_joint"] = result["mota"]
        out["motp_total"] = result["motp"][-1]
        out["precision_total"] = result["precision"][-1]
        out["recall_total"] = result["recall"][-1]
        out["counts_per_joint"] = result["counts"]
    out["num_sequences"], out["num_frames"] = result["num_sequences"], result["num_frames"]
    # JSON has no NaN: undefined values become null.
    return _no_nan(out)


def _no_nan(x):
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("eval_posetrack", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("eval_posetrack", __doc__)
    parser.add_argument("--groundTruth", required=True, help="folder of ground-truth .json files")
    parser.add_argument("--predictions", required=True, help="folder of prediction .json files")
    parser.add_argument(
        "--benchmark",
        default="posetrack18",
        choices=["posetrack18", "posetrack21"],
        help="posetrack18: AP and MOTA (default); posetrack21: the PoseTrack21 kit's HOTA",
    )
    parser.add_argument(
        "--ignore-image-ids",
        action="store_true",
        help="posetrack21: pair frames by position only (prediction files of track_video "
        "number their frames from 0)",
    )
    parser.add_argument("--evalPoseEstimation", action="store_true", help="per-joint AP")
    parser.add_argument("--evalPoseTracking", action="store_true", help="per-joint MOTA, MOTP, ...")
    parser.add_argument("--output", help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    pose, track = args.evalPoseEstimation, args.evalPoseTracking
    if not pose and not track:
        pose = track = True
    if args.output:
        check_output_files([args.output], overwrite=True)  # before the work, not after it
    start = time.perf_counter()
    if args.benchmark == "posetrack21":
        result = evaluate_posetrack21(
            args.groundTruth, args.predictions, check_image_ids=not args.ignore_image_ids
        )
    else:
        result = evaluate_posetrack(
            args.groundTruth,
            args.predictions,
            pose,
            track,
            warn=lambda m: print(f"warning: {m}", file=sys.stderr),
        )
    print(
        f"Evaluated {result['num_sequences']} sequences, {result['num_frames']} frames "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if args.benchmark == "posetrack21":
        print(format_hota_table(result))
    else:
        print(format_tables(result))
    if args.output:
        out = _no_nan(result) if args.benchmark == "posetrack21" else summary(result)
        write_json_atomic(out, args.output, indent=1)
        print(f"Metrics written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
