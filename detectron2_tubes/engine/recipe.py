"""Training a config to its final checkpoint with a log of its own, and the schedule options
the demo and the Table 5 bench share."""

import logging
import os
from typing import List, Sequence

__all__ = ["schedule_opts", "train", "FINETUNE_OPTS"]

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


def _not_a_model_dump(record: logging.LogRecord) -> bool:
    """Console filter: Detectron2's trainer logs the whole model; keep that in log.txt only."""
    return not str(record.msg).startswith("Model:\n")


def _unusable(checkpoint: str):
    """Why a cached checkpoint cannot be reused (unreadable, truncated, no weights), or None."""
    from ..utils.safe_load import UnreadableFileError, UnsafeFileError, torch_load

    try:
        data = torch_load(checkpoint)
    except (UnreadableFileError, UnsafeFileError) as e:
        return str(e)[len(checkpoint) + 2 :]
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or not data["model"]:
        return "no model weights in it"
    return None


def train(config_file: str, output_dir: str, opts: Sequence[str], *, retrain: bool = False) -> str:
    """Train ``config_file`` (seeded by its SEED) into ``output_dir`` unless a final model is
    there; returns the final checkpoint's path."""
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.logger import setup_logger

    from .trainer import TubeTrainer, setup_cfg

    setup_logger()  # Detectron2's training log on the console (once: it is cached)
    for handler in logging.getLogger("detectron2").handlers:
        if type(handler) is logging.StreamHandler and _not_a_model_dump not in handler.filters:
            handler.addFilter(_not_a_model_dump)

    final = os.path.join(output_dir, "model_final.pth")
    if os.path.isfile(final) and not retrain:
        problem = _unusable(final)
        if problem is None:
            print(f"      using the trained model {final} (--retrain to train again)", flush=True)
            return final
        print(f"      the trained model {final} cannot be used ({problem}): training again")
    # No DATASETS.TEST during training: the demo evaluates the tracked videos instead.
    cfg = setup_cfg(config_file, ["OUTPUT_DIR", output_dir, "DATASETS.TEST", "()", *opts])
    seed_all_rng(cfg.SEED)
    os.makedirs(output_dir, exist_ok=True)
    # This training's log also goes to its own log.txt.
    log_file = logging.FileHandler(os.path.join(output_dir, "log.txt"))
    log_file.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("detectron2", "detectron2_tubes", "fvcore")]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(log_file)
    try:
        trainer = TubeTrainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
    finally:
        for logger in loggers:
            logger.removeHandler(log_file)
        log_file.close()
    return final
