"""Score box tracks in MOTChallenge format: HOTA, DetA, AssA, LocA, MOTA, MOTP, IDF1, ... from
TrackEval (the MOTChallenge's evaluation code), its MOT preprocessing included.

    python -m tubes_cli.eval_mot --groundTruth GT --predictions PRED
        [--benchmark MOT15|MOT17] [--output metrics.json]

GT and PRED: two text files (``frame,id,x,y,w,h,...``), or MOT's folder layout: GT/<seq>/gt/gt.txt
(seqinfo.ini beside gt/ gives the length) and PRED/<seq>.txt, every sequence combined. The
benchmark decides TrackEval's preprocessing: MOT17 (MOT16/17/20 ground truth of 9 columns, the
flag and class columns used) or MOT15 (10 columns, no classes); by default from the columns.
Tracks made by ``python -m tubes_cli.link --format mot`` score as they are.
"""

import os
import sys
from typing import List, Optional

from posetrack_core.evaluation.box_metrics import MOTEvalError, evaluate_mot_many, format_mot_table
from posetrack_core.io import check_output_files, write_json_atomic

from .boundary import run_command, tool_parser


def pairs_of(gt: str, pred: str):
    """(ground truth, prediction) paths: two files, or every GT/<seq>/gt/gt.txt with PRED/<seq>.txt."""
    if not os.path.isdir(gt):
        return [(gt, pred)]
    seqs = sorted(s for s in os.listdir(gt) if os.path.isfile(os.path.join(gt, s, "gt", "gt.txt")))
    if not seqs:
        raise MOTEvalError(f"{gt}: no <sequence>/gt/gt.txt in this folder")
    return [(os.path.join(gt, s, "gt", "gt.txt"), os.path.join(pred, f"{s}.txt")) for s in seqs]


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("eval_mot", lambda: _main(argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = tool_parser("eval_mot", __doc__)
    parser.add_argument("--groundTruth", required=True, help="gt.txt, or a MOT folder")
    parser.add_argument("--predictions", required=True, help="tracks .txt, or a folder of them")
    parser.add_argument("--benchmark", choices=["MOT15", "MOT16", "MOT17", "MOT20"])
    parser.add_argument("--output", help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    if args.output:
        check_output_files([args.output], overwrite=True)  # before the work, not after it
    pairs = pairs_of(args.groundTruth, args.predictions)
    result = evaluate_mot_many(pairs, benchmark=args.benchmark)
    print(f"Evaluated {len(pairs)} sequence(s), {result['frames']} frames")
    print(format_mot_table(result))
    if args.output:
        write_json_atomic(result, args.output, indent=1)
        print(f"Metrics written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
