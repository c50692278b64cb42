"""``make demo``: the whole job on the built-in synthetic data, the paper's recipe in miniature.

1. generate the synthetic PoseTrack set (cached);
2. train a 2D model (Tube R-CNN with T = 1: R-18 at half width) from scratch on single frames,
   the stand-in for the paper's COCO pretraining;
3. fine-tune it on clips twice, the same iterations each: as the 2D model it is (T = 1) and
   inflated to T = 3 (centre inflation, the paper's 3D model);
4. run the video predictor (a clip centred on every frame) with tracking on every validation
   video with both, writing PoseTrack JSON (and, for the 3D model, an overlay video);
5. score the JSON with the PoseTrack metrics (2017/2018's AP and MOTA, PoseTrack21's keypoint
   HOTA), print the 3D model's tables and both models side by side.

Training is seeded (``--seed``): on one machine the same seed gives the same numbers.
"""

import argparse
import os
import time
from typing import List, Optional

from detectron2_tubes.data import ensure_synthetic_dataset
from detectron2_tubes.experiments.recipe import (
    CONFIG_2D,
    CONFIG_3D,
    FINETUNE_OPTS,
    quick_config,
    schedule_opts,
    train,
)
from detectron2_tubes.utils.logs import show_training_log

from .boundary import run_command, tool_parser

__all__ = ["main"]

# Iterations of (2D pretraining, 3D fine-tuning): "short" is `make demo`, "long" `make demo-long`.
SCHEDULES = {"short": (800, 30), "long": (3500, 400)}


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("demo", lambda: _main(argv))


def _parse(argv: Optional[List[str]]):
    """The demo's arguments, with the schedule's iterations filled in (args.pre_iters,
    args.ft_iters)."""
    parser = tool_parser("demo", __doc__)
    parser.add_argument("--output", default="output/demo", help="folder for everything written")
    parser.add_argument(
        "--schedule",
        default="short",
        choices=sorted(SCHEDULES),
        help="short: make demo (13 to 16 minutes on 2 cores); long: make demo-long (about an hour)",
    )
    parser.add_argument("--pretrain-iters", type=int, help="2D iterations (default: the schedule's)")
    parser.add_argument("--finetune-iters", type=int, help="3D iterations (default: the schedule's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both trainings")
    parser.add_argument("--retrain", action="store_true", help="train even if trained models exist")
    parser.add_argument("--mode", default="dense", choices=["dense", "strided"])
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="config overrides for both trainings and inference: KEY VALUE ...",
    )
    args = parser.parse_args(argv)
    for flag, value in (
        ("--pretrain-iters", args.pretrain_iters),
        ("--finetune-iters", args.finetune_iters),
    ):
        if value is not None and value < 1:
            parser.error(f"{flag} must be at least 1, not {value}")
    pre_iters, ft_iters = SCHEDULES[args.schedule]
    args.pre_iters = pre_iters if args.pretrain_iters is None else args.pretrain_iters
    args.ft_iters = ft_iters if args.finetune_iters is None else args.finetune_iters
    args.output = os.path.abspath(args.output)
    return args


def _main(argv: Optional[List[str]]) -> int:
    args = _parse(argv)
    show_training_log()
    start = time.perf_counter()
    root = ensure_synthetic_dataset()
    print(
        f"[1/5] synthetic PoseTrack set: {root} ({time.perf_counter() - start:.0f} s)", flush=True
    )
    models = _train_models(args, start)
    pred_dirs = _track_validation_videos(args, models, os.path.join(root, "images", "val"))
    print("[5/5] PoseTrack evaluation on posetrack_synth_val, the 3D model:", flush=True)
    scores = _scores(os.path.join(root, "annotations", "val"), pred_dirs)
    print(
        f"\n2D and 3D, each fine-tuned {args.ft_iters} iterations from the same 2D model (seed "
        f"{args.seed}):\n\n| model | mAP | MOTA | PoseTrack21 HOTA | DetA | AssA |\n|---|---|---|---|---|---|"
    )
    for name, (ap, mota, hota) in scores.items():
        label = "3D (T = 3, centre-inflated)" if name == "3D" else "2D (T = 1)"
        print(
            f"| {label} | {ap:.1f} | {mota:.1f} | {hota['HOTA'][-1]:.1f} | "
            f"{hota['DetA'][-1]:.1f} | {hota['AssA'][-1]:.1f} |"
        )
    ap, mota, hota = scores["3D"]
    print(
        f"\nmAP {ap:.1f}, MOTA {mota:.1f}; PoseTrack21 HOTA {hota['HOTA'][-1]:.1f} (DetA "
        f"{hota['DetA'][-1]:.1f}, AssA {hota['AssA'][-1]:.1f}) for the 3D model (done in "
        f"{time.perf_counter() - start:.0f} s)"
    )
    print(f"PoseTrack JSON and overlay videos: {pred_dirs['3D']}/<video>.json, <video>.mp4")
    return 0


