"""The paper's recipe on the synthetic data, as the demo, the rehearsal and the benches run it:
"train this config", "evaluate these weights on this dataset" (at the tracking thresholds they
try), and the schedule options and quick configs they share. Experiments, not the model: a
Detectron2 workflow uses `detectron2_tubes.engine` directly."""

import logging
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    "schedule_opts",
    "train",
    "checkpoint_problem",
    "seeded_trainer",
    "evaluate",
    "evaluate_at_thresholds",
    "quick_config",
    "FINETUNE_OPTS",
    "CONFIG_2D",
    "CONFIG_3D",
    "DET_THRESHOLDS_TRIED",
]

logger = logging.getLogger(__name__)

# Tracking thresholds the benches try for every trained model; each is reported at the one with
# the best MOTA (the paper tuned its thresholds on validation too; a model trained for fewer
# iterations, or from scratch, scores its people lower, and one fixed threshold would measure
# that, not poses).
DET_THRESHOLDS_TRIED = (0.5, 0.7, 0.9)

# The demo's models (configs/quick_schedules): Tube R-CNN R-18 at half width, T = 1 and T = 3.
CONFIG_2D = "tube_rcnn_R18_T1_synth.yaml"
CONFIG_3D = "tube_rcnn_R18_T3_synth.yaml"


def quick_config(name: str) -> str:
    """Path of a config of ``configs/quick_schedules`` (a checkout's or the installed copy)."""
    from ..model_zoo import get_config_file

    return get_config_file(os.path.join("quick_schedules", name))


# Fine-tuning a pretrained model, as the release fine-tuned from COCO: the stem and res2 frozen
# (FREEZE_AT 2) and a quarter of the pretraining learning rate (the full rate, with AdamW's
# fresh moments, undoes the pretraining: 48.6 -> 35.1 mAP in 30 iterations, against 45.3 here).
FINETUNE_OPTS = ("MODEL.BACKBONE.FREEZE_AT", "2", "SOLVER.BASE_LR", "0.0005")


