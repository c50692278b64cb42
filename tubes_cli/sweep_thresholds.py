"""Sweep detection and keypoint thresholds on saved predictions, as the paper tuned its own
(Table 1's detection threshold and the 1.95 cut on the keypoint heatmap logit).

    python -m tubes_cli.sweep_thresholds --raw OUTPUT/inference/DATASET/posetrack_raw_predictions.npz
        --dataset posetrack_synth_val [--det-thresh 0.5 0.8 0.95] [--keypoint-thresh 0 1 1.95]
        [--config-file CFG] [TRACKING.KEY VALUE ...] [TEST.POSETRACK.KEY VALUE ...]

The raw predictions are what `PoseTrackEvaluator` saves (train_net.py --eval-only); for every
pair of thresholds the videos are re-tracked, written and scored with the official metrics.
The tracker (TRACKING.*) and the written joints' settings (TEST.POSETRACK.KEYPOINT_THRESH_ON,
KEYPOINT_SCORE) come from the config, with KEY VALUE overrides, as in train_net.py; the two
swept thresholds replace TRACKING.DET_THRESH and TEST.POSETRACK.KEYPOINT_THRESH.
"""

import argparse
import re
import sys
from typing import List, Optional

from detectron2.data import DatasetCatalog

from detectron2_tubes.evaluation import load_raw_predictions
from detectron2_tubes.evaluation.sweep import sweep
from posetrack_core.from_config import tracking_config

from .boundary import run_command, tool_parser

__all__ = ["main"]


def _kp_thresh(text: str) -> Optional[float]:
    return None if text.lower() == "none" else float(text)


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("sweep_thresholds", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    import detectron2_tubes  # noqa: F401  (registers the datasets)

    parser = tool_parser("sweep_thresholds", __doc__)
    parser.add_argument(
        "--raw",
        required=True,
        help="posetrack_raw_predictions.npz from an evaluation (or an older version's .pkl)",
    )
    parser.add_argument("--dataset", required=True, help="the registered dataset it was made on")
    parser.add_argument("--det-thresh", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95])
    parser.add_argument(
        "--keypoint-thresh",
        type=_kp_thresh,
        nargs="+",
        default=[None, 0.0, 1.0, 1.95, 3.0],
        help="keypoint thresholds; 'none' keeps every keypoint",
    )
    parser.add_argument("--config-file", default="", help="a config to take the settings from")
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="TRACKING.* and TEST.POSETRACK.* KEY VALUE overrides",
    )
    # The threshold lists take any number of values: the KEY VALUE overrides start at the first
    # config key, so that a list does not swallow them.
    argv = sys.argv[1:] if argv is None else list(argv)
    split = next((i for i, a in enumerate(argv) if re.match(r"[A-Z][A-Z0-9_]*\.[A-Z]", a)), None)
    args = parser.parse_args(argv if split is None else argv[:split])
    if split is not None:
        args.opts = argv[split:]
    cfg = tracking_config(args.config_file, args.opts)
    if args.dataset not in DatasetCatalog.list():
        parser.error(f"unknown dataset {args.dataset!r}")
    raw = load_raw_predictions(args.raw)
    rows = sweep(raw, args.dataset, args.det_thresh, args.keypoint_thresh, cfg)
    print("| det thresh | keypoint thresh | mAP | MOTA |\n|---|---|---|---|")
    for r in rows:
        kp = "none" if r["keypoint_thresh"] is None else f"{r['keypoint_thresh']:g}"
        print(f"| {r['det_thresh']:g} | {kp} | {r['ap']:.1f} | {r['mota']:.1f} |")
    best = max(rows, key=lambda r: r["mota"])
    kp = "none" if best["keypoint_thresh"] is None else f"{best['keypoint_thresh']:g}"
    print(
        f"Best MOTA {best['mota']:.1f} (mAP {best['ap']:.1f}) at detection threshold "
        f"{best['det_thresh']:g}, keypoint threshold {kp}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
