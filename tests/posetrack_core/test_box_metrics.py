"""Box-tracking metrics of MOT files through TrackEval (`evaluation.box_metrics`, `eval_mot`):
published figures on real MOT data, cases worked out by hand, py-motmetrics agreement, errors."""

import json
import math
import os

import pytest
from motmetrics_cases import (
    digest_files,
    mot_text,
    noisy_tracks,
    reference,
    tud_folder,
    two_walkers,
)

from posetrack_core.evaluation.box_metrics import MOTEvalError, evaluate_mot, evaluate_mot_many
from tubes_cli.eval_mot import main as eval_mot


@pytest.fixture(scope="module")
def tud():
    """MOT15's TUD files, read from py-motmetrics' wheel (downloaded once)."""
    return tud_folder()


def test_cem_tracker_on_tud_gives_the_published_figures(tud):
    # py-motmetrics ships CEM's output on MOT15's TUD sequences with the MOTChallenge devkit's
    # figures (MOTA / IDF1 / MOTP): Campus 52.6 / 55.8 / 72.3, Stadtmitte 56.4 / 64.5 / 65.4.
    for seq, (mota, idf1, motp, fp, fn) in {
        "TUD-Campus": (52.6, 55.8, 72.3, 13, 150),
        "TUD-Stadtmitte": (56.4, 64.5, 65.4, 45, 452),
    }.items():
        r = evaluate_mot(os.path.join(tud, seq, "gt.txt"), os.path.join(tud, seq, "test.txt"))
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
    path.write_text(mot_text(rows))
    return str(path)


def test_perfect_tracks_and_one_identity_swap(tmp_path):
    gt = _write(tmp_path / "gt.txt", two_walkers(4))
    perfect = evaluate_mot(gt, _write(tmp_path / "same.txt", two_walkers(4, lambda t: (7, 9))))
    for k in ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDF1"):
        assert perfect[k] == pytest.approx(100.0), k
    # The ids swap after frame 2 (the boxes do not cross): every (gt, pred) pair is matched
    # twice; AssA = 4 pairs * 2 * 2 / (4 + 4 - 2) / 8 = 1/3, IDF1 = 2 * 4 / (8 + 8) = 1/2, and the
    # two switches cost MOTA 2/8.
    swap = evaluate_mot(
        gt, _write(tmp_path / "swap.txt", two_walkers(4, lambda t: (7, 9) if t <= 2 else (9, 7)))
    )
    assert swap["AssA"] == pytest.approx(100 / 3) and swap["DetA"] == pytest.approx(100.0)
    assert swap["HOTA"] == pytest.approx(100 * math.sqrt(1 / 3))
    assert swap["IDF1"] == pytest.approx(50.0) and swap["MOTA"] == pytest.approx(75.0)
    assert swap["IDSW"] == 2


def test_mota_and_idf1_equal_py_motmetrics_on_noisy_tracks(tmp_path):
    # py-motmetrics 1.4.0's answers on these files: tests/data/motmetrics_reference.json.
    gt_rows, pred_rows = noisy_tracks()
    gt, pred = _write(tmp_path / "gt.txt", gt_rows), _write(tmp_path / "pred.txt", pred_rows)
    ref = reference("noisy_tracks")
    assert digest_files(gt, pred) == ref["inputs_sha256"], "inputs changed: remake the reference"
    r = evaluate_mot(gt, pred)
    assert r["MOTA"] == pytest.approx(ref["mota"], abs=1e-9)
    assert r["IDF1"] == pytest.approx(ref["idf1"], abs=1e-9)
    assert r["IDSW"] == ref["num_switches"]
    # Sequences combine as TrackEval combines them: errors summed over sequences.
    both = evaluate_mot_many([(gt, pred), (gt, pred)])
    assert both["FP"] == 2 * r["FP"] and both["MOTA"] == pytest.approx(r["MOTA"])


def test_cli_files_and_mot_folders(tmp_path, capsys, tud):
    seq = tmp_path / "gt" / "TUD-Campus"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(open(os.path.join(tud, "TUD-Campus", "gt.txt")).read())
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=TUD-Campus\nseqLength=71\n")
    (tmp_path / "pred").mkdir()
    pred = open(os.path.join(tud, "TUD-Campus", "test.txt")).read()
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
