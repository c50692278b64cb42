#!/usr/bin/env python
"""Mixed precision on the CPU: bfloat16 autocast against float32, same seed, same batches.

    python bench/bench_amp.py [--output output/bench_amp] [--iters 50] [--seed 0]
        [--configs tube_rcnn_R18_T1_synth.yaml tube_rcnn_R18_T3_synth.yaml]

Each quick config (configs/quick_schedules, on the built-in synthetic data) is trained from
scratch for ITERS iterations twice in this run: in float32 and with SOLVER.AMP.ENABLED True,
SOLVER.AMP.PRECISION bfloat16 (the CPUAutocastTrainer). The total loss of every iteration is
recorded; the table gives the mean loss over all iterations and over the last 10, their relative
difference, and the seconds per iteration (the median, so that the first iterations' warm-up
does not count). Each finished (config, precision) is cached in OUTPUT/runs/*.json; a rerun
resumes. The machine is named in the table.
"""

import argparse
import json
import os
import statistics
import time


PRECISIONS = ("float32", "bfloat16")


def _train(config_name, precision, iters, seed, output_dir):
    """Train one config at one precision; the total loss and seconds of every iteration."""
    from detectron2.engine import HookBase
    from detectron2.utils.env import seed_all_rng

    from detectron2_tubes.data import ensure_synthetic_dataset
    from detectron2_tubes.engine import TubeTrainer, setup_cfg
    from detectron2_tubes.experiments.recipe import schedule_opts
    from detectron2_tubes.model_zoo import get_config_file

    class Record(HookBase):
        def __init__(self):
            self.losses, self.seconds = [], []

        def before_step(self):
            self.start = time.perf_counter()

        def after_step(self):
            self.seconds.append(time.perf_counter() - self.start)
            self.losses.append(self.trainer.storage.history("total_loss").latest())

    ensure_synthetic_dataset()
    amp = ["SOLVER.AMP.ENABLED", str(precision == "bfloat16"), "SOLVER.AMP.PRECISION", "bfloat16"]
    opts = ["OUTPUT_DIR", output_dir, "DATASETS.TEST", "()", "SEED", str(seed), *amp]
    cfg = setup_cfg(get_config_file(os.path.join("quick_schedules", config_name)),
                    opts + schedule_opts(iters))  # fmt: skip
    seed_all_rng(cfg.SEED)
    trainer = TubeTrainer(cfg)
    record = Record()
    trainer.register_hooks([record])
    trainer.resume_or_load(resume=False)
    trainer.train()
    return {"losses": record.losses, "seconds": record.seconds}


def _row(config_name, runs):
    f32, bf16 = runs["float32"], runs["bfloat16"]

    def mean(xs):
        return sum(xs) / len(xs)

    cells = [config_name]
    for lo in (0, -10):
        a, b = mean(f32["losses"][lo:]), mean(bf16["losses"][lo:])
        cells += [f"{a:.4f}", f"{b:.4f}", f"{100 * (b - a) / a:+.2f}%"]
    ta, tb = statistics.median(f32["seconds"]), statistics.median(bf16["seconds"])
    cells += [f"{ta:.2f}", f"{tb:.2f}", f"{tb / ta:.2f}"]
    return "| " + " | ".join(cells) + " |"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", default="output/bench_amp")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["tube_rcnn_R18_T1_synth.yaml", "tube_rcnn_R18_T3_synth.yaml"],
    )
    args = parser.parse_args()
    from toolbox import machine_description
    from posetrack_core.io import write_text_atomic

    runs_dir = os.path.join(args.output, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    rows = [
        f"Machine: {machine_description()}; "
        f"{args.iters} iterations from scratch, seed {args.seed}.",
        "",
        "| config | mean loss float32 | bfloat16 | difference | last-10 mean float32 | bfloat16 "
        "| difference | s / it float32 | s / it bfloat16 | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.configs:
        runs = {}
        for precision in PRECISIONS:
            stem = f"{name.rsplit('.', 1)[0]}_{precision}_{args.iters}it_seed{args.seed}"
            path = os.path.join(runs_dir, stem + ".json")
            if os.path.isfile(path):
                with open(path) as f:
                    runs[precision] = json.load(f)
                continue
            result = _train(name, precision, args.iters, args.seed,
                            os.path.join(args.output, "train", stem))  # fmt: skip
            with open(path + ".tmp", "w") as f:
                json.dump(result, f)
            os.replace(path + ".tmp", path)
            runs[precision] = result
            print(f"{stem}: mean loss {sum(result['losses']) / len(result['losses']):.4f}, "
                  f"{statistics.median(result['seconds']):.2f} s/it", flush=True)  # fmt: skip
        rows.append(_row(name, runs))
    table = "\n".join(rows) + "\n"
    write_text_atomic(table, os.path.join(args.output, "amp.md"))
    print(table)


if __name__ == "__main__":
    main()
