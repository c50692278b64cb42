#!/usr/bin/env python
"""`eval_mot` under several Pythons (and so several numpy / TrackEval releases) on the same files.

    python bench/bench_eval_mot_pythons.py --python output/venv-py3.11/bin/python \
        --python output/venv-py3.12/bin/python --python output/venv-py3.13/bin/python

Each interpreter runs ``python -m tubes_cli.eval_mot --output`` on MOT15's TUD-Campus and
TUD-Stadtmitte with the CEM tracker's output (read from py-motmetrics 1.4.0's wheel, as the
tests do) and on the tests' noisy tracks; the table gives HOTA, IDF1 and MOTA per interpreter and
the largest difference of every metric from the first interpreter's.
"""

import argparse
import json
import os
import subprocess
import tempfile

from toolbox import ROOT, test_helpers

mot_text, noisy_tracks, tud_folder = test_helpers("motmetrics_cases", "mot_text", "noisy_tracks",
                                                  "tud_folder")  # fmt: skip


def _stack(python):
    code = (
        "import sys, numpy, trackeval, importlib.metadata as m; "
        "print(sys.version.split()[0], numpy.__version__, m.version('trackeval'))"
    )
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def _eval(python, gt, pred, out):
    cmd = [
        python,
        "-m",
        "tubes_cli.eval_mot",
        "--groundTruth",
        gt,
        "--predictions",
        pred,
        "--output",
        out,
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", required=True, help="an interpreter (repeat)")
    args = parser.parse_args()
    tud = tud_folder()
    with tempfile.TemporaryDirectory() as tmp:
        gt_rows, pred_rows = noisy_tracks()
        for name, rows in (("gt.txt", gt_rows), ("pred.txt", pred_rows)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(mot_text(rows))
        cases = {
            seq: (os.path.join(tud, seq, "gt.txt"), os.path.join(tud, seq, "test.txt"))
            for seq in ("TUD-Campus", "TUD-Stadtmitte")
        }
        cases["noisy tracks (tests)"] = (os.path.join(tmp, "gt.txt"), os.path.join(tmp, "pred.txt"))
        results = {}
        for k, python in enumerate(args.python):
            stack = _stack(python)
            results[python] = (stack, {
                case: _eval(python, gt, pred, os.path.join(tmp, f"{k}-{n}.json"))
                for n, (case, (gt, pred)) in enumerate(cases.items())
            })  # fmt: skip
    print("| Python | numpy | TrackEval | sequence | HOTA | IDF1 | MOTA |")
    print("|---|---|---|---|---|---|---|")
    for python, ((pyv, npv, tev), per_case) in results.items():
        for case, r in per_case.items():
            scores = " | ".join(f"{r[k]:.3f}" for k in ("HOTA", "IDF1", "MOTA"))
            print(f"| {pyv} | {npv} | {tev} | {case} | {scores} |")
    first = results[args.python[0]][1]
    worst = max(
        abs(r[key] - first[case][key])
        for _, per_case in results.values()
        for case, r in per_case.items()
        for key in r
        if isinstance(r[key], (int, float))
    )
    print(f"\nlargest difference from {args.python[0]} over every metric and sequence: {worst:.3g}")


if __name__ == "__main__":
    main()
