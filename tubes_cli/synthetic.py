"""Generate the built-in synthetic PoseTrack set (walkers on cluttered scenes) into a folder.

python -m tubes_cli.synthetic --out DIR [--videos 10] [--frames 60] [--seed 0] [--overwrite]
"""

import os
import sys
import time
from typing import List, Optional

from .boundary import OneLineErrorParser, run_command


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("synthetic", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = OneLineErrorParser(
        prog="python -m tubes_cli.synthetic",
        description="Generate a synthetic multi-person pose tracking dataset in the PoseTrack "
        "2018 layout (images/<split>/<seq>/*.jpg, annotations/<split>/<seq>.json).",
    )
    parser.add_argument("--out", required=True, help="dataset root folder to write")
    parser.add_argument("--videos", type=int, default=10, help="training videos (default 10)")
    parser.add_argument(
        "--val-videos",
        type=int,
        default=None,
        help="validation videos (default: half of --videos, at least 1)",
    )
    parser.add_argument("--frames", type=int, default=60, help="frames per video (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a synthetic set already in --out"
    )
    args = parser.parse_args(argv)
    for flag, value in (("--videos", args.videos), ("--frames", args.frames)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    if args.val_videos is not None and args.val_videos < 1:
        parser.error(f"--val-videos must be at least 1, got {args.val_videos}")
    from posetrack_core.synthetic import generate_synthetic_posetrack

    start = time.perf_counter()
    result = generate_synthetic_posetrack(
        args.out,
        args.videos,
        args.frames,
        args.seed,
        num_val_videos=args.val_videos,
        overwrite=args.overwrite,
    )
    for split, videos in result.items():
        frames = sum(len(f) for f in videos.values())
        people = sum(len(fr.people) for f in videos.values() for fr in f)
        tracks = len({(s, p.track_id) for s, f in videos.items() for fr in f for p in fr.people})
        print(
            f"{split}: {len(videos)} videos, {frames} frames, {people} annotated people, "
            f"{tracks} tracks -> {os.path.join(args.out, 'annotations', split)}"
        )
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
