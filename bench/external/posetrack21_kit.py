#!/usr/bin/env python
"""Run the PoseTrack21 evaluation kit's keypoint HOTA and print its combined numbers as JSON.

    KIT_PYTHON bench/external/posetrack21_kit.py --kit PoseTrack21/eval/posetrack21 --gt GT/ --pred PRED/

Runs in the kit's own environment (it needs numpy < 1.24, scipy, shapely), not this project's:
``bench/bench_posetrack21.py --kit-python`` calls it. PRED is a folder of prediction files named
like the ground-truth files. Prints {"joints": [...], metric: [16 values in percent]}.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kit", required=True, help="the kit's eval/posetrack21 folder")
    p.add_argument("--gt", required=True)
    p.add_argument("--pred", required=True)
    args = p.parse_args()
    sys.path.insert(0, os.path.abspath(args.kit))
    import posetrack21.trackeval as trackeval

    with tempfile.TemporaryDirectory() as tmp:
        # The kit takes a tracker folder named "sequences" as one tracker.
        seqs = os.path.join(tmp, "sequences")
        shutil.copytree(args.pred, seqs)
        eval_config = trackeval.Evaluator.get_default_eval_config()
        eval_config.update(
            USE_PARALLEL=False,
            PRINT_RESULTS=False,
            PRINT_CONFIG=False,
            OUTPUT_PAPER_SUMMARY=False,
            TIME_PROGRESS=False,
            LOG_ON_ERROR=None,
        )
        ds_config = trackeval.datasets.PoseTrack.get_default_dataset_config()
        ds_config.update(GT_FOLDER=args.gt, TRACKERS_FOLDER=seqs, PRINT_CONFIG=False)
        metric = trackeval.metrics.HOTAeypoints()
        with contextlib.redirect_stdout(io.StringIO()):
            res, _ = trackeval.Evaluator(eval_config).evaluate(
                [trackeval.datasets.PoseTrack(ds_config)], [metric]
            )
    combined = res["PoseTrack"]["sequences"]["COMBINED_SEQ"]["person"]["HOTAeypoints"]
    out = {"joints": metric.joint_names + ["Total"]}
    for k, v in combined.items():
        v = np.asarray(v, float)
        out[k] = (
            list(100 * (v.mean(0) if v.ndim == 2 else v)) if not k.startswith("HOTA_") else None
        )
    print(json.dumps({k: v for k, v in out.items() if v is not None}))


if __name__ == "__main__":
    main()
