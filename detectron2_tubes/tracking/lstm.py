"""The learned tracking cost: an LSTM over a track's recent boxes that scores whether a new
detection continues the track (the paper's learned alternative to hand-made costs).

``python -m tubes_cli.train_lstm`` trains it on the ground-truth tracks of any registered
PoseTrack-format dataset.
"""

import logging
import os
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from posetrack_core.io import atomic_path
from posetrack_core.tracking.detections import Detections

from ..utils.safe_load import UnreadableFileError, torch_load

__all__ = [
    "BoxLSTM",
    "LSTMCost",
    "collect_tracks",
    "train_box_lstm",
    "save_box_lstm",
    "load_box_lstm",
]

logger = logging.getLogger(__name__)
_FORMAT_VERSION = 1


def _encode(boxes: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Boxes (..., 4) relative to reference boxes (..., 4): centre offsets in units of the
    reference height, log width and height ratios. Scale- and position-free."""
    rw = (ref[..., 2] - ref[..., 0]).clamp(min=1.0)
    rh = (ref[..., 3] - ref[..., 1]).clamp(min=1.0)
    w = (boxes[..., 2] - boxes[..., 0]).clamp(min=1.0)
    h = (boxes[..., 3] - boxes[..., 1]).clamp(min=1.0)
    dx = ((boxes[..., 0] + boxes[..., 2]) - (ref[..., 0] + ref[..., 2])) / 2 / rh
    dy = ((boxes[..., 1] + boxes[..., 3]) - (ref[..., 1] + ref[..., 3])) / 2 / rh
    return torch.stack([dx, dy, torch.log(w / rw), torch.log(h / rh)], dim=-1)


class BoxLSTM(nn.Module):
    """LSTM over a track's last ``history`` boxes + an MLP on (LSTM state, candidate box) ->
    logit that the candidate is the track's next box. Boxes are encoded relative to the
    track's last box."""

    def __init__(self, history: int = 8, hidden: int = 64):
        super().__init__()
        self.history, self.hidden = history, hidden
        self.lstm = nn.LSTM(input_size=4, hidden_size=hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + 4, 64), nn.ReLU(), nn.Linear(64, 1))

    def encode_tracks(self, histories: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) boxes, oldest first -> (B, hidden)."""
        _, (h, _) = self.lstm(_encode(histories, histories[:, -1:, :]))
        return h[-1]

    def score_pairs(self, state: torch.Tensor, last: torch.Tensor, candidates: torch.Tensor):
        """Logits for every (track, candidate) pair: state (M, H), last boxes (M, 4),
        candidates (N, 4) -> (M, N)."""
        enc = _encode(candidates[None, :, :], last[:, None, :])  # M, N, 4
        x = torch.cat([state[:, None, :].expand(-1, len(candidates), -1), enc], dim=-1)
        return self.head(x).squeeze(-1)

    def tracking_cost(self) -> "LSTMCost":
        """The tracker's "lstm" cost with this model (`PoseTracker(cost="lstm", lstm=model)`)."""
        return LSTMCost(self)

    def forward(self, histories: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Paired logits: histories (B, L, 4), candidates (B, 4) -> (B,)."""
        state = self.encode_tracks(histories)
        enc = _encode(candidates, histories[:, -1, :])
        return self.head(torch.cat([state, enc], dim=-1)).squeeze(-1)


def _pad_histories(histories: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """Last ``length`` boxes of each history, left-padded by repeating the oldest box."""
    out = np.empty((len(histories), length, 4), np.float32)
    for i, h in enumerate(histories):
        h = np.asarray(h, np.float32)[-length:]
        out[i, length - len(h) :] = h
        out[i, : length - len(h)] = h[0]
    return torch.from_numpy(out)


class LSTMCost:
    """1 - P(continues the track) from a trained `BoxLSTM`; the previous side's detections must
    carry their track histories (the tracker fills them)."""

    def __init__(self, model: BoxLSTM):
        self.model = model.eval()

    @torch.no_grad()
    def __call__(self, prev: Detections, cur: Detections) -> np.ndarray:
        histories = prev.histories if prev.histories is not None else [b[None] for b in prev.boxes]
        h = _pad_histories(histories, self.model.history)
        state = self.model.encode_tracks(h)
        logits = self.model.score_pairs(
            state, h[:, -1], torch.as_tensor(cur.boxes, dtype=torch.float32)
        )
        return (1.0 - torch.sigmoid(logits)).numpy().astype(np.float64)


def collect_tracks(dataset_dicts: Sequence[dict]) -> List[np.ndarray]:
    """Ground-truth track segments: runs of consecutive labelled frames of one person, each an
    (L, 4) array of boxes (L >= 2), plus, per frame, the other people's boxes (for negatives).

    Returns a list of (boxes (L, 4), others: list of (n_i, 4) per frame) tuples.
    """
    from ..data.clips import group_by_video

    segments = []
    for video in group_by_video(dataset_dicts):
        frames = {d["frame_id"]: d for d in video if d.get("is_labeled", True)}
        tracks: Dict[int, Dict[int, list]] = {}
        for fid, d in frames.items():
            for a in d["annotations"]:
                if a.get("track_id") is not None:
                    tracks.setdefault(a["track_id"], {})[fid] = a["bbox"]
        for tid, boxes in tracks.items():
            fids = sorted(boxes)
            run = [fids[0]]
            for f in fids[1:] + [None]:
                if f is not None and f == run[-1] + 1:
                    run.append(f)
                    continue
                if len(run) >= 2:
                    others = [
                        np.array(
                            [
                                a["bbox"]
                                for a in frames[r]["annotations"]
                                if a.get("track_id") != tid
                            ],
                            np.float32,
                        ).reshape(-1, 4)
                        for r in run
                    ]
                    segments.append((np.array([boxes[r] for r in run], np.float32), others))
                run = [f]
    return segments


def _sample_batch(segments, rng: np.random.Generator, batch: int, history: int):
    """Half positives (the true next box, slightly jittered as a detector would), half
    negatives (another person in that frame, or the true box displaced)."""
    hist, cand, label = [], [], []
    for k in range(batch):
        boxes, others = segments[rng.integers(len(segments))]
        t = int(rng.integers(1, len(boxes)))
        h = boxes[max(0, t - history) : t]
        target = boxes[t].copy()
        wh = np.array([target[2] - target[0], target[3] - target[1]] * 2)
        positive = k % 2 == 0
        if positive:
            target = target + rng.normal(0, 0.03, 4) * wh
        elif len(others[t]) and rng.random() < 0.6:
            target = others[t][rng.integers(len(others[t]))] + rng.normal(0, 0.03, 4) * wh
        else:
            shift = rng.uniform(0.3, 1.5) * rng.choice([-1, 1], 2) * wh[:2]
            scale = np.exp(rng.normal(0, 0.2))
            c = (target[:2] + target[2:]) / 2 + shift
            half = (target[2:] - target[:2]) / 2 * scale
            target = np.concatenate([c - half, c + half])
        hist.append(h)
        cand.append(target)
        label.append(1.0 if positive else 0.0)
    return (
        _pad_histories(hist, history),
        torch.tensor(np.array(cand), dtype=torch.float32),
        torch.tensor(label),
    )


def train_box_lstm(
    dataset_dicts: Sequence[dict],
    steps: int = 600,
    batch: int = 256,
    lr: float = 3e-3,
    history: int = 8,
    hidden: int = 64,
    seed: int = 0,
    log_every: int = 50,
):
    """Train a `BoxLSTM` on a dataset's ground-truth tracks.

    Returns:
        (model, losses): the trained model and the loss of every ``log_every``-th step
        (mean over those steps).
    """
    segments = collect_tracks(dataset_dicts)
    if not segments:
        raise ValueError("no tracks of 2 or more consecutive labelled frames to train on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = BoxLSTM(history, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    losses, window = [], []
    # A model this small only loses to thread start-up costs: one thread trains it about 6x
    # faster than PyTorch's default on 2 busy cores (60 steps: 1 s against 6 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(steps):
            h, c, y = _sample_batch(segments, rng, batch, history)
            loss = loss_fn(model(h, c), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            window.append(loss.item())
            if (step + 1) % log_every == 0:
                losses.append(float(np.mean(window)))
                window = []
                logger.info(f"[train_box_lstm] step {step + 1}/{steps}: loss {losses[-1]:.4f}")
    finally:
        torch.set_num_threads(threads)
    return model.eval(), losses


def save_box_lstm(model: BoxLSTM, path: str) -> None:
    """Save weights and sizes (atomically)."""
    with atomic_path(path, ".pth") as tmp:
        torch.save(
            {
                "version": _FORMAT_VERSION,
                "history": model.history,
                "hidden": model.hidden,
                "state_dict": model.state_dict(),
            },
            tmp,
        )


def load_box_lstm(path: str) -> BoxLSTM:
    """Load a model saved by `save_box_lstm`; a clear error for anything else."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: LSTM tracker weights not found")
    try:
        data = torch_load(path)  # data only: a file that would run code raises UnsafeFileError
    except UnreadableFileError as e:
        raise UnreadableFileError(
            f"{path}: not a saved tracking LSTM ({str(e)[len(path) + 2:]})"
        ) from None
    if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
        raise UnreadableFileError(f"{path}: not a tracking LSTM saved by detectron2_tubes")
    model = BoxLSTM(data["history"], data["hidden"])
    model.load_state_dict(data["state_dict"])
    return model.eval()
