"""`Tubes`: one box per frame for each of N objects over a clip of T frames."""

from typing import Iterator, List, Tuple

import torch
from detectron2.structures import Boxes, pairwise_iou


class Tubes:
    """N box tubes over T frames, as an (N, T, 4) float tensor of XYXY absolute boxes.

    A frame where the object is absent holds an empty box (zero width or height, by convention
    all zeros). Like Detectron2's `Boxes`, a `Tubes` can be indexed, concatenated and stored in
    `Instances`.

    Attributes:
        tensor: float tensor of shape (N, T, 4).
    """

    def __init__(self, tensor: torch.Tensor):
        if not isinstance(tensor, torch.Tensor):
            tensor = torch.as_tensor(tensor, dtype=torch.float32)
        else:
            tensor = tensor.to(torch.float32)
        if tensor.dim() != 3 and tensor.numel() == 0:
            tensor = tensor.reshape((0, 1, 4))
        if tensor.dim() != 3 or (not torch.jit.is_tracing() and tensor.shape[-1] != 4):
            raise ValueError(f"Tubes need an (N, T, 4) tensor, got shape {tuple(tensor.shape)}")
        self.tensor = tensor

    @property
    def num_frames(self) -> int:
        """T, the number of frames."""
        return self.tensor.shape[1]

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def clone(self) -> "Tubes":
        return Tubes(self.tensor.clone())

    def to(self, *args, **kwargs) -> "Tubes":
        return Tubes(self.tensor.to(*args, **kwargs))

    def area(self) -> torch.Tensor:
        """Per-frame box areas, shape (N, T); 0 for empty boxes."""
        t = self.tensor
        return (t[..., 2] - t[..., 0]).clamp(min=0) * (t[..., 3] - t[..., 1]).clamp(min=0)

    def clip(self, box_size: Tuple[int, int]) -> None:
        """Clip every box (in place) to an image of size (height, width)."""
        if not torch.jit.is_tracing():  # (an exported model's inputs are checked outside)
            assert torch.isfinite(self.tensor).all(), "Tube tensor contains infinite or NaN!"
        h, w = box_size
        x1 = self.tensor[..., 0].clamp(min=0, max=w)
        y1 = self.tensor[..., 1].clamp(min=0, max=h)
        x2 = self.tensor[..., 2].clamp(min=0, max=w)
        y2 = self.tensor[..., 3].clamp(min=0, max=h)
        self.tensor = torch.stack((x1, y1, x2, y2), dim=-1)

    def frame_nonempty(self, threshold: float = 0.0) -> torch.Tensor:
        """(N, T) bool: the frame's box is wider and taller than ``threshold``."""
        t = self.tensor
        return ((t[..., 2] - t[..., 0]) > threshold) & ((t[..., 3] - t[..., 1]) > threshold)

    def nonempty(self, threshold: float = 0.0) -> torch.Tensor:
        """(N,) bool: the tube is non-empty in EVERY frame (what predicted tubes must be).

        For ground truth, where a person may be absent from some frames, use
        ``frame_nonempty(threshold).any(dim=1)``.
        """
        return self.frame_nonempty(threshold).all(dim=1)

    def frame(self, t: int) -> Boxes:
        """The N boxes of frame ``t`` as a Detectron2 `Boxes` (a view, not a copy)."""
        return Boxes(self.tensor[:, t])

    def frames(self) -> List[Boxes]:
        """The per-frame view: T `Boxes` of N boxes each."""
        return [self.frame(t) for t in range(self.num_frames)]

    def flatten(self) -> Boxes:
        """All boxes as one `Boxes` of N*T boxes, tube-major (tube i, frame t at i*T + t)."""
        return Boxes(self.tensor.reshape(-1, 4))

    def scale(self, scale_x: float, scale_y: float) -> None:
        """Scale every box coordinate in place."""
        self.tensor[..., 0::2] *= scale_x
        self.tensor[..., 1::2] *= scale_y

    def __getitem__(self, item) -> "Tubes":
        """Select tubes by an int, a slice, a bool mask or an index tensor; keeps all T frames."""
        if isinstance(item, int):
            return Tubes(self.tensor[item].unsqueeze(0))
        selected = self.tensor[item]
        assert selected.dim() == 3, f"Indexing Tubes with {item} failed to return tubes"
        return Tubes(selected)

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield each tube as a (T, 4) tensor."""
        yield from self.tensor

    def __repr__(self) -> str:
        return f"Tubes(N={len(self)}, T={self.num_frames}, tensor={self.tensor})"

    @classmethod
    def cat(cls, tubes_list: List["Tubes"]) -> "Tubes":
        """Concatenate tubes with the same T along N."""
        assert isinstance(tubes_list, (list, tuple))
        if len(tubes_list) == 0:
            return cls(torch.empty(0, 1, 4))
        assert all(isinstance(t, Tubes) for t in tubes_list)
        return cls(torch.cat([t.tensor for t in tubes_list], dim=0))


def pairwise_frame_iou(tubes1: Tubes, tubes2: Tubes) -> torch.Tensor:
    """Per-frame IoU of every pair of tubes, shape (N, M, T), by Detectron2's `pairwise_iou`.

    An empty box has IoU 0 with everything, including another empty box.
    """
    if tubes1.num_frames != tubes2.num_frames:
        raise ValueError(f"Tubes of {tubes1.num_frames} and {tubes2.num_frames} frames differ")
    n, m, t = len(tubes1), len(tubes2), tubes1.num_frames
    if n == 0 or m == 0:
        return tubes1.tensor.new_zeros((n, m, t))
    return torch.stack([pairwise_iou(tubes1.frame(i), tubes2.frame(i)) for i in range(t)], dim=2)


def pairwise_tube_iou(tubes1: Tubes, tubes2: Tubes) -> torch.Tensor:
    """Mean-over-time IoU of every pair of tubes, shape (N, M).

    Empty frames are handled as follows, for each pair:

    * a frame where BOTH boxes are empty (neither tube has the object there) is left out of the
      mean: the tubes agree that nothing is there;
    * a frame where exactly ONE box is empty counts as IoU 0 (one tube claims an object the
      other does not have);
    * a pair with no frame where either box is non-empty has IoU 0.

    With no empty boxes this is the plain mean of the T per-frame IoUs (the paper's tube IoU).
    """
    ious = pairwise_frame_iou(tubes1, tubes2)
    ne1 = tubes1.frame_nonempty()[:, None, :]
    ne2 = tubes2.frame_nonempty()[None, :, :]
    counted = (ne1 | ne2).to(ious.dtype)
    return (ious * counted).sum(dim=2) / counted.sum(dim=2).clamp(min=1)
