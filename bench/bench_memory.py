#!/usr/bin/env python
"""The paper's memory wall, measured: peak training memory of one iteration of Tube R-CNN.

    python bench/bench_memory.py [--output output/bench_memory] [--depths 18 50 101]
        [--frames 1 3 8] [--sizes 256 512 800] [--clips 1 2] [--device cpu|cuda]
        [--checkpoint none backbone box keypoint] [--precision float32 bfloat16 float16]
        [--timeout 1800] [--estimate-only]
    python bench/bench_memory.py --calibrate      # the method checked on tensors of known size

Each point (depth, T, shorter side, clips per batch, part checkpointed) runs in a fresh process:
the paper config `configs/tube_rcnn_R{depth}_T3.yaml` (R-18, R-50, R-101 at full width, FrozenBN,
512 RoIs per clip, 25% foreground, the 8 x 512 3D keypoint head) with only the clip length,
input size and checkpointing changed; one seeded batch of clips with 6 people each (the same
people at every point), and proposals made as a trained RPN makes them (the ground-truth tubes
jittered, so that the RoI sampler finds its 128 foreground tubes per clip, as in real training;
a random RPN would give the heads almost nothing to do). Two iterations (forward, backward, SGD
step); the second is timed.

What is measured:
- ``peak_gb``: on the CPU, the process's peak resident memory (``ru_maxrss``) above its resident
  memory once the model, optimizer and batch exist; on a GPU ``torch.cuda.max_memory_allocated``
  above the allocated memory at the same point. ``--calibrate`` checks the CPU method: tensors
  of 1 and 2 GiB allocated in the measured region read as 1 and 2 GiB.
- ``saved_gb`` per part (backbone, rpn, box_head, keypoint_head): the bytes autograd keeps for
  the backward pass, counted by a saved-tensors hook while each part runs (every storage once).
  This says which part holds the memory; a checkpointed part keeps only its input.

Every finished point is cached in OUTPUT/points/*.json (a rerun skips it) and the tables are
written to OUTPUT/memory.md. Points not measured are estimated from the nearest measured point
of the same depth (see ``_estimate``: the backbone's and RPN's saved bytes scale with
clips x T x pixels, the heads' with clips x T, the peak minus the saved bytes stays as on the reference; checkpointed points are measured
only) and marked so:
every point with ``--estimate-only``, and otherwise a point whose estimate exceeds 85% of the free
memory. Estimates are never cached. The rule is checked on every measured point (each estimated
from the others) below the table. A point over --timeout is marked as such.

Clips per GPU: (GPU memory - 1 GB for the CUDA context and allocator slack - 3 x the weights
for weights, gradients and momentum) // the peak per clip.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from toolbox import ROOT

PARTS = ("backbone", "rpn", "box_head", "keypoint_head")
CHECKPOINT_KEYS = {
    "backbone": "MODEL.RESNETS.ACTIVATION_CHECKPOINT",
    "box": "MODEL.ROI_BOX_HEAD.ACTIVATION_CHECKPOINT",
    "keypoint": "MODEL.ROI_KEYPOINT_HEAD.ACTIVATION_CHECKPOINT",
}
GB = 1 << 30


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _config(point):
    from detectron2_tubes.engine import setup_cfg

    depth, t, size = point["depth"], point["frames"], point["size"]
    kernels = ["MODEL.RESNETS.TEMPORAL_KERNELS", "[1, 1, 1, 1, 1]"] if t == 1 else []
    opts = [
        "MODEL.DEVICE", point["device"], "INPUT.CLIP.NUM_FRAMES", str(t),
        "INPUT.MIN_SIZE_TRAIN", f"({size},)", "INPUT.MAX_SIZE_TRAIN", str(size * 5 // 3),
        "MODEL.RPN.TEMPORAL_KERNEL", str(min(t, 3)),
        "MODEL.ROI_KEYPOINT_HEAD.TEMPORAL_KERNEL", str(min(t, 3)), *kernels,
    ]  # fmt: skip
    if point["checkpoint"] != "none":
        opts += [CHECKPOINT_KEYS[point["checkpoint"]], "True"]
    return setup_cfg(os.path.join(ROOT, "configs", f"tube_rcnn_R{depth}_T3.yaml"), opts)


def _batch(point, device):
    """``clips`` seeded clips of T frames at size x 5/3 size, 6 walking people each."""
    import torch
    from detectron2.structures import Instances

    from detectron2_tubes.structures import Tubes

    g = torch.Generator().manual_seed(0)
    h, w, t = point["size"], point["size"] * 5 // 3, point["frames"]
    clips = []
    for _ in range(point["clips"]):
        n = 6
        x0 = torch.rand(n, generator=g) * (w * 0.7)
        y0 = torch.rand(n, generator=g) * (h * 0.3)
        bw, bh = w * 0.12, h * 0.55
        x1 = x0[:, None] + torch.arange(t)[None, :] * (w * 0.01)  # walking right
        y1 = y0[:, None].expand(-1, t)
        boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], dim=-1)
        inst = Instances((h, w))
        inst.gt_tubes = Tubes(boxes)
        kp = torch.zeros(n, t, 17, 3)
        kp[..., 0] = boxes[..., None, 0] + torch.rand(n, t, 17, generator=g) * bw
        kp[..., 1] = boxes[..., None, 1] + torch.rand(n, t, 17, generator=g) * bh
        kp[..., 2] = 2
        inst.gt_keypoints, inst.gt_visible = kp, torch.ones(n, t, dtype=torch.bool)
        inst.gt_classes = torch.zeros(n, dtype=torch.int64)
        image = torch.randint(0, 255, (3, t, h, w), generator=g, dtype=torch.uint8)
        clips.append({"image": image, "instances": inst, "height": h, "width": w})
    return clips


def _trained_like_proposals(model, count):
    """Replace the RPN's proposals (its losses kept) by ``count`` tubes per clip, half of them the
    ground-truth tubes jittered and half anywhere in the frame, as a trained RPN proposes them:
    the RoI sampler then finds its 128 foreground tubes at every point (a random RPN's proposals,
    thinned by the tube NMS, would give the heads a number of RoIs that changes with T)."""
    import torch
    from detectron2.structures import Instances

    from detectron2_tubes.structures import Tubes

    rpn = model.proposal_generator
    original = rpn.forward

    def forward(images, features, gt_instances=None):
        proposals, losses = original(images, features, gt_instances)
        g = torch.Generator().manual_seed(1)
        made = []
        for p, gt in zip(proposals, gt_instances):
            tubes = gt.gt_tubes.tensor.cpu()
            h, w = p.image_size
            near = tubes[torch.randint(0, len(tubes), (count // 2,), generator=g)]
            size = (near[..., 2:] - near[..., :2]).repeat(1, 1, 2)
            near = near + (torch.rand(len(near), 1, 4, generator=g) - 0.5) * 0.3 * size
            xy = torch.rand(count - len(near), 1, 2, generator=g) * torch.tensor([w, h]) * 0.8
            wh = (torch.rand(count - len(near), 1, 2, generator=g) * 0.3 + 0.05) * torch.tensor(
                [w, h]
            )
            anywhere = torch.cat([xy, xy + wh], dim=-1).expand(-1, tubes.shape[1], -1)
            device = p.proposal_tubes.tensor.device
            q = Instances(p.image_size)
            q.proposal_tubes = Tubes(torch.cat([near, anywhere]).to(device))
            q.objectness_logits = torch.zeros(count, device=device)
            made.append(q)
        return made, losses

    rpn.forward = forward


class _SavedBytes:
    """Bytes autograd saves for backward while each part runs (every storage counted once)."""

    def __init__(self, model):
        import torch

        self.bytes = {p: 0 for p in PARTS}
        self.seen, self.part = set(), None
        modules = {
            "backbone": model.backbone,
            "rpn": model.proposal_generator,
            "box_head": model.roi_heads.box_head,
            "keypoint_head": model.roi_heads.keypoint_head,
        }
        for name, module in modules.items():
            module.register_forward_pre_hook(lambda m, a, n=name: setattr(self, "part", n))
            module.register_forward_hook(lambda m, a, o: setattr(self, "part", None))
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda x: x)

    def _pack(self, tensor):
        if self.part is not None:
            storage = tensor.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in self.seen and storage.nbytes() > 0:
                self.seen.add(key)
                self.bytes[self.part] += storage.nbytes()
        return tensor


def run_point(point):
    """One point in this process: {"peak_gb", "seconds", "saved_gb": {part: GB}, ...}."""
    import torch
    from detectron2.modeling import build_model
    from detectron2.utils.events import EventStorage

    device = point["device"]
    torch.manual_seed(0)
    cfg = _config(point)
    model = build_model(cfg).to(device)
    model.train()
    _trained_like_proposals(model, cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    batch = _batch(point, device)
    counter = _SavedBytes(model)
    precision = point.get("precision", "float32")
    autocast = torch.autocast(
        device.split(":")[0], dtype=getattr(torch, precision), enabled=precision != "float32"
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _rss_bytes()
    seconds = None
    with EventStorage():
        for it in range(2):
            if it == 1:
                counter.bytes = {p: 0 for p in PARTS}
                counter.seen.clear()
            start = time.perf_counter()
            with counter.hooks, autocast:
                losses = model(batch)
            sum(losses.values()).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            del losses
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _peak_rss_bytes() - base
    return {
        **point,
        "peak_gb": peak / GB,
        "seconds": seconds,
        "saved_gb": {p: b / GB for p, b in counter.bytes.items()},
        "model_gb": sum(p.numel() * p.element_size() for p in model.parameters()) / GB,
        "method": "cuda max_memory_allocated" if device.startswith("cuda") else "peak RSS",
    }


def calibrate():
    """Tensors of 1 and 2 GiB made (and written) in the measured region read as 1 and 2 GiB."""
    import torch

    out = {}
    for gib in (1, 2):
        base = _rss_bytes()
        before = _peak_rss_bytes()
        x = torch.ones(gib * GB // 4, dtype=torch.float32)
        peak = max(_peak_rss_bytes(), before) - base
        out[f"{gib} GiB tensor"] = round(peak / GB, 3)
        del x
    return out


def _name(p):
    precision = "" if p.get("precision", "float32") == "float32" else "_" + p["precision"]
    return f"R{p['depth']}_T{p['frames']}_{p['size']}px_{p['clips']}clip_{p['checkpoint']}_{p['device']}{precision}"


def _available_gb():
    if not os.path.exists("/proc/meminfo"):
        return float("inf")
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024 / GB


def _estimate(point, done):
    """A point's peak from the nearest measured point of the same depth, checkpointing and
    device, by this rule: autograd's saved bytes of the backbone and the RPN scale with
    clips x T x pixels, those of the box and keypoint heads with clips x T only (a fixed 512 RoIs
    per clip, 128 of them foreground, whatever the input size); the rest of the peak (the
    backward's transient buffers) stays as measured on the reference. Returns the estimated record, or None without a measured reference.
    """
    import math

    if point["checkpoint"] != "none":  # recomputation's buffers grow with the input: measured only
        return None
    refs = [
        d for d in done
        if all(d[k] == point[k] for k in ("depth", "checkpoint", "device"))
        and d.get("precision", "float32") == point.get("precision", "float32")
        and "saved_gb" in d and not d.get("estimated")
    ]  # fmt: skip
    if not refs:
        return None

    def distance(d):
        return sum(abs(math.log(d[k] / point[k])) for k in ("frames", "size", "clips"))

    ref = min(refs, key=distance)
    t, c = point["frames"] / ref["frames"], point["clips"] / ref["clips"]
    px = (point["size"] / ref["size"]) ** 2
    scale = {"backbone": t * c * px, "rpn": t * c * px, "box_head": t * c, "keypoint_head": t * c}
    saved = {p: ref["saved_gb"][p] * scale[p] for p in PARTS}
    # What the peak holds beyond the saved activations (the backward's transient buffers) is
    # kept as measured on the reference.
    peak = ref["peak_gb"] - sum(ref["saved_gb"].values()) + sum(saved.values())
    return {**point, "peak_gb": peak, "saved_gb": saved, "model_gb": ref.get("model_gb", 0.0),
            "estimated": True, "estimated_from": _name(ref)}  # fmt: skip


def _rule_check(done):
    """Every measured point estimated from the other measured points: the rule's error."""
    measured = [d for d in done if "saved_gb" in d and not d.get("estimated")]
    rows = [
        "| point | measured peak (GB) | estimated (GB) | from | error |",
        "|---|---|---|---|---|",
    ]
    for d in measured:
        guess = _estimate(d, [o for o in measured if o is not d])
        if guess is not None:
            err = 100 * (guess["peak_gb"] - d["peak_gb"]) / d["peak_gb"]
            rows.append(f"| {_name(d)} | {d['peak_gb']:.2f} | {guess['peak_gb']:.2f} | "
                        f"{guess['estimated_from']} | {err:+.0f}% |")  # fmt: skip
    return "\n".join(rows) + "\n"


RULE_CHECK_HEAD = (
    "\nThe estimation rule checked on every measured point (each estimated from the others):\n\n"
)

# Per GPU: the weights, their gradients and SGD's momentum (3 x the model), and 1 GB for the CUDA
# context and the allocator's slack, are not in the per-clip peak.
GPU_RESERVE_GB = 1.0
GPU_SIZES_GB = (24, 40, 80, 141)


def clips_per_gpu(record, gpu_gb):
    """Clips of this point's size one GPU of ``gpu_gb`` holds: (gpu_gb - reserve - 3 x model)
    divided by the peak per clip."""
    per_clip = record["peak_gb"] / record["clips"]
    return int((gpu_gb - GPU_RESERVE_GB - 3 * record.get("model_gb", 0.0)) // per_clip)


def _table(done):
    gpus = " | ".join(f"clips per {g} GB" for g in GPU_SIZES_GB)
    rows = [
        f"| depth | T | px | clips | checkpointed | precision | peak (GB) | s / iteration | backbone | rpn | box head | keypoint head | {gpus} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(GPU_SIZES_GB),
    ]  # fmt: skip
    for d in sorted(
        done,
        key=lambda d: (d["depth"], d["frames"], d["size"], d["clips"], d["checkpoint"], d.get("precision", "float32")),  # fmt: skip
    ):
        precision = d.get("precision", "float32")
        head = f"| R-{d['depth']} | {d['frames']} | {d['size']} | {d['clips']} | {d['checkpoint']} | {precision} |"  # fmt: skip
        if "peak_gb" not in d:
            rows.append(head + f" {d.get('note', '-')} |" + " |" * (5 + len(GPU_SIZES_GB)))
            continue
        s = d.get("saved_gb", {})
        peak = f"{d['peak_gb']:.2f}" + (" (est.)" if d.get("estimated") else "")
        secs = "-" if d.get("seconds") is None else f"{d['seconds']:.1f}"
        parts = [f"{s[p]:.2f}" if p in s else "-" for p in PARTS]
        fits = [str(clips_per_gpu(d, g)) for g in GPU_SIZES_GB]
        rows.append(f"{head} {peak} | {secs} | " + " | ".join(parts + fits) + " |")
    return "\n".join(rows) + "\n"


def _measure(point, timeout):
    """Run one point in a fresh process; its record (or a note saying why there is none)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--point", json.dumps(point)],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if lines:
            result = json.loads(lines[-1][len("RESULT ") :])
        else:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            result = {**point, "note": f"failed: {tail[:120]}"}
    except subprocess.TimeoutExpired:
        result = {**point, "note": f"over {timeout} s"}
    result["wall_s"] = time.perf_counter() - start
    return result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", default="output/bench_memory")
    parser.add_argument("--depths", type=int, nargs="+", default=[18, 50, 101])
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 800])
    parser.add_argument("--clips", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--checkpoint", nargs="+", default=["none"], choices=["none", *CHECKPOINT_KEYS]
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["float32"],
        choices=["float32", "bfloat16", "float16"],
        help="the forward under torch.autocast in this precision (float16: CUDA only)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per point")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument(
        "--estimate-only",
        action="store_true",
        help="measure nothing: every point not cached is estimated from the cached ones",
    )
    parser.add_argument("--point", help=argparse.SUPPRESS)  # a single point, in this process
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate()))
        return
    if args.point:
        print("RESULT " + json.dumps(run_point(json.loads(args.point))), flush=True)
        return
    points_dir = os.path.join(args.output, "points")
    os.makedirs(points_dir, exist_ok=True)
    measured = []  # every cached measurement, in this grid or not: the estimates' references
    for name in sorted(os.listdir(points_dir)):
        if name.endswith(".json"):
            with open(os.path.join(points_dir, name)) as f:
                measured.append(json.load(f))
    done = []
    grid = [
        dict(depth=d, frames=t, size=s, clips=c, checkpoint=k, device=args.device,
             **({} if p == "float32" else {"precision": p}))
        for d in args.depths for t in args.frames for s in sorted(args.sizes)
        for c in args.clips for k in args.checkpoint for p in args.precision
    ]  # fmt: skip
    for n, point in enumerate(grid, 1):
        path = os.path.join(points_dir, _name(point) + ".json")
        if os.path.isfile(path):
            with open(path) as f:
                done.append(json.load(f))
            continue
        guess = _estimate(point, measured)
        too_big = guess is not None and guess["peak_gb"] > 0.85 * _available_gb()
        if args.estimate_only or (args.device == "cpu" and too_big):
            result = guess or {**point, "note": "no measured point to estimate from"}
        else:
            result = _measure(point, args.timeout)
            with open(path + ".tmp", "w") as f:  # measured points only are cached
                json.dump(result, f)
            os.replace(path + ".tmp", path)
            measured.append(result)
        done.append(result)
        peak = result.get("peak_gb")
        print(
            f"[{n}/{len(grid)}] {_name(point)}: "
            + (f"{peak:.2f} GB" if peak is not None else result.get("note", "?"))
            + (f" (estimated from {result['estimated_from']})" if result.get("estimated") else "")
            + (f", {result['seconds']:.1f} s/it" if result.get("seconds") else ""),
            flush=True,
        )
    table = _table(done) + RULE_CHECK_HEAD + _rule_check(measured)
    from posetrack_core.io import write_text_atomic

    write_text_atomic(table, os.path.join(args.output, "memory.md"))
    print(table)


if __name__ == "__main__":
    main()
