"""Options for the paper's memory wall and a GPU-ready step: activation checkpointing changes no
loss and no gradient, longer clips (T = 8, frame stride 2) train through the real data path, and
the model creates no tensor without a device (a bug a CPU-only suite would otherwise miss)."""

import os
import sys

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage
from test_modeling import _clip, _tiny

from detectron2_tubes.data import build_clip_train_loader
from detectron2_tubes.engine import setup_cfg

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CHECKPOINT_KEYS = [
    "MODEL.RESNETS.ACTIVATION_CHECKPOINT",
    "MODEL.ROI_BOX_HEAD.ACTIVATION_CHECKPOINT",
    "MODEL.ROI_KEYPOINT_HEAD.ACTIVATION_CHECKPOINT",
]


def _losses_and_grads(cfg, state):
    model = build_model(cfg)
    model.load_state_dict(state)
    model.train()
    torch.manual_seed(1)  # the same RPN and RoI sampling in both runs
    with EventStorage():
        losses = model([_clip(3), _clip(3, people=False)])
        sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


@pytest.mark.parametrize(
    "variant",
    [
        [],  # the quick config: GroupNorm, nothing frozen
        ["MODEL.RESNETS.NORM", "FrozenBN", "MODEL.BACKBONE.FREEZE_AT", 2],  # the paper's
    ],
    ids=["groupnorm", "frozen_bn_frozen_stages"],
)
def test_activation_checkpointing_keeps_losses_and_gradients(variant):
    torch.manual_seed(0)
    plain = _tiny(3, *variant)
    state = build_model(plain).state_dict()
    checkpointed = _tiny(3, *variant, *[x for key in CHECKPOINT_KEYS for x in (key, True)])
    model = build_model(checkpointed)
    assert model.backbone.activation_checkpoint
    assert model.roi_heads.box_head.activation_checkpoint
    assert model.roi_heads.keypoint_head.activation_checkpoint
    losses_a, grads_a = _losses_and_grads(plain, state)
    losses_b, grads_b = _losses_and_grads(checkpointed, state)
    assert losses_a.keys() == losses_b.keys()
    for k in losses_a:
        assert torch.allclose(losses_a[k], losses_b[k], rtol=1e-5, atol=1e-6), k
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 20
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6), name
    if variant:  # frozen stages get no gradient, with or without checkpointing
        assert not any(n.startswith(("backbone.stem", "backbone.res2")) for n in grads_b)


def test_activation_checkpointing_recomputes_in_backward():
    """It really is on: the checkpointed keypoint head runs its convolutions on each of its
    HEAD_CHUNKS slices of the RoIs, once in the forward pass and once more in the backward."""
    from detectron2_tubes.layers import HEAD_CHUNKS

    torch.manual_seed(0)
    calls = []
    for on in (False, True):
        model = build_model(_tiny(3, "MODEL.ROI_KEYPOINT_HEAD.ACTIVATION_CHECKPOINT", on))
        count = [0]
        model.roi_heads.keypoint_head.conv_fcn1.register_forward_hook(
            lambda *a, c=count: c.__setitem__(0, c[0] + 1)
        )
        torch.manual_seed(1)
        with EventStorage():
            sum(model([_clip(3)]).values()).backward()
        calls.append(count[0])
    assert calls == [1, 2 * HEAD_CHUNKS]


def test_one_training_iteration_at_t8_with_frame_stride_2():
    """The quick config changed only in the clip keys: the loader builds 8-frame clips at
    stride 2 from the synthetic videos, and the model trains on them."""
    cfg = setup_cfg(
        os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml"),
        ["INPUT.CLIP.NUM_FRAMES", "8", "INPUT.CLIP.FRAME_STRIDE", "2", "SOLVER.IMS_PER_BATCH", "1",
         "INPUT.MIN_SIZE_TRAIN", "(128,)"],  # fmt: skip
    )
    batch = next(iter(build_clip_train_loader(cfg)))
    assert batch[0]["image"].shape[1] == 8
    assert batch[0]["instances"].gt_tubes.tensor.shape[1] == 8
    torch.manual_seed(0)
    model = build_model(cfg)
    with EventStorage():
        losses = model(batch)
        assert all(torch.isfinite(v) for v in losses.values())
        sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": batch[0]["image"], "height": 120, "width": 160}])
    assert out["instances"].pred_tubes.tensor.shape[1] == 8 and len(out["frames"]) == 8


