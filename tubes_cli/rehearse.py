"""Rehearse the paper's recipe end to end on a CPU, on the built-in synthetic data standing in
for COCO and PoseTrack:

1. the synthetic training frames written as a COCO keypoint JSON of single images;
2. a stock Detectron2 keypoint R-CNN R-18-FPN trained on it by Detectron2's DefaultTrainer;
3. that checkpoint inflated into Tube R-CNN T = 3 (quick config at R-18's full width) and
   fine-tuned on the synthetic PoseTrack clips;
4. the 2D and the 3D model scored with the PoseTrack metrics on the validation videos.

    python -m tubes_cli.rehearse --output output/rehearsal [--iters-2d 300] [--iters-3d 50]
"""

import os
import time
from typing import List, Optional

from detectron2_tubes.utils.logs import show_training_log
from posetrack_core.io import check_output_folder

from .boundary import run_command, tool_parser


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("rehearse", lambda: _main(argv))


def _parse(argv: Optional[List[str]]):
    import difflib

    from detectron2.data import DatasetCatalog

    parser = tool_parser("rehearse", __doc__)
    parser.add_argument("--output", default="output/rehearsal", help="folder for everything")
    parser.add_argument("--iters-2d", type=int, default=300, help="2D pretraining iterations")
    parser.add_argument("--iters-3d", type=int, default=50, help="3D fine-tuning iterations")
    parser.add_argument("--train", default="posetrack_synth_train", help="video training set")
    parser.add_argument("--val", default="posetrack_synth_val", help="validation videos")
    args = parser.parse_args(argv)
    for flag, value in (("--iters-2d", args.iters_2d), ("--iters-3d", args.iters_3d)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, not {value}")
    for flag, name in (("--train", args.train), ("--val", args.val)):
        if name not in DatasetCatalog.list():
            near = difflib.get_close_matches(name, DatasetCatalog.list(), n=3)
            parser.error(
                f"{flag} {name} is not a registered dataset"
                + (f" (did you mean {', '.join(near)}?)" if near else "")
            )
    return args


def _main(argv: Optional[List[str]]) -> int:
    from detectron2_tubes.data import ensure_synthetic_dataset
    from detectron2_tubes.experiments import recipe, rehearsal
    from detectron2_tubes.experiments.recipe import quick_config

    args = _parse(argv)
    check_output_folder(args.output)
    show_training_log()
    start = time.perf_counter()
    out = os.path.abspath(args.output)
    if args.train.startswith("posetrack_synth"):
        ensure_synthetic_dataset()
    images = rehearsal.export_images(args.train, out)
    print(f"[1/4] {args.train} as a COCO keypoint JSON of images: '{images}'", flush=True)
    print(f"[2/4] stock Detectron2 keypoint R-CNN R-18-FPN, {args.iters_2d} iterations", flush=True)
    model_2d = rehearsal.pretrain_2d(images, out, args.iters_2d)
    t2 = time.perf_counter()
    print(f"[3/4] inflated into Tube R-CNN T = 3, {args.iters_3d} iterations on clips", flush=True)
    trainer = rehearsal.finetune_3d(model_2d, args.train, out, args.iters_3d)
    trainer.train()
    t3 = time.perf_counter()
    print(f"[4/4] PoseTrack evaluation on {args.val}", flush=True)
    model_3d = os.path.join(trainer.cfg.OUTPUT_DIR, "model_final.pth")
    scores = {
        "2D R-18-FPN (stock Detectron2)": recipe.evaluate(
            quick_config(rehearsal.STOCK_CONFIG_2D), model_2d, args.val, opts=rehearsal.STOCK_2D[2:]
        ),
        "3D R-18 T = 3 (inflated, fine-tuned)": recipe.evaluate(
            quick_config(recipe.CONFIG_3D), model_3d, args.val, opts=rehearsal.WIDTH_3D
        ),
    }
    print("\n| model | mAP | MOTA |\n|---|---|---|")
    for name, r in scores.items():
        print(f"| {name} | {r['AP']:.1f} | {r['MOTA']:.1f} |")
    print(
        f"\n2D training {t2 - start:.0f} s, 3D fine-tuning {t3 - t2:.0f} s, "
        f"total {time.perf_counter() - start:.0f} s; checkpoints in {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
