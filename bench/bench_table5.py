"""The paper's Table 5 on the synthetic benchmark: does a 3D Tube R-CNN beat the 2D model?

    python bench/bench_table5.py [--seeds 0 1 2] [--iters 150 600] [--scratch-iters 150]
                                 [--pretrain-iters P] [--test-set posetrack_synth_test]
                                 [--bootstrap 500] [--output DIR] [--dataset-root ROOT]
                                 [KEY VALUE ...]

Every row trains on posetrack_synth_train at the same image sizes and is scored with the
PoseTrack metrics (dense clips, the tracker and thresholds of the quick configs) on the
held-out split ``posetrack_synth_test`` (the benchmark's generator and settings with its own
seed, 24 videos; used for this table only, never to choose a setting); ``--dataset-root`` uses
another PoseTrack 2018 layout's train and val splits instead (ROOT/annotations/{train,val}):

- 2D (T = 1) and 3D (T = 3) from scratch, for --scratch-iters iterations;
- from ONE 2D checkpoint pretrained for P iterations on single frames (the stand-in for COCO,
  trained once with the first seed), fine-tuned as the demo fine-tunes (stem and res2 frozen, a
  quarter of the learning rate) for each of --iters: 2D fine-tuned, 3D centre-inflated, 3D
  mean-inflated.

Each row runs once per seed (the seed fixes the initialisation and the data order); the table
gives the mean over seeds with a bootstrap 95% interval over the test videos (the same resampled
videos for every seed), and the 3D - 2D differences with theirs. To see where temporal context
should help, each row's AP is also computed on the frames rendered with motion blur (known for
synthetic sets, from their synthetic.json) and on crowded frames (two people's boxes overlap),
against the other frames. Every finished row is cached (DIR/<stage>/seed<s>/row<i>/row.json),
so a restart resumes; results go to DIR/table5.json and DIR/table5.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


from detectron2_tubes.experiments.recipe import (  # noqa: E402
    CONFIG_2D,
    CONFIG_3D,
    DET_THRESHOLDS_TRIED,
    FINETUNE_OPTS,
    evaluate_at_thresholds,
    quick_config,
    schedule_opts,
    train,
)
from detectron2_tubes.utils.logs import show_training_log  # noqa: E402
from toolbox import bootstrap_videos, frame_subset_parts, interval  # noqa: E402

ROWS = (
    ("2D (T = 1)", "scratch", CONFIG_2D, None),
    ("3D (T = 3)", "scratch", CONFIG_3D, None),
    ("2D (T = 1)", "2D-pretrained", CONFIG_2D, "center"),
    ("3D (T = 3), centre inflation", "2D-pretrained", CONFIG_3D, "center"),
    ("3D (T = 3), mean inflation", "2D-pretrained", CONFIG_3D, "mean"),
)
# The paper's Table 5 (PoseTrack 2017 val, R-18 at 256 px, COCO initialisation): mAP, MOTA.
PAPER = {
    ("2D (T = 1)", "scratch"): (None, None),
    ("3D (T = 3)", "scratch"): (None, None),
    ("2D (T = 1)", "2D-pretrained"): (19.9, 14.1),
    ("3D (T = 3), centre inflation", "2D-pretrained"): (22.6, 15.4),
    ("3D (T = 3), mean inflation", "2D-pretrained"): (20.4, 13.4),
}
SUBSETS = ("blurred", "sharp", "crowded", "uncrowded")


DET_THRESHOLDS = DET_THRESHOLDS_TRIED


def frame_conditions(gt_dir: str, dataset_root: str) -> dict:
    """{(sequence, frame index): {"blurred": bool, "crowded": bool}} for the ground truth's
    frames. Blur is known for synthetic sets only (regenerated in memory from synthetic.json);
    a frame is crowded when two labelled people's boxes overlap with IoU >= 0.1."""
    import torch
    from detectron2.structures import Boxes, pairwise_iou

    from detectron2_tubes.data import load_posetrack_json
    from posetrack_core.synthetic import generate_synthetic_posetrack

    blurred = {}
    try:
        with open(os.path.join(dataset_root, "synthetic.json")) as f:
            params = json.load(f)
        truth = generate_synthetic_posetrack(
            None,
            params["num_videos"],
            params["num_frames"],
            params["seed"],
            num_val_videos=params["num_val_videos"],
        )["val"]
        blurred = {
            (seq, i): f.blurred for seq, frames in truth.items() for i, f in enumerate(frames)
        }
    except (OSError, KeyError, ValueError):
        pass
    out = {}
    for name in sorted(os.listdir(gt_dir)):
        seq = os.path.splitext(name)[0]
        for i, d in enumerate(load_posetrack_json(os.path.join(gt_dir, name), dataset_root)):
            boxes = torch.tensor([a["bbox"] for a in d["annotations"]], dtype=torch.float32).view(
                -1, 4
            )
            iou = pairwise_iou(Boxes(boxes), Boxes(boxes)).fill_diagonal_(0)
            out[(seq, i)] = {"blurred": blurred.get((seq, i)), "crowded": bool((iou >= 0.1).any())}
    return out


