"""Track people's poses in a video and write PoseTrack JSON and an overlay video.

    python -m detectron2_tubes.track_video --config-file CFG --input VIDEO_OR_FRAME_DIR
        --output OUT_DIR [--mode dense|strided] [--batch-size N] [--no-video] [KEY VALUE ...]

Writes OUT_DIR/<name>.json (PoseTrack 2018 with track ids and scores, readable by
eval_posetrack) and OUT_DIR/<name>.mp4 (boxes and skeletons coloured by track id, ids drawn).
MODEL.WEIGHTS gives the model (2D checkpoints are inflated); TRACKING.* the tracker. Nothing is
written unless the whole video was processed; existing outputs are kept unless --overwrite.
"""

import argparse
import os
import sys
from typing import List, Optional

from .engine import missing_weights, setup_cfg
from .engine.video import draw_tracks, track_video
from .utils.cli import run_command, tool_parser

__all__ = ["track_video", "draw_tracks", "main"]


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("track_video", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("track_video", __doc__)
    parser.add_argument("--config-file", required=True)
    parser.add_argument(
        "--input", required=True, help="a video file (.mp4, .avi, ...) or a folder of frames"
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--mode", default="dense", choices=["dense", "strided"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--no-video", action="store_true", help="write only the JSON")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT_DIR/<name>.json and .mp4 if they exist",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.config_file):
        parser.error(f"config file {args.config_file} does not exist")
    if not os.path.exists(args.input):
        parser.error(f"input {args.input} does not exist")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, not {args.batch_size}")
    import detectron2_tubes  # noqa: F401  (registers everything)

    cfg = setup_cfg(args.config_file, args.opts)
    error = missing_weights(cfg)
    if error:
        parser.error(error)
    r = track_video(
        cfg,
        args.input,
        args.output,
        mode=args.mode,
        batch_size=args.batch_size,
        write_video=not args.no_video,
        overwrite=args.overwrite,
    )
    if r["weights"]:
        print(f"track_video: weights {r['weights']}")
    print(
        f"track_video: {r['frames']} frames, {r['tracks']} tracks in {r['seconds']:.1f} s -> {r['json']}"
        + (f", {r['video']}" if r["video"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
