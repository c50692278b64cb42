#!/usr/bin/env python
"""Train or evaluate Tube R-CNN (or a stock Detectron2 keypoint R-CNN) on PoseTrack-format data.

    python train_net.py --config-file configs/tube_rcnn_R18_T3.yaml [--num-gpus N] [KEY VALUE ...]
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS path/to/model.pth
    python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint

2D checkpoints given as MODEL.WEIGHTS are inflated to 3D (MODEL.WEIGHTS_INFLATION).
"""

import os

import torch.distributed as dist
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from detectron2_tubes import InflatingCheckpointer
from detectron2_tubes.checkpoint import CheckpointError
from detectron2_tubes.engine import TubeTrainer, missing_weights, setup_cfg
from detectron2_tubes.utils.safe_load import UnsafeFileError


def setup(args):
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    # Detectron2 sets up its own loggers; show this package's (evaluation tables, inflation) too.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="detectron2_tubes")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = TubeTrainer.build_model(cfg)
        InflatingCheckpointer(
            model, cfg.OUTPUT_DIR, inflation=cfg.MODEL.WEIGHTS_INFLATION
        ).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return TubeTrainer.test(cfg, model)
    trainer = TubeTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def main_then_close(args):
    """main, then every process leaves together and closes its process group.

    Detectron2's launch returns without closing the group; a worker that exits while another
    is still evaluating (only rank 0 scores) can then abort in Gloo's threads at exit
    ("terminate called without an active exception", SIGABRT) and fail the run.
    """
    result = main(args)
    if dist.is_available() and dist.is_initialized():
        comm.synchronize()
        dist.destroy_process_group()
    return result


def cli():
    parser = default_argument_parser(epilog=__doc__)
    args = parser.parse_args()
    if not os.path.isfile(args.config_file):
        parser.error(f"config file {args.config_file} does not exist")
    error = missing_weights(setup_cfg(args.config_file, args.opts))
    if error:
        parser.error(error)
    try:
        launch(
            main_then_close,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except (CheckpointError, UnsafeFileError) as e:  # weights it cannot use: one line, no traceback
        parser.exit(2, f"{parser.prog}: error: {e}\n")


if __name__ == "__main__":
    cli()