SUBSET_KEYS = {
    "blurred": ("blurred", True),
    "sharp": ("blurred", False),
    "crowded": ("crowded", True),
    "uncrowded": ("crowded", False),
}


def video_parts(gt_dir: str, pred_dir: str, conditions: dict) -> list:
    """Per test video: the parts of all its evaluated frames (with tracking) and, AP only, of
    each subset's, with the subset's frame count (`toolbox.frame_subset_parts`)."""
    subsets = {
        subset: (lambda name, f, key=key, value=value: conditions[(name, f)][key] is value)
        for subset, (key, value) in SUBSET_KEYS.items()
    }
    return frame_subset_parts(gt_dir, pred_dir, subsets, whole=True)


def scores(runs, pick) -> dict:
    """Seed-mean {"mAP", "MOTA", subset APs} of runs (per seed, per video parts) on the videos
    ``pick`` (indices, repeats allowed)."""
    from posetrack_core.evaluation import pooled_metrics

    per_seed = []
    for videos in runs:
        whole = pooled_metrics([videos[k]["all"][0] for k in pick])
        row = {"mAP": whole["ap"][-1], "MOTA": whole["mota"][-1]}
        for subset in SUBSET_KEYS:
            parts = [videos[k][subset][0] for k in pick if videos[k][subset][1]]
            row[subset] = pooled_metrics(parts)["ap"][-1] if parts else float("nan")
        per_seed.append(row)
    return {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}


def analyse(groups: dict, n_boot: int, rng) -> dict:
    """Point estimates and bootstrap 95% intervals over videos for every group of runs
    ({key: per-seed video parts}), and for the differences 3D - 2D within each stage."""
    keys = list(groups)
    n_videos = len(next(iter(groups.values()))[0])
    point, samples = bootstrap_videos(  # the same videos for every row
        lambda pick: {k: scores(groups[k], pick) for k in keys}, n_videos, n_boot, rng
    )
    boot = {k: [s[k] for s in samples] for k in keys}
    out = {}
    for k in keys:
        out[k] = {
            m: {"value": point[k][m], "ci": interval([b[m] for b in boot[k]])} for m in point[k]
        }
    for stage, two_d in {k[0]: k for k in keys if ROWS[k[1]][0] == "2D (T = 1)"}.items():
        for k in keys:
            if k[0] != stage or k == two_d:
                continue
            out[(stage, k[1], "minus 2D")] = {
                m: {
                    "value": point[k][m] - point[two_d][m],
                    "ci": interval([b[m] - c[m] for b, c in zip(boot[k], boot[two_d])]),
                }
                for m in point[k]
            }
    return out


def _cell(d) -> str:
    if d is None or not np.isfinite(d["value"]):
        return "-"
    return f"{d['value']:.1f} [{d['ci'][0]:.1f}, {d['ci'][1]:.1f}]"


