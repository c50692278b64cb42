"""python -m tubes_cli.link on PoseTrack JSON and MOTChallenge text."""

import json
import os
import subprocess
import sys

import pytest

from tubes_cli.link import main

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _kps(x, y):
    """A 17-slot pose around (x, y) with every PoseTrack joint labelled."""
    k = []
    for slot in range(17):
        k += [0, 0, 0] if slot in (3, 4) else [x + (slot % 4) * 5, y + slot * 6, 1]
    return k


def _pt18(frames):
    """PoseTrack 2018 predictions: frames = list of lists of (x, y, score)."""
    images, anns = [], []
    for f, people in enumerate(frames):
        images.append(
            {"id": 100 + f, "file_name": f"images/val/seq/{f:06d}.jpg", "frame_id": 100 + f}
        )
        for x, y, s in people:
            anns.append(
                {
                    "image_id": 100 + f,
                    "keypoints": _kps(x, y),
                    "scores": [s] * 17,
                    "bbox": [x - 5, y - 5, 40, 110],
                    "category_id": 1,
                }
            )
    return {"images": images, "annotations": anns, "categories": []}


def _write(path, data):
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_posetrack_2018_folder(tmp_path, capsys):
    src = tmp_path / "pred"
    src.mkdir()
    # Person A walks right; B stays; a low-score detection in frame 1 is dropped.
    frames = [
        [(10, 10, 0.99), (200, 10, 0.98)],
        [(14, 10, 0.99), (200, 12, 0.97), (100, 100, 0.5)],
        [(18, 10, 0.99), (201, 12, 0.99)],
    ]
    _write(src / "000001_a.json", _pt18(frames))
    _write(src / "000002_b.json", _pt18([[(50, 50, 0.99)], []]))
    out = tmp_path / "out"
    assert main(["--input", str(src), "--output", str(out)]) == 0
    assert "7 detections tracked, 1 dropped" in capsys.readouterr().out
    with open(out / "000001_a.json") as f:
        a = json.load(f)
    got = [(x["image_id"], x["track_id"]) for x in a["annotations"]]
    assert got == [(100, 0), (100, 1), (101, 0), (101, 1), (102, 0), (102, 1)]
    assert len(a["images"]) == 3  # every frame is kept, in order
    with open(out / "000002_b.json") as f:
        b = json.load(f)
    assert [x["track_id"] for x in b["annotations"]] == [0]  # ids start again per video


def test_posetrack_2017_file(tmp_path):
    def rect(x, y, score):
        return {
            "score": [score],
            "x1": [x],
            "y1": [y],
            "x2": [x + 10],
            "y2": [y + 10],
            "annopoints": [
                {
                    "point": [
                        {"id": [j], "x": [x + j], "y": [y + 8 * j], "score": [0.9]}
                        for j in range(15)
                    ]
                }
            ],
        }

    data = {
        "annolist": [
            {
                "image": [{"name": f"{i}.jpg"}],
                "annorect": [rect(10 + i, 10, 0.99), rect(300, 10, 0.96)],
            }
            for i in range(3)
        ]
    }
    path = _write(tmp_path / "seq.json", data)
    assert main(["--input", path, "--output", str(tmp_path / "o.json")]) == 0
    with open(tmp_path / "o.json") as f:
        out = json.load(f)
    assert [[r["track_id"] for r in e["annorect"]] for e in out["annolist"]] == [[[0], [1]]] * 3


def test_mot_text_with_gaps_and_memory(tmp_path):
    rows = [
        "1,-1,10,10,30,60,0.99,-1,-1,-1",
        "1,-1,300,10,30,60,0.99,-1,-1,-1",
        "2,-1,12,10,30,60,0.99,-1,-1,-1",  # person 2 missed in frame 2
        "3,-1,14,10,30,60,0.99,-1,-1,-1",
        "3,-1,301,10,30,60,0.99,-1,-1,-1",
        "4,-1,16,10,30,60,0.10,-1,-1,-1",
    ]
    src = _write(tmp_path / "det.txt", "\n".join(rows) + "\n")
    assert main(["--input", src, "--output", str(tmp_path / "paper.txt")]) == 0
    ids = [line.split(",")[:2] for line in open(tmp_path / "paper.txt").read().split()]
    assert ids == [["1", "1"], ["1", "2"], ["2", "1"], ["3", "1"], ["3", "3"]]
    assert (
        main(
            [
                "--input",
                src,
                "--output",
                str(tmp_path / "mem.txt"),
                "TRACKING.MEMORY",
                "2",
                "TRACKING.MAX_COST",
                "0.7",
            ]
        )
        == 0
    )
    lines = open(tmp_path / "mem.txt").read().split()
    assert [line.split(",")[:2] for line in lines] == [
        ["1", "1"],
        ["1", "2"],
        ["2", "1"],
        ["3", "1"],
        ["3", "2"],
    ]
    assert lines[0].endswith("0.99,-1,-1,-1")  # extra columns kept


