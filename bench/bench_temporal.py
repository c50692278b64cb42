"""Does the 3D model use its neighbour frames? A controlled test of the temporal pathway.

    python bench/bench_temporal.py [--seeds 0 1 2] [--iters 150 600] [--pretrained PATH]
                                   [--eval DATASET ...] [--bootstrap 500] [--output DIR]

On the degraded variant of the synthetic set (`posetrack_core.synthetic.degraded`:
about a quarter of the labelled frames degraded by strong blur, a flash, a dropout or a large
occluder, their neighbours intact, the labels unchanged), a 2D model (T = 1) and a 3D model
(T = 3, centre-inflated) are fine-tuned from ONE 2D checkpoint (pretrained on the benchmark's
single frames, as the demo pretrains) for the same iterations, as the demo fine-tunes (stem and
res2 frozen, a quarter of the learning rate), once per seed and fine-tuning length. Each is
scored on every --eval dataset (default: the degraded validation videos and the degraded held-out
split) with the PoseTrack metrics, and its AP is split into the degraded frames and the intact
ones. If the 3D model uses its neighbours, it should beat 2D clearly on the degraded frames.

Reported per row: mAP and MOTA, AP on degraded and on intact frames (mean over seeds, with a
bootstrap 95% interval over videos), the 3D - 2D difference with its interval, and for the 3D
models how far the off-centre time taps moved (median |off-centre| / |centre| per layer group;
0 at inflation). Each finished row is cached (DIR/ft<iters>/seed<s>/<model>/row.json), so a
restart resumes; results go to DIR/temporal.json and DIR/temporal.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch


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
from toolbox import bootstrap_videos, frame_subset_parts, interval, tap_ratios  # noqa: E402

MODELS = (("2D (T = 1)", CONFIG_2D), ("3D (T = 3), centre inflation", CONFIG_3D))
TRAIN_SET = "posetrack_synth_degraded_train"


def video_parts(gt_dir: str, pred_dir: str, degraded: dict) -> list:
    """Per video: AP parts of its degraded evaluated frames and of its intact ones."""
    subsets = {
        "degraded": lambda name, f: f in degraded.get(name, {}),
        "intact": lambda name, f: f not in degraded.get(name, {}),
    }
    return frame_subset_parts(gt_dir, pred_dir, subsets)


SUBSETS = ("degraded", "intact")


def analyse(rows, dataset, gt_dir, degraded, n_boot, rng) -> dict:
    """Seed-mean AP on degraded and intact frames per model, bootstrap 95% intervals over
    videos, and the 3D - 2D difference (the same resampled videos for both)."""
    from posetrack_core.evaluation import pooled_metrics

    runs = {
        name: [
            video_parts(gt_dir, r[dataset]["pred_dir"], degraded)
            for r in rows
            if r["model"] == name
        ]
        for name, _ in MODELS
    }
    n_videos = len(next(iter(runs.values()))[0])

    def ap(name, subset, pick):
        return float(
            np.mean(
                [
                    pooled_metrics([videos[k][subset][0] for k in pick])["ap"][-1]
                    for videos in runs[name]
                ]
            )
        )

    point, samples = bootstrap_videos(  # the same resampled videos for both models
        lambda pick: {name: {s: ap(name, s, pick) for s in SUBSETS} for name in runs},
        n_videos,
        n_boot,
        rng,
    )
    boot = {name: {s: [b[name][s] for b in samples] for s in SUBSETS} for name in runs}
    (two_d, _), (three_d, _) = MODELS
    videos = next(iter(runs.values()))[0]
    out = {"videos": n_videos, "frames": {s: sum(v[s][1] for v in videos) for s in SUBSETS}}
    for name in runs:
        out[name] = {s: {"AP": point[name][s], "ci": interval(boot[name][s])} for s in SUBSETS}
    out["3D - 2D"] = {
        s: {
            "AP": point[three_d][s] - point[two_d][s],
            "ci": interval(np.array(boot[three_d][s]) - np.array(boot[two_d][s])),
        }
        for s in SUBSETS
    }
    return out


def _ci(d) -> str:
    return f"{d['AP']:.1f} [{d['ci'][0]:.1f}, {d['ci'][1]:.1f}]"


def table(results, analyses, args) -> str:
    lines = [
        f"Temporal pathway: fine-tuned on {TRAIN_SET} from one 2D checkpoint; seeds "
        f"{', '.join(map(str, args.seeds))}; mean over seeds, bootstrap 95% interval over videos "
        f"({args.bootstrap} resamples) in brackets.",
    ]
    for dataset in args.eval:
        for iters in args.iters:
            a = analyses[(dataset, iters)]
            lines += [
                "",
                f"{dataset}, {iters} fine-tuning iterations ({a['videos']} videos; "
                f"{a['frames']['degraded']} degraded and {a['frames']['intact']} intact evaluated "
                "frames):",
                "",
                "| model | mAP | MOTA | AP degraded frames | AP intact frames | off-centre / centre taps (res3, res4, RPN, keypoint head) |",
                "|---|---|---|---|---|---|",
            ]
            for name, _ in MODELS:
                rows = [r for r in results if r["model"] == name and r["iters"] == iters]
                maps = [r[dataset]["mAP"] for r in rows]
                motas = [r[dataset]["MOTA"] for r in rows]
                taps = "-"
                if rows[0].get("taps"):
                    keys = (
                        "backbone.res3",
                        "backbone.res4",
                        "proposal_generator.rpn_head",
                        "roi_heads.keypoint_head",
                    )
                    taps = ", ".join(f"{np.mean([r['taps'][k] for r in rows]):.3f}" for k in keys)
                lines.append(
                    f"| {name} | {np.mean(maps):.1f} ({np.ptp(maps):.1f}) | "
                    f"{np.mean(motas):.1f} ({np.ptp(motas):.1f}) | {_ci(a[name]['degraded'])} | "
                    f"{_ci(a[name]['intact'])} | {taps} |"
                )
            d = a["3D - 2D"]
            lines.append(f"| 3D - 2D | | | {_ci(d['degraded'])} | {_ci(d['intact'])} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, nargs="+", default=[150, 600])
    parser.add_argument("--pretrain-iters", type=int, default=800, help="as the demo's 2D model")
    parser.add_argument("--pretrained", help="a 2D checkpoint to start from (default: train one)")
    parser.add_argument(
        "--eval",
        nargs="+",
        default=["posetrack_synth_degraded_val", "posetrack_synth_degraded_test"],
    )
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--output", default="output/temporal")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every run")
    args = parser.parse_args(argv)
    show_training_log()
    from detectron2.data import DatasetCatalog, MetadataCatalog

    import detectron2_tubes  # noqa: F401  (registers the datasets)
    from posetrack_core.synthetic.degraded import load_degraded_frames

    start = time.perf_counter()
    for name in [TRAIN_SET, *args.eval]:
        DatasetCatalog.get(name)  # generate what is missing now, not inside a training
    pretrained = args.pretrained or train(
        quick_config(CONFIG_2D),
        os.path.join(args.output, "pretrain_2d"),
        [*schedule_opts(args.pretrain_iters), "SEED", str(args.seeds[0]), *args.opts],
    )
    results = []
    for iters in args.iters:
        for seed in args.seeds:
            for name, config in MODELS:
                out = os.path.join(args.output, f"ft{iters}", f"seed{seed}", name.split()[0])
                cached = os.path.join(out, "row.json")
                if os.path.isfile(cached):
                    with open(cached) as f:
                        results.append(json.load(f))
                    continue
                t0 = time.perf_counter()
                opts = [
                    *schedule_opts(iters),
                    "SEED",
                    str(seed),
                    "DATASETS.TRAIN",
                    f"('{TRAIN_SET}',)",
                ]
                weights = train(
                    quick_config(config),
                    out,
                    [*opts, *FINETUNE_OPTS, "MODEL.WEIGHTS", pretrained, *args.opts],
                )
                row = {
                    "model": name,
                    "seed": seed,
                    "iters": iters,
                    "train_s": time.perf_counter() - t0,
                }
                if config == CONFIG_3D:
                    state = torch.load(weights, map_location="cpu", weights_only=True)["model"]
                    row["taps"] = tap_ratios(state.items())
                for dataset in args.eval:
                    m = evaluate_at_thresholds(
                        quick_config(config),
                        weights,
                        dataset,
                        os.path.join(out, dataset),
                        ["SEED", str(seed), *args.opts],
                        DET_THRESHOLDS_TRIED,
                    )
                    row[dataset] = {k: m[k] for k in ("mAP", "MOTA", "det_thresh", "pred_dir")}
                from posetrack_core.io import write_json_atomic

                write_json_atomic(row, cached)
                results.append(row)
                print(
                    f"[temporal] {iters} iterations, seed {seed}, {name}: "
                    + ", ".join(
                        f"{d} mAP {row[d]['mAP']:.1f} MOTA {row[d]['MOTA']:.1f}" for d in args.eval
                    )
                    + f" ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    rng = np.random.default_rng(0)
    analyses = {}
    for dataset in args.eval:
        meta = MetadataCatalog.get(dataset)
        root = meta.image_root
        degraded = load_degraded_frames(root)[os.path.basename(meta.annotation_dir)]
        for iters in args.iters:
            rows = [r for r in results if r["iters"] == iters]
            analyses[(dataset, iters)] = analyse(
                rows, dataset, meta.annotation_dir, degraded, args.bootstrap, rng
            )
    text = table(results, analyses, args) + f"\n\nTotal time {time.perf_counter() - start:.0f} s."
    print(text)
    from posetrack_core.io import write_json_atomic, write_text_atomic

    write_json_atomic(
        {
            "args": vars(args),
            "results": results,
            "analyses": {f"{d} ft{i}": a for (d, i), a in analyses.items()},
        },
        os.path.join(args.output, "temporal.json"),
    )
    write_text_atomic(text + "\n", os.path.join(args.output, "temporal.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
