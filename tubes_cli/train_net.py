"""Train or evaluate Tube R-CNN (or a stock Detectron2 keypoint R-CNN) on PoseTrack-format data.

    python train_net.py --config-file configs/tube_rcnn_R18_T3.yaml [--num-gpus N] [KEY VALUE ...]
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS path/to/model.pth
    python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint

(``python -m tubes_cli.train_net`` is the same command.)
2D checkpoints given as MODEL.WEIGHTS are inflated to 3D (MODEL.WEIGHTS_INFLATION). An
evaluation writes its config.yaml and log under OUTPUT_DIR/inference, never over a training's.
The environment report, full config and model go to log.txt only.
"""

import os
import shutil
import sys
import tempfile
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from detectron2.engine import default_argument_parser, launch
    from detectron2.utils import comm

    from detectron2_tubes import InflatingCheckpointer
    from detectron2_tubes.engine import TubeTrainer, missing_weights, setup_cfg, setup_run
    from posetrack_core.io import atomic_path, check_output_folder
    from tubes_cli.boundary import one_line_errors, run_command

PROG = "train_net.py"


def setup(args):
    cfg = setup_cfg(args.config_file, args.opts)
    run_dir = os.path.join(cfg.OUTPUT_DIR, "inference") if args.eval_only else cfg.OUTPUT_DIR
    setup_run(cfg, args, run_dir)
    if comm.is_main_process():
        print(f"Environment, full config and model: {os.path.join(run_dir, 'log.txt')}")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = TubeTrainer.build_model(cfg)
        InflatingCheckpointer.from_config(
            cfg, model, cfg.OUTPUT_DIR, inference=True
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


def _report_to(error_dir):
    """With several processes each one writes its one line to a file; the launching process
    prints the first (once, not once per process)."""

    def report(line):
        path = os.path.join(error_dir, f"rank{comm.get_rank():04d}.txt")
        with atomic_path(path, ".txt") as tmp, open(tmp, "w") as f:
            f.write(line)

    return report


def worker(args):
    """Every process runs main inside the error boundary."""

    def run():
        main_then_close(args)

    error_dir = getattr(args, "error_dir", None)
    code = run_command(PROG, run, *([_report_to(error_dir)] if error_dir else []))
    if code:
        sys.exit(code)


def cli():
    parser = one_line_errors(default_argument_parser(epilog=__doc__))
    args = parser.parse_args()
    if not os.path.isfile(args.config_file):
        parser.error(f"config file {args.config_file} does not exist")
    cfg = setup_cfg(args.config_file, args.opts)
    error = missing_weights(cfg)
    if error:
        parser.error(error)
    check_output_folder(cfg.OUTPUT_DIR)  # before any work
    # The folders this run creates (an evaluation's own under OUTPUT_DIR/inference), deepest
    # first: removed again if the run fails before it saves a checkpoint.
    ours = [os.path.join(cfg.OUTPUT_DIR, "inference")] if args.eval_only else []
    ours = [f for f in ours + [cfg.OUTPUT_DIR] if not os.path.exists(f)]
    try:
        code = _launch(args)
    except BaseException:
        _remove_if_nothing_made(ours)
        raise
    if code:
        _remove_if_nothing_made(ours)
    return code


def _remove_if_nothing_made(folders):
    """A run that failed before it saved a checkpoint leaves no folder it created (only its
    config.yaml and logs would be there). Called by the launching process only."""
    for folder in folders:
        if os.path.isdir(folder):
            made = [f for _, _, files in os.walk(folder) for f in files if f.endswith(".pth")]
            if not made:
                shutil.rmtree(folder)


def _launch(args):
    processes = args.num_gpus * args.num_machines
    args.error_dir = tempfile.mkdtemp(prefix="train_net-errors-") if processes > 1 else None
    try:
        launch(
            worker,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except mp.ProcessExitedException as e:  # a worker left with a one-line error
        lines = sorted(os.listdir(args.error_dir)) if args.error_dir else []
        if not lines:
            raise
        with open(os.path.join(args.error_dir, lines[0])) as f:
            print(f.read(), file=sys.stderr, flush=True)
        return e.exit_code
    finally:
        if args.error_dir:
            shutil.rmtree(args.error_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(PROG, cli))
