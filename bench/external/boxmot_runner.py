"""Run boxmot's trackers on MOTChallenge detection files (called by bench_trackers.py with the
Python of boxmot's own virtual environment: boxmot needs numpy >= 2, Detectron2 numpy < 2, so
the two never share an interpreter and exchange text files only).

    python boxmot_runner.py TRACKER INPUT_DIR OUTPUT_DIR WIDTH HEIGHT

Every INPUT_DIR/<seq>.txt (``frame,-1,x,y,w,h,score``) is tracked frame by frame with the
tracker's default settings (BoT-SORT without appearance embeddings or camera-motion
compensation: no images are given, each frame is a blank image of WIDTH x HEIGHT) and written
to OUTPUT_DIR/<seq>.txt as ``frame,id,x,y,w,h,score,det_index`` (the box of the detection the
track took, so that only the association differs from other trackers); OUTPUT_DIR/timing.json
holds the seconds spent in ``update`` and the frames.
"""

import json
import os
import sys
import time

import numpy as np


def make(name: str):
    from boxmot import BotSort, ByteTrack, OcSort

    if name == "bytetrack":
        return ByteTrack()
    if name == "ocsort":
        return OcSort()
    if name == "botsort":
        return BotSort(use_embeddings=False, use_cmc=False)
    raise SystemExit(f"unknown tracker {name}")


def main(name, in_dir, out_dir, width, height):
    os.makedirs(out_dir, exist_ok=True)
    blank = np.zeros((int(height), int(width), 3), np.uint8)
    seconds, frames = 0.0, 0
    for seq in sorted(f for f in os.listdir(in_dir) if f.endswith(".txt")):
        rows = np.loadtxt(os.path.join(in_dir, seq), delimiter=",", ndmin=2)
        tracker = make(name)
        last = int(rows[:, 0].max()) if rows.size else 0
        out = []
        for f in range(1, last + 1):
            r = rows[rows[:, 0] == f] if rows.size else np.zeros((0, 7))
            dets = np.zeros((len(r), 6))
            dets[:, :2] = r[:, 2:4]
            dets[:, 2:4] = r[:, 2:4] + r[:, 4:6]
            dets[:, 4] = r[:, 6]
            start = time.perf_counter()
            tracks = tracker.update(dets, blank)
            seconds += time.perf_counter() - start
            frames += 1
            for t in np.asarray(tracks).reshape(-1, 8):
                i = int(t[7])
                x, y, w, h, s = r[i, 2], r[i, 3], r[i, 4], r[i, 5], r[i, 6]
                out.append(f"{f},{int(t[4]) + 1},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},{i}")
        with open(os.path.join(out_dir, seq), "w") as fh:
            fh.write("\n".join(out) + ("\n" if out else ""))
    with open(os.path.join(out_dir, "timing.json"), "w") as fh:
        json.dump({"seconds": seconds, "frames": frames}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:6])
