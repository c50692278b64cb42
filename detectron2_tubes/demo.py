"""``make demo``: the whole job on the built-in synthetic data.

1. generate the synthetic PoseTrack set (cached);
2. train Tube R-CNN (R-18 at half width, T = 3) from scratch with the quick CPU schedule;
3. run the video predictor (a clip centred on every frame) with tracking on every validation
   video, writing PoseTrack JSON and an overlay video per video;
4. score the JSON with the PoseTrack metrics and print the tables.
"""
import argparse
import os
import time
from typing import List, Optional

from .data import ensure_synthetic_dataset

QUICK_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                            "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")  # fmt: skip


def main(argv: Optional[List[str]] = None) -> None:
    from .engine import TubeTrainer, setup_cfg
    from .evaluation import evaluate_posetrack, format_tables, grouped
    from .track_video import track_video

    parser = argparse.ArgumentParser(prog="python -m detectron2_tubes.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--output", default="output/demo", help="folder for everything written")
    parser.add_argument("--config-file", default=QUICK_CONFIG)
    parser.add_argument("--retrain", action="store_true", help="train even if a trained model is there")
    parser.add_argument("--mode", default="dense", choices=["dense", "strided"])
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = os.path.abspath(args.output)

    root = ensure_synthetic_dataset()
    print(f"[1/4] synthetic PoseTrack set: {root} ({time.perf_counter() - start:.0f} s)", flush=True)

    model_dir = os.path.join(out, "model")
    final = os.path.join(model_dir, "model_final.pth")
    # No DATASETS.TEST during training: step 3 evaluates the tracked videos instead.
    cfg = setup_cfg(args.config_file, ["OUTPUT_DIR", model_dir, "DATASETS.TEST", "()", *args.opts])
    if args.retrain or not os.path.isfile(final):
        print(f"[2/4] training {os.path.relpath(args.config_file)} for {cfg.SOLVER.MAX_ITER} iterations "
              f"on the CPU (log: {model_dir}/log.txt) ...", flush=True)  # fmt: skip
        from detectron2.utils.logger import setup_logger

        setup_logger(model_dir)  # Detectron2's training log, on the console and in log.txt
        trainer = TubeTrainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
    else:
        print(f"[2/4] using the trained model {final} (--retrain to train again)")
    print(f"      ({time.perf_counter() - start:.0f} s)", flush=True)

    cfg = setup_cfg(args.config_file, ["MODEL.WEIGHTS", final, *args.opts])
    val_images = os.path.join(root, "images", "val")
    pred_dir = os.path.join(out, "predictions")
    videos = sorted(os.listdir(val_images))
    print(f"[3/4] tracking {len(videos)} validation videos ({args.mode} clips) ...", flush=True)
    for seq in videos:
        r = track_video(cfg, os.path.join(val_images, seq), pred_dir, mode=args.mode, progress=False)
        print(f"      {seq}: {r['frames']} frames, {r['tracks']} tracks, {r['seconds']:.0f} s", flush=True)

    print("[4/4] PoseTrack evaluation on posetrack_synth_val:", flush=True)
    result = evaluate_posetrack(os.path.join(root, "annotations", "val"), pred_dir, warn=lambda m: None)
    print(format_tables(result))
    print(f"\nmAP {grouped(result['ap'])['total']:.1f}, MOTA {result['mota'][-1]:.1f} "
          f"(done in {time.perf_counter() - start:.0f} s)")  # fmt: skip
    print(f"PoseTrack JSON and overlay videos: {pred_dir}/<video>.json, <video>.mp4")


if __name__ == "__main__":
    main()