def _train_models(args, start: float) -> dict:
    """Steps 2 and 3: the 2D pretraining, then both fine-tunings; {"2D"/"3D": (config, weights)}."""
    seed = ["SEED", str(args.seed)]
    print(
        f"[2/5] 2D pretraining ({CONFIG_2D}, {args.pre_iters} iterations on single frames) ...",
        flush=True,
    )
    model_2d = train(
        quick_config(CONFIG_2D),
        os.path.join(args.output, "model_2d"),
        [*schedule_opts(args.pre_iters), *seed, *args.opts],
        retrain=args.retrain,
    )
    print(f"      ({time.perf_counter() - start:.0f} s)", flush=True)
    print(
        f"[3/5] fine-tuning on clips, {args.ft_iters} iterations each: the 2D model ({CONFIG_2D}) "
        f"and the 3D model ({CONFIG_3D}, centre-inflated from it) ...",
        flush=True,
    )
    finetune = [*schedule_opts(args.ft_iters), *seed, *FINETUNE_OPTS, "MODEL.WEIGHTS", model_2d]
    models = {}
    for name, config in (("2D", CONFIG_2D), ("3D", CONFIG_3D)):
        folder = "model_3d" if name == "3D" else "model_2d_finetuned"
        t0 = time.perf_counter()
        weights = train(
            quick_config(config),
            os.path.join(args.output, folder),
            [*finetune, *args.opts],
            retrain=args.retrain,
        )
        models[name] = (config, weights)
        print(f"      {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return models


def _track_validation_videos(args, models: dict, val_images: str) -> dict:
    """Step 4: every validation video tracked with both models; {"2D"/"3D": predictions dir}."""
    from detectron2_tubes.engine import VideoPredictor, setup_cfg
    from detectron2_tubes.engine.video import track_video

    videos = sorted(os.listdir(val_images))
    print(
        f"[4/5] tracking {len(videos)} validation videos ({args.mode} clips) with both models ...",
        flush=True,
    )
    pred_dirs = {}
    for name, (config, weights) in models.items():
        cfg = setup_cfg(quick_config(config), ["MODEL.WEIGHTS", weights, *args.opts])
        pred_dirs[name] = os.path.join(
            args.output, "predictions" if name == "3D" else "predictions_2d"
        )
        t0 = time.perf_counter()
        predictor = VideoPredictor(cfg, mode=args.mode)  # one per model, its weights loaded once
        for seq in videos:
            r = track_video(
                cfg,
                os.path.join(val_images, seq),
                pred_dirs[name],
                mode=args.mode,
                progress=False,
                write_video=name == "3D",
                predictor=predictor,
            )
        print(f"      {name}: {len(videos)} videos in {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"      {name} weights: {r['weights']}", flush=True)
    return pred_dirs


def _scores(gt_dir: str, pred_dirs: dict) -> dict:
    """Step 5: {"3D", "2D": (total AP, total MOTA, PoseTrack21 HOTA result)}; the 3D model's
    tables printed."""
    from posetrack_core.evaluation import evaluate_posetrack, format_tables, grouped
    from posetrack_core.evaluation.hota_pose import evaluate_posetrack21

    scores = {}
    for name in ("3D", "2D"):
        result = evaluate_posetrack(gt_dir, pred_dirs[name], warn=lambda m: None)
        if name == "3D":
            print(format_tables(result))
        # track_video numbers its frames from 0; they are the ground truth's frames, in order.
        hota = evaluate_posetrack21(gt_dir, pred_dirs[name], check_image_ids=False)
        scores[name] = (grouped(result["ap"])["total"], result["mota"][-1], hota)
    return scores


if __name__ == "__main__":
    raise SystemExit(main())