@pytest.mark.parametrize(
    "content,message",
    [
        ("1,-1,10,10,30\n", "line 1: 5 fields, expected at least 7"),
        ("1,-1,10,10,30,60,0.9\n2,-1,a,10,30,60,0.9\n", "line 2: non-numeric value"),
        ("1,-1,10,10,-30,60,0.9\n", "line 1: negative box size (w=-30"),
        ("0,-1,10,10,30,60,0.9\n", "line 1: frame 0 is not an integer >= 1"),
        ("1,-1,10,10,nan,60,0.9\n", "line 1: NaN or infinite"),
    ],
)
def test_bad_mot_rows_write_nothing(tmp_path, capsys, content, message):
    src = _write(tmp_path / "det.txt", content)
    out = tmp_path / "out.txt"
    assert main(["--input", src, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "det.txt" in err
    assert not out.exists() and os.listdir(tmp_path) == ["det.txt"]


def test_bad_posetrack_input_writes_nothing(tmp_path, capsys):
    src = tmp_path / "pred"
    src.mkdir()
    _write(src / "a.json", _pt18([[(10, 10, 0.99)]]))
    _write(src / "b.json", '{"images": [')
    out = tmp_path / "out"
    assert main(["--input", str(src), "--output", str(out)]) == 2
    assert "b.json: malformed JSON" in capsys.readouterr().err
    assert not out.exists()  # a.json was fine, but nothing is written
    _write(src / "b.json", {"frames": []})
    assert main(["--input", str(src), "--output", str(out)]) == 2
    assert "b.json: unknown PoseTrack format" in capsys.readouterr().err
    bad_box = _pt18([[(10, 10, 0.99)]])
    bad_box["annotations"][0]["bbox"] = [0, 0, -5, 10]
    _write(src / "b.json", bad_box)
    assert main(["--input", str(src), "--output", str(out)]) == 2
    assert "b.json: frame 0: negative box size" in capsys.readouterr().err
    assert not out.exists()


def test_cli_errors_from_the_shell(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "tubes_cli.link", *args],
            capture_output=True,
            text=True,
            env=env,
        )

    p = run("--input", str(tmp_path / "missing.json"), "--output", str(tmp_path / "o.json"))
    assert p.returncode == 2 and "missing.json does not exist" in p.stderr
    _write(tmp_path / "d.csvx", "1,2")
    p = run("--input", str(tmp_path / "d.csvx"), "--output", str(tmp_path / "o"))
    assert p.returncode == 2 and "unknown format" in p.stderr
    p = run("--input", str(tmp_path / "d.csvx"), "--output", str(tmp_path / "o"), "--format", "xml")
    assert p.returncode == 2 and "unknown format 'xml'" in p.stderr
    assert "Traceback" not in p.stderr
    assert "TRACKING.DET_THRESH" in run("--help").stdout


@pytest.mark.parametrize(
    "opts, fragment",
    [
        (["MODEL.DEVICE", "cpu"], "MODEL.DEVICE: only TRACKING.* settings apply here"),
        (["TRACKING.MEMROY", "2"], "TRACKING.MEMROY"),
        (["TRACKING.COST", "cnn"], "the cnn cost needs the frame images"),
        (["TRACKING.MEMORY"], "KEY VALUE pairs"),
    ],
)
def test_settings_are_the_tracking_keys(tmp_path, capsys, opts, fragment):
    """Anything but a TRACKING key, an unknown one or an odd list: one line, nothing written."""
    src = _write(tmp_path / "det.txt", "1,-1,10,10,30,60,0.99,-1,-1,-1\n")
    assert main(["--input", src, "--output", str(tmp_path / "t.txt"), *opts]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.txt").exists()
