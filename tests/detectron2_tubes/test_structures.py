import pytest
import torch
from detectron2.structures import Boxes, Instances

from detectron2_tubes.structures import Tubes, pairwise_frame_iou, pairwise_tube_iou


def _tubes():
    # 2 tubes x 3 frames; the second is absent (empty box) in frame 2.
    return Tubes(
        torch.tensor(
            [
                [[0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 12, 12]],
                [[5, 5, 15, 25], [6, 5, 16, 25], [0, 0, 0, 0]],
            ],
            dtype=torch.float32,
        )
    )


def test_shapes_area_and_views():
    t = _tubes()
    assert len(t) == 2 and t.num_frames == 3
    assert torch.equal(t.area(), torch.tensor([[100.0, 100.0, 100.0], [200.0, 200.0, 0.0]]))
    assert torch.equal(t.frame_nonempty(), torch.tensor([[True] * 3, [True, True, False]]))
    assert torch.equal(t.nonempty(), torch.tensor([True, False]))
    f1 = t.frame(1)
    assert isinstance(f1, Boxes) and torch.equal(
        f1.tensor, torch.tensor([[1.0, 1, 11, 11], [6, 5, 16, 25]])
    )
    assert [b.tensor.shape for b in t.frames()] == [(2, 4)] * 3
    flat = t.flatten()
    assert flat.tensor.shape == (6, 4) and torch.equal(
        flat.tensor[4], torch.tensor([6.0, 5, 16, 25])
    )


def test_indexing_cat_clip_scale():
    t = _tubes()
    assert torch.equal(t[1].tensor, t.tensor[1:2])
    assert torch.equal(t[torch.tensor([False, True])].tensor, t.tensor[1:])
    assert torch.equal(t[torch.tensor([1, 0])].tensor, t.tensor.flip(0))
    c = Tubes.cat([t, t[0]])
    assert c.tensor.shape == (3, 3, 4)
    t2 = t.clone()
    t2.clip((20, 12))  # (height, width)
    assert torch.equal(t2.tensor[1, 0], torch.tensor([5.0, 5, 12, 20]))
    t2.scale(2.0, 0.5)
    assert torch.equal(t2.tensor[0, 2], torch.tensor([4.0, 1, 24, 6]))
    # Tubes live in Instances like Boxes do.
    inst = Instances((20, 20), gt_tubes=t)
    both = Instances.cat([inst, inst])
    assert both.gt_tubes.tensor.shape == (4, 3, 4)
    assert len(inst[inst.gt_tubes.nonempty()]) == 1
    with pytest.raises(ValueError, match="N, T, 4"):
        Tubes(torch.zeros(3, 4))


def test_pairwise_tube_iou_exact_values_and_empty_frames():
    a = _tubes()
    b = Tubes(torch.tensor([[[0, 0, 10, 5], [1, 1, 11, 11], [0, 0, 0, 0]]], dtype=torch.float32))
    per_frame = pairwise_frame_iou(a, b)
    assert per_frame.shape == (2, 1, 3)
    # Tube 0 vs b: frame 0 IoU 0.5, frame 1 IoU 1, frame 2: only b is empty -> counts as 0.
    # Tube 1 vs b: frame 0: [5,5,15,25]∩[0,0,10,5] = 0; frame 1: [6,5,16,25]∩[1,1,11,11] =
    # 5x6=30 -> 30/(200+100-30); frame 2: both empty -> left out of the mean.
    iou = pairwise_tube_iou(a, b)
    assert iou[0, 0].item() == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert iou[1, 0].item() == pytest.approx((0.0 + 30 / 270) / 2)
    # Identical tubes give 1, whatever frames are empty; all-empty pairs give 0.
    assert torch.allclose(pairwise_tube_iou(a, a).diagonal(), torch.ones(2))
    empty = Tubes(torch.zeros(1, 3, 4))
    assert pairwise_tube_iou(empty, empty).item() == 0.0
    assert pairwise_tube_iou(a, Tubes(torch.zeros(0, 3, 4))).shape == (2, 0)
    with pytest.raises(ValueError, match="frames"):
        pairwise_tube_iou(a, Tubes(torch.zeros(1, 2, 4)))


def test_tube_iou_equals_box_iou_for_one_frame():
    from detectron2.structures import pairwise_iou

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(5, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(5, 2, generator=g) * 30], dim=1)
    t = Tubes(boxes[:, None])
    assert torch.allclose(pairwise_tube_iou(t, t), pairwise_iou(Boxes(boxes), Boxes(boxes)))