def table(results, analysis, frames, args) -> str:
    lines = [
        f"Synthetic Table 5 on {args.test_set_name}: {len(args.seeds)} seeds "
        f"({', '.join(map(str, args.seeds))}); one 2D pretraining of {args.pretrain_iters} "
        f"iterations; mean over seeds with a bootstrap 95% interval over the test videos "
        f"({args.bootstrap} resamples); each run at the detection threshold of {DET_THRESHOLDS} "
        "with the best MOTA.",
        "",
        "| model | init | iterations | mAP | MOTA | paper mAP | paper MOTA | "
        + " | ".join(f"AP {s} ({frames[s]} frames)" for s in SUBSET_KEYS)
        + " | detection thresholds |",
        "|---|---|---|---|---|---|---|" + "---|" * len(SUBSET_KEYS) + "---|",
    ]
    stages = list(dict.fromkeys(k[0] for k in analysis))
    for stage in stages:
        iters = int(stage.rsplit("_", 1)[1])
        for key in [k for k in analysis if k[0] == stage and len(k) == 2] + [
            k for k in analysis if k[0] == stage and len(k) == 3
        ]:
            name, init = ROWS[key[1]][:2]
            cols = [_cell(analysis[key][m]) for m in ("mAP", "MOTA", *SUBSET_KEYS)]
            if len(key) == 3:  # a difference from the 2D row of the same stage
                lines.append(
                    f"| {name} - 2D | {init} | {iters} | {cols[0]} | {cols[1]} | | | "
                    f"{' | '.join(cols[2:])} | |"
                )
                continue
            runs = [r for r in results if r["stage"] == stage and r["row"] == key[1]]
            paper = ["-" if v is None else f"{v:.1f}" for v in PAPER[(name, init)]]
            lines.append(
                f"| {name} | {init} | {iters} | {cols[0]} | {cols[1]} | {' | '.join(paper)} | "
                f"{' | '.join(cols[2:])} | "
                f"{' / '.join(format(r['det_thresh'], 'g') for r in runs)} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-iters", type=int, default=800, help="as the demo's 2D model")
    parser.add_argument(
        "--iters", type=int, nargs="+", default=[150, 600], help="fine-tuning lengths"
    )
    parser.add_argument(
        "--scratch-iters", type=int, default=150, help="iterations of the from-scratch rows"
    )
    parser.add_argument("--test-set", default="posetrack_synth_test", help="the scored split")
    parser.add_argument("--bootstrap", type=int, default=500, help="resamples of the videos")
    parser.add_argument("--output", default="output/table5")
    parser.add_argument(
        "--dataset-root",
        help="a PoseTrack 2018 layout to use instead of the built-in synthetic splits "
        "(ROOT/annotations/{train,val}, images under ROOT; scored on its val split)",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every run")
    args = parser.parse_args(argv)
    show_training_log()
    from detectron2.data import DatasetCatalog, MetadataCatalog

    import detectron2_tubes.data  # (registers the datasets)
    from posetrack_core.io import write_json_atomic, write_text_atomic

    train_set, test_set = "posetrack_synth_train", args.test_set
    if args.dataset_root:
        train_set, test_set = "table5_train", "table5_val"
        for name, split in ((train_set, "train"), (test_set, "val")):
            ann = os.path.join(args.dataset_root, "annotations", split)
            if not os.path.isdir(ann):
                parser.error(f"--dataset-root: {ann} is not a folder")
            if name in DatasetCatalog.list():
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)
            detectron2_tubes.data.register_posetrack(name, ann, args.dataset_root)
    args.test_set_name = test_set
    for name in (train_set, test_set):
        DatasetCatalog.get(name)  # generate what is missing now, not inside a training
    meta = MetadataCatalog.get(test_set)
    gt_dir, root = meta.annotation_dir, meta.image_root
    conditions = frame_conditions(gt_dir, root)
    data_opts = ["DATASETS.TRAIN", f"('{train_set}',)"]
    start = time.perf_counter()
    pretrained = train(
        quick_config(CONFIG_2D),
        os.path.join(args.output, "pretrain_2d"),
        [*schedule_opts(args.pretrain_iters), "SEED", str(args.seeds[0]), *data_opts, *args.opts],
    )
    stages = [(f"scratch_{args.scratch_iters}", args.scratch_iters, "scratch")]
    stages += [(f"finetune_{n}", n, "2D-pretrained") for n in args.iters]
    results = []
    for stage, iters, kind in stages:
        for seed in args.seeds:
            seed_opts = ["SEED", str(seed)]
            for i, (name, init, config, inflation) in enumerate(ROWS):
                if init != kind:
                    continue
                out = os.path.join(args.output, stage, f"seed{seed}", f"row{i}")
                cached = os.path.join(out, "row.json")
                if os.path.isfile(cached):
                    with open(cached) as f:
                        results.append(json.load(f))
                    continue
                opts = [*schedule_opts(iters), *seed_opts, *data_opts, *args.opts]
                if init != "scratch":  # fine-tuned as the demo fine-tunes
                    opts += [
                        *FINETUNE_OPTS,
                        "MODEL.WEIGHTS",
                        pretrained,
                        "MODEL.WEIGHTS_INFLATION",
                        inflation,
                    ]
                t0 = time.perf_counter()
                weights = train(quick_config(config), out, opts)
                t1 = time.perf_counter()
                metrics = evaluate_at_thresholds(
                    quick_config(config), weights, test_set, out, [*seed_opts, *args.opts],
                    DET_THRESHOLDS,
                )  # fmt: skip
                row = {"stage": stage, "iters": iters, "row": i, "model": name, "init": init}
                row.update(seed=seed, **metrics, train_s=t1 - t0, eval_s=time.perf_counter() - t1)
                write_json_atomic(row, cached)
                results.append(row)
                print(
                    f"[table5] {stage} | seed {seed} | {name} | mAP {metrics['mAP']:.1f} | "
                    f"MOTA {metrics['MOTA']:.1f} | detection threshold "
                    f"{metrics['det_thresh']:g} | {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
    groups = {}
    for r in results:
        groups.setdefault((r["stage"], r["row"]), []).append(
            video_parts(gt_dir, r["pred_dir"], conditions)
        )
    analysis = analyse(groups, args.bootstrap, np.random.default_rng(0))
    first = next(iter(groups.values()))[0]
    frames = {s: sum(v[s][1] for v in first) for s in SUBSET_KEYS}
    text = table(results, analysis, frames, args)
    text += f"\n\nTotal time {time.perf_counter() - start:.0f} s."
    print(text)
    write_json_atomic(
        {
            "args": {k: v for k, v in vars(args).items()},
            "results": results,
            "analysis": {" ".join(map(str, k)): v for k, v in analysis.items()},
            "frames": frames,
        },
        os.path.join(args.output, "table5.json"),
    )
    write_text_atomic(text + "\n", os.path.join(args.output, "table5.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