def schedule_opts(iters: int) -> List[str]:
    """MAX_ITER with a linear warm-up over the first 10% of it, the learning-rate drop at 80%
    (none for a single iteration: the scheduler needs the drop before the end) and a
    checkpoint at the end only."""
    step = int(0.8 * iters)
    return [
        "SOLVER.MAX_ITER",
        str(iters),
        "SOLVER.STEPS",
        f"({step},)" if step >= 1 else "()",
        "SOLVER.WARMUP_ITERS",
        str(max(1, iters // 10)),
        "SOLVER.CHECKPOINT_PERIOD",
        str(iters + 1),
    ]


def checkpoint_problem(checkpoint: str):
    """Why a cached checkpoint cannot be reused (unreadable, truncated, no weights), or None."""
    from ..utils.safe_load import UnreadableFileError, UnsafeFileError, torch_load

    try:
        data = torch_load(checkpoint)
    except (UnreadableFileError, UnsafeFileError) as e:
        return str(e)[len(checkpoint) + 2 :]
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or not data["model"]:
        return "no model weights in it"
    return None


def seeded_trainer(trainer_class, cfg):
    """``trainer_class(cfg)`` after seeding every generator with cfg.SEED (a random seed when it
    is negative, as Detectron2 does), its MODEL.WEIGHTS loaded: the one way the library starts a
    training."""
    from detectron2.utils.env import seed_all_rng

    seed_all_rng(cfg.SEED if cfg.SEED >= 0 else None)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    trainer = trainer_class(cfg)
    trainer.resume_or_load(resume=False)
    return trainer


def train(config_file: str, output_dir: str, opts: Sequence[str], *, retrain: bool = False) -> str:
    """Train ``config_file`` (seeded by its SEED) into ``output_dir`` unless a final model is
    there; returns the final checkpoint's path. The training's log also goes to its own
    ``log.txt``."""
    from ..engine.trainer import TubeTrainer, setup_cfg

    final = os.path.join(output_dir, "model_final.pth")
    if os.path.isfile(final) and not retrain:
        problem = checkpoint_problem(final)
        if problem is None:
            logger.info(f"using the trained model {final} (--retrain to train again)")
            return final
        logger.warning(f"the trained model {final} cannot be used ({problem}): training again")
    # No DATASETS.TEST during training: the demo evaluates the tracked videos instead.
    cfg = setup_cfg(config_file, ["OUTPUT_DIR", output_dir, "DATASETS.TEST", "()", *opts])
    os.makedirs(output_dir, exist_ok=True)
    log_file = logging.FileHandler(os.path.join(output_dir, "log.txt"))
    log_file.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("detectron2", "detectron2_tubes", "fvcore")]
    for one in loggers:
        one.setLevel(logging.INFO)
        one.addHandler(log_file)
    try:
        seeded_trainer(TubeTrainer, cfg).train()
    finally:
        for one in loggers:
            one.removeHandler(log_file)
        log_file.close()
    return final


def evaluate(
    config_file: str,
    weights: str,
    dataset: str,
    output_dir: Optional[str] = None,
    opts: Sequence[str] = (),
) -> Dict[str, float]:
    """PoseTrack metrics (Detectron2's flat dict) of ``weights`` on ``dataset``, as
    ``train_net.py --eval-only`` computes them (Tube R-CNN or a stock Detectron2 model); the
    predictions go to ``output_dir`` (default: beside the weights)."""
    return _inference(config_file, weights, dataset, output_dir, opts)[1]["posetrack"]


def evaluate_at_thresholds(
    config_file: str, weights: str, dataset: str, output_dir: str, opts, det_thresholds
) -> dict:
    """PoseTrack metrics of ``weights`` on ``dataset`` at each detection threshold.

    Inference runs once (at the lowest threshold: the box predictor drops what no threshold
    would keep, before the keypoint head runs); then `sweep` re-tracks, writes (to
    ``output_dir/det_<t>``) and scores the saved detections at each threshold. Returns the best
    MOTA's {"mAP", "MOTA", "det_thresh", "pred_dir"} and every threshold's ("by_thresh")."""
    from ..evaluation import RAW_PREDICTIONS_FILE, load_raw_predictions
    from ..evaluation.sweep import sweep
    from ..engine.predictor import box_thresh_keeping

    lowest = min(det_thresholds)
    opts = [*opts, "TRACKING.DET_THRESH", str(lowest)]

    def keep_lowest(cfg):
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = max(
            cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, box_thresh_keeping(lowest)
        )

    cfg, _ = _inference(config_file, weights, dataset, output_dir, opts, adjust=keep_lowest)
    raw = load_raw_predictions(os.path.join(output_dir, "inference", dataset, RAW_PREDICTIONS_FILE))
    kp = cfg.TEST.POSETRACK.KEYPOINT_THRESH
    rows = sweep(raw, dataset, det_thresholds, [kp], cfg, out_dir=output_dir)
    by_thresh = {
        f"{r['det_thresh']:g}": {"mAP": r["ap"], "MOTA": r["mota"], "pred_dir": r["pred_dir"]}
        for r in rows
    }
    best = max(by_thresh, key=lambda k: np.nan_to_num(by_thresh[k]["MOTA"], nan=-np.inf))
    return {**by_thresh[best], "det_thresh": float(best), "by_thresh": by_thresh}


def _inference(config_file, weights, dataset, output_dir, opts, adjust=None):
    """(cfg, Detectron2's results) of ``weights`` on ``dataset`` through `TubeTrainer.test`."""
    from ..checkpoint import InflatingCheckpointer
    from ..engine.trainer import TubeTrainer, setup_cfg

    output_dir = output_dir or os.path.dirname(os.path.abspath(weights))
    cfg = setup_cfg(
        config_file,
        [*opts, "MODEL.WEIGHTS", weights, "DATASETS.TEST", f"('{dataset}',)",
         "OUTPUT_DIR", output_dir],
    )  # fmt: skip
    if adjust is not None:
        cfg.defrost()
        adjust(cfg)
        cfg.freeze()
    model = TubeTrainer.build_model(cfg)
    InflatingCheckpointer.from_config(cfg, model, inference=True).load(weights)
    return cfg, TubeTrainer.test(cfg, model)
