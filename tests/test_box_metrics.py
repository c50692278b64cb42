"""Box-tracking metrics of MOT files through TrackEval (`evaluation.box_metrics`, `eval_mot`):
published figures on real MOT data, cases worked out by hand, py-motmetrics agreement, errors."""

import json
import math
import os

import motmetrics as mm
import numpy as np
import pytest

from posetrack_core.evaluation.box_metrics import MOTEvalError, evaluate_mot, evaluate_mot_many
from tubes_cli.eval_mot import main as eval_mot

pytest.importorskip("trackeval")  # declared for Python < 3.12 only (see setup.py)

TUD = os.path.join(os.path.dirname(mm.__file__), "data")


def test_cem_tracker_on_tud_gives_the_published_figures():
    # py-motmetrics ships CEM's output on MOT15's TUD sequences with the MOTChallenge devkit's
    # figures (MOTA / IDF1 / MOTP): Campus 52.6 / 55.8 / 72.3, Stadtmitte 56.4 / 64.5 / 65.4.
    for seq, (mota, idf1, motp, fp, fn) in {
        "TUD-Campus": (52.6, 55.8, 72.3, 13, 150),
        "TUD-Stadtmitte": (56.4, 64.5, 65.4, 45, 452),
    }.items():
        r = evaluate_mot(os.path.join(TUD, seq, "gt.txt"), os.path.join(TUD, seq, "test.txt"))
        assert (round(r["MOTA"], 1), round(r["IDF1"], 1), round(r["MOTP"], 1)) == (
            mota,
            idf1,
            motp,
        )
        assert (r["FP"], r["FN"], r["IDSW"]) == (fp, fn, 7)
        assert 0 < r["HOTA"] < 100 and r["HOTA"] == pytest.approx(
            math.sqrt(r["DetA"] * r["AssA"]), abs=2
        )


def _write(path, rows):
    path.write_text("".join(f"{f},{i},{x},{y},{w},{h},1,-1,-1,-1\n" for f, i, x, y, w, h in rows))
    return str(path)


def _two_walkers(frames, ids=lambda t: (1, 2)):
    rows = []
    for t in range(1, frames + 1):
        a, b = ids(t)
        rows += [(t, a, 10 + 5 * t, 20, 40, 100), (t, b, 300 - 5 * t, 30, 40, 100)]
    return rows


def test_perfect_tracks_and_one_identity_swap(tmp_path):
    gt = _write(tmp_path / "gt.txt", _two_walkers(4))
    perfect = evaluate_mot(gt, _write(tmp_path / "same.txt", _two_walkers(4, lambda t: (7, 9))))
    for k in ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDF1"):
        assert perfect[k] == pytest.approx(100.0), k
    # The ids swap after frame 2 (the boxes do not cross): every (gt, pred) pair is matched
    # twice; AssA = 4 pairs * 2 * 2 / (4 + 4 - 2) / 8 = 1/3, IDF1 = 2 * 4 / (8 + 8) = 1/2, and the
    # two switches cost MOTA 2/8.
    swap = evaluate_mot(
        gt, _write(tmp_path / "swap.txt", _two_walkers(4, lambda t: (7, 9) if t <= 2 else (9, 7)))
    )
    assert swap["AssA"] == pytest.approx(100 / 3) and swap["DetA"] == pytest.approx(100.0)
    assert swap["HOTA"] == pytest.approx(100 * math.sqrt(1 / 3))
    assert swap["IDF1"] == pytest.approx(50.0) and swap["MOTA"] == pytest.approx(75.0)
    assert swap["IDSW"] == 2


@pytest.mark.skipif(
    not hasattr(np, "asfarray"),
    reason="the reference, py-motmetrics 1.4.0's distances, does not run on numpy 2 (np.asfarray)",
)
def test_mota_and_idf1_equal_py_motmetrics_on_noisy_tracks(tmp_path):
    rng = np.random.default_rng(0)
    gt_rows = _two_walkers(30) + [(t, 3, 150, 200, 50, 120) for t in range(5, 25)]
    pred_rows = []
    for f, i, x, y, w, h in gt_rows:
        if rng.random() < 0.15:
            continue
        i = i + 10 if (i == 1 and f > 15) else i
        pred_rows.append((f, i, x + rng.normal(0, 4), y + rng.normal(0, 4), w, h))
    pred_rows += [(f, 50 + f, 400, 300, 30, 60) for f in range(1, 31, 3)]
    gt, pred = _write(tmp_path / "gt.txt", gt_rows), _write(tmp_path / "pred.txt", pred_rows)
    r = evaluate_mot(gt, pred)
    acc = mm.utils.compare_to_groundtruth(
        mm.io.loadtxt(gt, fmt="mot15-2D"), mm.io.loadtxt(pred, fmt="mot15-2D"), "iou", distth=0.5
    )
    s = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"])
    assert r["MOTA"] == pytest.approx(100 * float(s["mota"].iloc[0]), abs=1e-9)
    assert r["IDF1"] == pytest.approx(100 * float(s["idf1"].iloc[0]), abs=1e-9)
    assert r["IDSW"] == int(s["num_switches"].iloc[0])
    # Sequences combine as TrackEval combines them: errors summed over sequences.
    both = evaluate_mot_many([(gt, pred), (gt, pred)])
    assert both["FP"] == 2 * r["FP"] and both["MOTA"] == pytest.approx(r["MOTA"])


def test_cli_files_and_mot_folders(tmp_path, capsys):
    seq = tmp_path / "gt" / "TUD-Campus"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(open(os.path.join(TUD, "TUD-Campus", "gt.txt")).read())
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=TUD-Campus\nseqLength=71\n")
    (tmp_path / "pred").mkdir()
    pred = open(os.path.join(TUD, "TUD-Campus", "test.txt")).read()
    (tmp_path / "pred" / "TUD-Campus.txt").write_text(pred)
    out = tmp_path / "m.json"
    argv = ["--groundTruth", str(tmp_path / "gt"), "--predictions", str(tmp_path / "pred")]
    assert eval_mot(argv + ["--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 sequence(s), 71 frames" in printed and "52.65" in printed
    assert json.loads(out.read_text())["IDF1"] == pytest.approx(55.77, abs=0.01)
    (tmp_path / "pred" / "TUD-Campus.txt").write_text("1,2,3\n")
    assert eval_mot(argv) == 2
    assert "TUD-Campus.txt: 3 columns" in capsys.readouterr().err
    (tmp_path / "nan.txt").write_text("1,1,10,10,5,5,1\n2,1,nan,10,5,5,1\n")
    with pytest.raises(MOTEvalError, match="nan.txt: line 2: NaN or infinite value"):
        evaluate_mot(str(seq / "gt" / "gt.txt"), str(tmp_path / "nan.txt"))
    with pytest.raises(MOTEvalError, match="nope.txt: file does not exist"):
        evaluate_mot(str(seq / "gt" / "gt.txt"), str(tmp_path / "nope.txt"))
