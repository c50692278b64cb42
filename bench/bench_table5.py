"""The paper's Table 5 on the synthetic benchmark: does a 3D Tube R-CNN beat the 2D model?

    python bench/bench_table5.py [--seeds 0 1] [--pretrain-iters P] [--iters N] [--output DIR]
                                 [KEY VALUE ...]

Every row trains on posetrack_synth_train at the same image sizes for the same N iterations and
is scored on posetrack_synth_val with the PoseTrack metrics (dense clips, the tracker of the
quick configs):

- 2D (T = 1) and 3D (T = 3) from scratch;
- from one 2D checkpoint pretrained for P iterations on single frames (the stand-in for COCO):
  2D fine-tuned, 3D centre-inflated, 3D mean-inflated.

Each row is run once per seed (the seed fixes the pretraining, the initialisation and the data
order); the table gives the mean and the spread (max - min) over seeds. Results go to
DIR/table5.json and DIR/table5.md. Trained models are reused when present (delete DIR to rerun).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from detectron2_tubes.demo import CONFIG_2D, CONFIG_3D, quick_config, schedule_opts, train  # noqa: E402

ROWS = (
    ("2D (T = 1)", "scratch", CONFIG_2D, None),
    ("3D (T = 3)", "scratch", CONFIG_3D, None),
    ("2D (T = 1)", "2D-pretrained", CONFIG_2D, "center"),
    ("3D (T = 3), centre inflation", "2D-pretrained", CONFIG_3D, "center"),
    ("3D (T = 3), mean inflation", "2D-pretrained", CONFIG_3D, "mean"),
)


def evaluate(config: str, weights: str, opts) -> dict:
    """PoseTrack metrics of a checkpoint on posetrack_synth_val (as train_net.py --eval-only)."""
    from detectron2_tubes import InflatingCheckpointer
    from detectron2_tubes.engine import TubeTrainer, setup_cfg

    cfg = setup_cfg(config, ["MODEL.WEIGHTS", weights, "DATASETS.TEST", "('posetrack_synth_val',)", *opts])
    model = TubeTrainer.build_model(cfg)
    InflatingCheckpointer(model, inflation=cfg.MODEL.WEIGHTS_INFLATION).load(weights)
    res = TubeTrainer.test(cfg, model)
    return {"mAP": res["posetrack"]["AP"], "MOTA": res["posetrack"]["MOTA"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pretrain-iters", type=int, default=1200)
    parser.add_argument("--iters", type=int, default=300, help="iterations of every row")
    parser.add_argument("--output", default="output/table5")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every run")
    args = parser.parse_args(argv)
    import detectron2_tubes  # noqa: F401  (registers the datasets)

    start = time.perf_counter()
    results = []
    for seed in args.seeds:
        seed_opts = ["SEED", str(seed)]
        out = os.path.join(args.output, f"seed{seed}")
        pretrained = train(quick_config(CONFIG_2D), os.path.join(out, "pretrain_2d"),
                           [*schedule_opts(args.pretrain_iters), *seed_opts, *args.opts])  # fmt: skip
        for i, (name, init, config, inflation) in enumerate(ROWS):
            opts = [*schedule_opts(args.iters), *seed_opts, *args.opts]
            if init != "scratch":
                opts += ["MODEL.WEIGHTS", pretrained, "MODEL.WEIGHTS_INFLATION", inflation]
            weights = train(quick_config(config), os.path.join(out, f"row{i}"), opts)
            metrics = evaluate(quick_config(config), weights, [*seed_opts, *args.opts])
            results.append({"row": i, "model": name, "init": init, "seed": seed, **metrics})
            print(f"[table5] seed {seed} | {name} | {init} | mAP {metrics['mAP']:.1f} | "
                  f"MOTA {metrics['MOTA']:.1f} | {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip

    lines = [f"Synthetic Table 5: {len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}), "
             f"{args.iters} iterations per row, 2D pretraining {args.pretrain_iters} iterations; "
             "mean (spread = max - min over seeds).", "",
             "| model | init | mAP | MOTA |", "|---|---|---|---|"]  # fmt: skip
    for i, (name, init, _, _) in enumerate(ROWS):
        rows = [r for r in results if r["row"] == i]
        cell = lambda k: f"{np.mean([r[k] for r in rows]):.1f} ({np.ptp([r[k] for r in rows]):.1f})"  # noqa: E731
        lines.append(f"| {name} | {init} | {cell('mAP')} | {cell('MOTA')} |")
    lines.append(f"\nTotal time {time.perf_counter() - start:.0f} s.")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "table5.json"), "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=1)
    with open(os.path.join(args.output, "table5.md"), "w") as f:
        f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
