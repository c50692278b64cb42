"""Add track ids to per-frame detections read from files.

    python -m tubes_cli.link --input PATH --output PATH [--format posetrack|mot]
        [--config-file CFG] [--overwrite] [TRACKING.KEY VALUE ...]

The tracker's settings are the config's TRACKING keys, as train_net.py and track_video read
them: the defaults are the paper's (IoU cost, Hungarian matching, detections >= 0.95, adjacent
frames only); a config file and KEY VALUE overrides change them, e.g. TRACKING.DET_THRESH 0.5
TRACKING.MEMORY 8 TRACKING.MAX_COST 0.7 TRACKING.MOTION kalman TRACKING.LOW_THRESH 0.1
TRACKING.COST iou:1,pose:1.

posetrack: PoseTrack 2018/2021 (``images`` + ``annotations``) or 2017 ("annolist") prediction
files, one file or a folder of per-video files; every frame is tracked in file order, detections
below the thresholds are removed, the others get a ``track_id`` (0..999). mot: MOTChallenge text,
``frame,id,x,y,w,h,score,...`` (input ids ignored), written back with ids from 1 (MOT's
convention) and the extra columns kept. Nothing is written unless every input is valid.
"""

import argparse
import os
import sys
from typing import List, Optional

from posetrack_core.io import check_output_files, check_output_folder
from posetrack_core.from_config import build_tracker, tracking_config
from posetrack_core.tracking.link_files import link_path, write_outputs

from .boundary import run_command, tool_parser


def _infer_format(path: str) -> Optional[str]:
    if os.path.isdir(path) or path.endswith(".json"):
        return "posetrack"
    if path.endswith((".txt", ".csv")):
        return "mot"
    return None


def _networks(tracking, **wanted) -> dict:
    """The learned cost's network, loaded only when asked for (torch and Detectron2)."""
    from detectron2_tubes.tracking import tracking_networks

    return tracking_networks(tracking, **wanted)


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("link", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("link", __doc__)
    parser.add_argument("--input", required=True, help="PoseTrack JSON file or folder, or MOT .txt")
    parser.add_argument(
        "--output", required=True, help="where to write (a folder for a folder input)"
    )
    parser.add_argument("--format", help="posetrack or mot (default: from the input's name)")
    parser.add_argument("--config-file", default="", help="a config whose TRACKING keys to use")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, help="TRACKING.KEY VALUE overrides of the tracker"
    )
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
    cfg = tracking_config(args.config_file, args.opts, frames=False, groups=["TRACKING"])
    tracker = build_tracker(cfg, _networks)
    outputs, kept, dropped = link_path(args.input, args.output, fmt, tracker)
    check_output_files([dst for dst, _ in outputs], overwrite=args.overwrite)
    write_outputs(outputs)  # every input was valid
    low = tracker.low_thresh
    print(
        f"link: {kept} detections tracked, {dropped} dropped (score < {tracker.det_thresh:g}"
        + ("" if low is None else f" and unmatched, or score < {low:g}")
        + f", or area < {tracker.min_area:g}); wrote {len(outputs)} file(s) to {args.output}"
    )
    if dropped and not kept:
        print(
            "link: note: every detection was dropped. Files written by track_video and "
            "train_net --eval-only hold only detections at or above the TRACKING.DET_THRESH "
            "they ran with: give TRACKING.DET_THRESH at or below it",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