class _FactoriesWithoutDevice(torch.overrides.TorchFunctionMode):
    """Records tensor factories called without a device from the watched files: on a GPU they
    would make CPU tensors (a device bug, or a host round trip) that a CPU-only run never sees."""

    FACTORIES = {
        torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.rand, torch.randn,
        torch.randint, torch.randperm, torch.linspace, torch.eye, torch.tensor, torch.as_tensor,
    }  # fmt: skip

    def __init__(self, watched):
        super().__init__()
        self.watched, self.calls = watched, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.FACTORIES and kwargs.get("device") is None:
            from_tensor = func is torch.as_tensor and args and isinstance(args[0], torch.Tensor)
            caller = sys._getframe(1)
            if not from_tensor and any(w in caller.f_code.co_filename for w in self.watched):
                self.calls.append(f"{caller.f_code.co_filename}:{caller.f_lineno} {func.__name__}")
        return func(*args, **kwargs)


def test_the_model_makes_no_tensor_without_a_device():
    """One training step and one inference of Tube R-CNN (tube RPN, tube NMS, RoI heads,
    keypoint head) under a mode that records factories called without a device in this
    package's code: none."""
    import detectron2_tubes

    watch = (os.path.dirname(os.path.abspath(detectron2_tubes.__file__)) + os.sep,)  # the package
    with _FactoriesWithoutDevice((os.path.basename(__file__),)) as check:  # the check works
        torch.zeros(3)
    assert len(check.calls) == 1 and "zeros" in check.calls[0]
    torch.manual_seed(0)
    model = build_model(_tiny(3))
    with _FactoriesWithoutDevice(watch) as mode, EventStorage():
        sum(model([_clip(3), _clip(3, people=False)]).values()).backward()
    model.eval()
    with _FactoriesWithoutDevice(watch) as inference, torch.no_grad():
        (out,) = model([{"image": _clip(3)["image"], "height": 96, "width": 128}])
    assert mode.calls == [] and inference.calls == []
    assert len(out["instances"]) > 0  # the inference path ran through NMS and the heads


def _steps(trainer_class, cfg, state, batches, **kwargs):
    model = build_model(cfg)
    model.load_state_dict(state)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    trainer = trainer_class(model, batches, optimizer, **kwargs)
    losses = []
    with EventStorage() as storage:
        trainer.storage = storage
        for it in range(len(batches)):
            trainer.iter = storage.iter = it
            torch.manual_seed(it)  # the same RPN and RoI sampling in both runs
            trainer.run_step()
            losses.append(storage.history("total_loss").latest())
    return losses


def test_bfloat16_autocast_on_the_cpu_follows_float32():
    """Two SGD steps of one clip each (the second after an update): the bfloat16 step
    (Detectron2's AMPTrainer made to run on the CPU) follows float32's total loss within 3%, and
    its heads hand float32 to the losses and the tube NMS. (Two, not more: without AVX-512,
    PyTorch's CPU kernels for bfloat16 3D convolutions are about 20 times slower than float32.)"""
    from detectron2.engine import SimpleTrainer

    from detectron2_tubes.engine.trainer import CPUAutocastTrainer

    torch.manual_seed(0)
    cfg = _tiny(3)
    state = build_model(cfg).state_dict()
    batches = [[_clip(3)] for _ in range(2)]
    fp32 = _steps(SimpleTrainer, cfg, state, batches)
    bf16 = _steps(CPUAutocastTrainer, cfg, state, batches)
    for a, b in zip(fp32, bf16):
        assert abs(a - b) <= 0.03 * abs(a), (fp32, bf16)
    assert fp32 != bf16  # it really ran in bfloat16
    model = build_model(cfg).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        (out,) = model([{"image": _clip(3)["image"], "height": 96, "width": 128}])
    inst = out["instances"]
    assert inst.scores.dtype == torch.float32 and inst.pred_tubes.tensor.dtype == torch.float32


def test_amp_config_picks_the_step(tmp_path):
    from detectron2_tubes.engine import TubeTrainer
    from posetrack_core.settings import ConfigError
    from detectron2_tubes.engine.trainer import CPUAutocastTrainer

    base = ["SOLVER.AMP.ENABLED", "True", "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", "()",
            "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[32,32]"]  # fmt: skip
    quick = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")
    trainer = TubeTrainer(setup_cfg(quick, base + ["SOLVER.AMP.PRECISION", "bfloat16"]))
    assert isinstance(trainer._trainer, CPUAutocastTrainer) and trainer.cfg.SOLVER.AMP.ENABLED
    with pytest.raises(ConfigError, match="float16 needs CUDA"):
        TubeTrainer(setup_cfg(quick, base))
