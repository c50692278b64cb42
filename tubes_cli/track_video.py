"""Track people's poses in videos and write PoseTrack JSON and overlay videos.

    python -m tubes_cli.track_video --config-file CFG --input VIDEO [VIDEO ...]
        --output OUT_DIR [--mode dense|strided] [--batch-size N] [--no-video] [--overwrite]
        [--num-gpus N] [--num-machines M --machine-rank R --dist-url URL] [KEY VALUE ...]
    python -m tubes_cli.track_video --exported EXPORT_DIR --input ... --output OUT_DIR [...]

--input: video files, folders of frames (one video each), folders of video files, or list files
(.txt: one path a line). Writes OUT_DIR/<name>.json (PoseTrack 2018 with track ids and scores,
readable by eval_posetrack) and OUT_DIR/<name>.mp4 (boxes and skeletons coloured by track id,
ids drawn). MODEL.WEIGHTS gives the model (2D checkpoints are inflated); TRACKING.* the tracker.
A video's outputs are written whole or not at all. --exported runs a model written by
python -m tubes_cli.export (its config is EXPORT_DIR/config.yaml unless --config-file is given;
TRACKING.* and TEST.POSETRACK.* overrides apply, the model's settings are those it was exported
with).

One video: existing outputs are kept unless --overwrite. Several: a video whose outputs exist is
done and skipped (a rerun resumes), --overwrite redoes it; a line per finished video, a summary
at the end, and a video that fails never stops the others (exit status 1 if any failed).
--num-gpus N runs N processes per machine (Detectron2's launch: NCCL on GPUs, Gloo on CPUs),
each taking its share of the videos, balanced by frame count.
"""

import argparse
import os
import shutil
import sys
import tempfile
from typing import List, Optional

from detectron2_tubes.engine import missing_weights, setup_cfg
from detectron2_tubes.engine.video import track_video
from posetrack_core.settings import ConfigError

from .boundary import run_command, tool_parser

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("track_video", lambda: _main(argv))


def _parse(argv):
    parser = tool_parser("track_video", __doc__)
    parser.add_argument("--config-file", help="the model's config (or --exported)")
    parser.add_argument("--exported", help="a folder written by python -m tubes_cli.export")
    parser.add_argument(
        "--input", required=True, nargs="+", help="videos, frame folders, video folders, lists"
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--mode", default="dense", choices=["dense", "strided"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--no-video", action="store_true", help="write only the JSON")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace (redo) outputs that exist"
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--dist-url", default="auto", help="tcp://HOST:PORT of machine 0")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    if args.exported:
        if not os.path.isfile(os.path.join(args.exported, "export.json")):
            parser.error(f"--exported {args.exported}: not a folder written by tubes_cli.export")
        args.config_file = args.config_file or os.path.join(args.exported, "config.yaml")
    if not args.config_file:
        parser.error("give --config-file (or --exported EXPORT_DIR)")
    if not os.path.isfile(args.config_file):
        parser.error(f"config file {args.config_file} does not exist")
    for flag, value in (("--batch-size", args.batch_size), ("--num-gpus", args.num_gpus),
                        ("--num-machines", args.num_machines)):  # fmt: skip
        if value < 1:
            parser.error(f"{flag} must be at least 1, not {value}")
    return args


def _main(argv: Optional[List[str]]) -> int:
    args = _parse(argv)
    import detectron2_tubes  # noqa: F401  (registers everything)
    from detectron2_tubes.engine.collection import expand_inputs

    cfg = setup_cfg(args.config_file, args.opts)
    error = None if args.exported else missing_weights(cfg)
    if error:
        raise ConfigError(error)
    videos = expand_inputs(args.input)
    if len(videos) == 1 and args.num_gpus * args.num_machines == 1 and args.input == videos:
        return _one(cfg, videos[0], args)
    return _collection(args, videos)


def _one(cfg, video, args) -> int:
    r = track_video(
        cfg,
        video,
        args.output,
        mode=args.mode,
        batch_size=args.batch_size,
        write_video=not args.no_video,
        overwrite=args.overwrite,
        exported=args.exported,
    )
    if r["weights"]:
        print(f"track_video: weights {r['weights']}")
    print(
        f"track_video: {r['frames']} frames, {r['tracks']} tracks in {r['seconds']:.1f} s -> {r['json']}"
        + (f", {r['video']}" if r["video"] else "")
    )
    return 0


def _collection(args, videos) -> int:
    """Several videos, in this process or in N x M processes through Detectron2's launch; the
    summary is printed by the first process, the exit status read from the file it writes."""
    from detectron2.engine import launch

    args.status_dir = tempfile.mkdtemp(prefix="track_video-")
    try:
        if args.num_gpus * args.num_machines == 1:
            _worker(args, videos)
        else:
            launch(_worker, args.num_gpus, num_machines=args.num_machines,
                   machine_rank=args.machine_rank, dist_url=args.dist_url,
                   args=(args, videos))  # fmt: skip
        status = os.path.join(args.status_dir, "failed")
        if not os.path.isfile(status):  # another machine's process 0 summarised
            return 0
        with open(status) as f:
            return 1 if int(f.read()) else 0
    finally:
        shutil.rmtree(args.status_dir, ignore_errors=True)


def _worker(args, videos):
    from detectron2.utils import comm

    from detectron2_tubes.engine.collection import frame_count, share_of, track_videos

    rank, world = comm.get_rank(), comm.get_world_size()
    cfg = setup_cfg(args.config_file, args.opts)
    mine = share_of(videos, [frame_count(v) for v in videos], rank, world)
    prefix = f"[{rank}/{world}] " if world > 1 else ""

    def report(r):
        print(prefix + _line(r), flush=True)

    records = track_videos(cfg, mine, args.output, overwrite=args.overwrite,
                           write_video=not args.no_video, mode=args.mode,
                           batch_size=args.batch_size, report=report,
                           exported=args.exported)  # fmt: skip
    gathered = comm.gather(records, dst=0) if world > 1 else [records]
    if comm.is_main_process():
        everything = [r for part in gathered for r in part]
        print(_summary(everything), flush=True)
        failed = sum(r["status"] == "failed" for r in everything)
        with open(os.path.join(args.status_dir, "failed"), "w") as f:
            f.write(str(failed))
    if world > 1:
        comm.synchronize()


def _line(r) -> str:
    name = os.path.basename(os.path.normpath(r["input"]))
    if r["status"] == "skipped":
        return f"track_video: {name}: done already (--overwrite to redo)"
    if r["status"] == "failed":
        return f"track_video: {name}: FAILED: {r['error']}"
    per_frame = r["detections"] / max(r["frames"], 1)
    return (f"track_video: {name}: {r['frames']} frames, {per_frame:.1f} people per frame, "
            f"{r['tracks']} tracks, {r['seconds']:.1f} s")  # fmt: skip


def _summary(records) -> str:
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed")}
    lines = [
        f"track_video: {len(records)} videos: {counts['done']} tracked, {counts['skipped']} done "
        f"already, {counts['failed']} failed"
    ]
    lines += [f"  failed: {r['input']}: {r['error']}" for r in records if r["status"] == "failed"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
