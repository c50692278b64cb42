"""``make demo``: the whole job on the built-in synthetic data, the paper's recipe in miniature.

1. generate the synthetic PoseTrack set (cached);
2. train a 2D model (Tube R-CNN with T = 1: R-18 at half width) from scratch on single frames,
   the stand-in for the paper's COCO pretraining;
3. inflate it to T = 3 (centre inflation, the paper's) and fine-tune it on clips;
4. run the video predictor (a clip centred on every frame) with tracking on every validation
   video, writing PoseTrack JSON and an overlay video per video;
5. score the JSON with the PoseTrack metrics (2017/2018's AP and MOTA, PoseTrack21's keypoint
   HOTA) and print the tables.

Training is seeded (``--seed``): the same seed gives the same numbers.
"""

import argparse
import os
import time
from typing import List, Optional

from .data import ensure_synthetic_dataset
from .engine.recipe import FINETUNE_OPTS, schedule_opts, train
from .model_zoo import get_config_file
from .utils.cli import tool_parser

__all__ = ["main", "train", "schedule_opts", "quick_config", "CONFIG_2D", "CONFIG_3D"]

CONFIG_2D = "tube_rcnn_R18_T1_synth.yaml"
CONFIG_3D = "tube_rcnn_R18_T3_synth.yaml"
# Iterations of (2D pretraining, 3D fine-tuning): "short" is `make demo`, "long" `make demo-long`.
SCHEDULES = {"short": (800, 30), "long": (3500, 400)}


def quick_config(name: str) -> str:
    """Path of a config of ``configs/quick_schedules`` (a checkout's or the installed copy)."""
    return get_config_file(os.path.join("quick_schedules", name))


def main(argv: Optional[List[str]] = None) -> None:
    from .engine import setup_cfg
    from .evaluation import evaluate_posetrack, format_tables, grouped
    from .evaluation.hota_pose import evaluate_posetrack21
    from .track_video import track_video

    parser = tool_parser("demo", __doc__)
    parser.add_argument("--output", default="output/demo", help="folder for everything written")
    parser.add_argument(
        "--schedule",
        default="short",
        choices=sorted(SCHEDULES),
        help="short: make demo (13 to 16 minutes on 2 cores); long: make demo-long (about an hour)",
    )
    parser.add_argument(
        "--pretrain-iters", type=int, help="2D iterations (default: the schedule's)"
    )
    parser.add_argument(
        "--finetune-iters", type=int, help="3D iterations (default: the schedule's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of both trainings")
    parser.add_argument(
        "--retrain", action="store_true", help="train even if trained models are there"
    )
    parser.add_argument("--mode", default="dense", choices=["dense", "strided"])
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="config overrides for both trainings and inference: KEY VALUE ...",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = os.path.abspath(args.output)
    pre_iters, ft_iters = SCHEDULES[args.schedule]
    pre_iters = args.pretrain_iters or pre_iters
    ft_iters = args.finetune_iters or ft_iters
    seed = ["SEED", str(args.seed)]

    root = ensure_synthetic_dataset()
    print(
        f"[1/5] synthetic PoseTrack set: {root} ({time.perf_counter() - start:.0f} s)", flush=True
    )

    print(
        f"[2/5] 2D pretraining ({CONFIG_2D}, {pre_iters} iterations on single frames) ...",
        flush=True,
    )
    model_2d = train(
        quick_config(CONFIG_2D),
        os.path.join(out, "model_2d"),
        [*schedule_opts(pre_iters), *seed, *args.opts],
        retrain=args.retrain,
    )
    print(f"      ({time.perf_counter() - start:.0f} s)", flush=True)

    print(
        f"[3/5] 3D fine-tuning ({CONFIG_3D}, {ft_iters} iterations on clips, centre-inflated "
        f"from the 2D model) ...",
        flush=True,
    )
    model_3d = train(
        quick_config(CONFIG_3D),
        os.path.join(out, "model_3d"),
        [*schedule_opts(ft_iters), *seed, *FINETUNE_OPTS, "MODEL.WEIGHTS", model_2d, *args.opts],
        retrain=args.retrain,
    )
    print(f"      ({time.perf_counter() - start:.0f} s)", flush=True)

    cfg = setup_cfg(quick_config(CONFIG_3D), ["MODEL.WEIGHTS", model_3d, *args.opts])
    val_images = os.path.join(root, "images", "val")
    pred_dir = os.path.join(out, "predictions")
    videos = sorted(os.listdir(val_images))
    print(f"[4/5] tracking {len(videos)} validation videos ({args.mode} clips) ...", flush=True)
    for seq in videos:
        r = track_video(
            cfg, os.path.join(val_images, seq), pred_dir, mode=args.mode, progress=False
        )
        print(
            f"      {seq}: {r['frames']} frames, {r['tracks']} tracks, {r['seconds']:.0f} s",
            flush=True,
        )

    print("[5/5] PoseTrack evaluation on posetrack_synth_val:", flush=True)
    result = evaluate_posetrack(
        os.path.join(root, "annotations", "val"), pred_dir, warn=lambda m: None
    )
    print(format_tables(result))
    # track_video numbers its frames from 0; they are the ground truth's frames, in order.
    hota = evaluate_posetrack21(
        os.path.join(root, "annotations", "val"), pred_dir, check_image_ids=False
    )
    print(
        f"\nmAP {grouped(result['ap'])['total']:.1f}, MOTA {result['mota'][-1]:.1f}; "
        f"PoseTrack21 HOTA {hota['HOTA'][-1]:.1f} (DetA {hota['DetA'][-1]:.1f}, AssA "
        f"{hota['AssA'][-1]:.1f}) (done in {time.perf_counter() - start:.0f} s)"
    )
    print(f"PoseTrack JSON and overlay videos: {pred_dir}/<video>.json, <video>.mp4")


if __name__ == "__main__":
    main()
