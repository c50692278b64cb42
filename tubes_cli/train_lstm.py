"""Train the learned tracking cost (an LSTM over a track's recent boxes) on the ground-truth
tracks of registered PoseTrack-format datasets; use it with TRACKING.COST lstm
TRACKING.LSTM_WEIGHTS PATH.

    python -m tubes_cli.train_lstm --dataset posetrack_synth_train --output lstm.pth
"""

import os
import sys
import time
from typing import List, Optional

from posetrack_core.io import check_output_files

from .boundary import run_command, tool_parser


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("train_lstm", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    from detectron2.data import DatasetCatalog
    from detectron2.utils.logger import setup_logger

    from detectron2_tubes.tracking.lstm import collect_tracks, save_box_lstm, train_box_lstm

    parser = tool_parser("train_lstm", __doc__)
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        help="registered dataset(s) to take tracks from (default posetrack_synth_train)",
    )
    parser.add_argument("--output", required=True, help="where to save the weights (.pth)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = args.dataset or ["posetrack_synth_train"]
    unknown = [n for n in names if n not in DatasetCatalog.list()]
    if unknown:
        parser.error(
            f"unknown dataset(s) {unknown}; registered PoseTrack-format names include "
            f"{[n for n in DatasetCatalog.list() if 'posetrack' in n]}"
        )
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, not {args.steps}")
    check_output_files([args.output], overwrite=True)  # before training, not after
    setup_logger(name="detectron2_tubes", abbrev_name="d2t")  # progress every 50 steps
    dicts = [d for n in names for d in DatasetCatalog.get(n)]
    start = time.perf_counter()
    model, losses = train_box_lstm(dicts, steps=args.steps, seed=args.seed)
    save_box_lstm(model, args.output)
    print(
        f"trained on {len(collect_tracks(dicts))} track segments from {names} in "
        f"{time.perf_counter() - start:.0f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
        f"saved {os.path.abspath(args.output)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
