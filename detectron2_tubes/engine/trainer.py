"""`TubeTrainer`: Detectron2's DefaultTrainer for clips, with weight inflation and CPU workers."""

import contextlib
import functools
import logging
import os
import time
import weakref
from typing import Optional

import torch
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.engine import AMPTrainer, DefaultTrainer
from detectron2.engine import defaults as d2_defaults
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

from posetrack_core.io import atomic_path
from posetrack_core.settings import ConfigError, merge_config_file, merge_config_list

from ..checkpoint import InflatingCheckpointer
from ..config import add_tubes_config, uses_clips
from ..data import build_clip_test_loader, build_clip_train_loader
from ..evaluation import PoseTrackEvaluator
from ..utils.logs import keep_dumps_in_log_file

__all__ = [
    "TubeTrainer",
    "CPUAutocastTrainer",
    "build_amp_trainer",
    "setup_cfg",
    "setup_run",
    "missing_weights",
]

logger = logging.getLogger(__name__)


def setup_cfg(config_file: str = "", opts=None, freeze: bool = True):
    """Detectron2's config with the tube keys, merged from a file and KEY VALUE pairs.

    A CUDA device is replaced by the CPU, with a warning, when no GPU is present. A file or
    override that cannot be merged (missing or empty file, bad YAML, unknown key, wrong type, an
    odd number of overrides) raises a one-line `ConfigError`.
    """
    cfg = add_tubes_config(get_cfg())
    if config_file:
        merge_config_file(cfg, config_file)
    merge_config_list(cfg, opts or [])
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        # Once, however many configs a process reads and however many processes it starts.
        if not os.environ.get("DETECTRON2_TUBES_SAID_NO_CUDA"):
            logging.getLogger("detectron2_tubes").warning("No CUDA device here: running on the CPU")
            os.environ["DETECTRON2_TUBES_SAID_NO_CUDA"] = "1"
        cfg.MODEL.DEVICE = "cpu"
    if freeze:
        cfg.freeze()
    return cfg


def setup_run(cfg, args, run_dir: str) -> None:
    """Detectron2's `default_setup` (loggers, environment report, arguments, config, seed), with
    three differences no option of it gives, which is why it is written out here: the run's
    folder may differ from OUTPUT_DIR (an evaluation's own, OUTPUT_DIR/inference, so that it
    never replaces a training's config.yaml); config.yaml is written beside its target and
    renamed into place; the environment report, config and model dumps go to log.txt only."""
    from detectron2.utils import comm
    from detectron2.utils.collect_env import collect_env_info
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.logger import setup_logger

    rank = comm.get_rank()
    if comm.is_main_process():
        os.makedirs(run_dir, exist_ok=True)
    setup_logger(run_dir, distributed_rank=rank, name="fvcore")
    d2_logger = setup_logger(run_dir, distributed_rank=rank)
    setup_logger(run_dir, distributed_rank=rank, name="detectron2_tubes")
    keep_dumps_in_log_file("fvcore", "detectron2", "detectron2_tubes")
    d2_logger.info(f"Rank of current process: {rank}. World size: {comm.get_world_size()}")
    d2_logger.info("Environment info:\n" + collect_env_info())
    d2_logger.info(f"Command line arguments: {args}")
    if getattr(args, "config_file", ""):
        with open(args.config_file) as f:
            d2_logger.info(f"Contents of args.config_file={args.config_file}:\n{f.read()}")
    if comm.is_main_process():
        path = os.path.join(run_dir, "config.yaml")
        d2_logger.info(f"Running with full config:\n{cfg.dump()}")
        with atomic_path(path, ".yaml") as tmp, open(tmp, "w") as f:
            f.write(cfg.dump())
        d2_logger.info(f"Full config saved to {path}")
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED + rank)
    if not getattr(args, "eval_only", False):
        torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK


def missing_weights(cfg) -> Optional[str]:
    """A one-line error when MODEL.WEIGHTS names a local file that does not exist (URLs and
    Detectron2 catalog names are left to the checkpointer), else None."""
    path = cfg.MODEL.WEIGHTS
    if not path or "://" in path or os.path.isfile(os.path.expanduser(path)):
        return None
    return f"MODEL.WEIGHTS {path} does not exist"


@contextlib.contextmanager
def _ddp_without_device_ids():
    """Within the block, DefaultTrainer wraps the model in DDP with device_ids=None."""
    original = d2_defaults.create_ddp_model
    d2_defaults.create_ddp_model = functools.partial(original, device_ids=None)
    try:
        yield
    finally:
        d2_defaults.create_ddp_model = original


class CPUAutocastTrainer(AMPTrainer):
    """Detectron2's `AMPTrainer` on the CPU, which it refuses ("CUDA is required"): the same step
    under ``torch.autocast`` for the CPU in bfloat16, whose float32 exponent range needs no
    gradient scaler (the scaler is a disabled one, so checkpoints keep AMPTrainer's layout)."""

    def __init__(self, model, data_loader, optimizer, **kwargs):
        kwargs.setdefault("grad_scaler", torch.amp.GradScaler("cpu", enabled=False))
        super().__init__(model, data_loader, optimizer, precision=torch.bfloat16, **kwargs)

    def run_step(self):
        assert self.model.training, "[CPUAutocastTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        if self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        with torch.autocast(device_type="cpu", dtype=self.precision):
            loss_dict = self.model(data)
            losses = sum(loss_dict.values())
        if not self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        losses.backward()
        self.after_backward()
        self._write_metrics(loss_dict, data_time)
        self.optimizer.step()


def build_amp_trainer(cfg, model, data_loader, optimizer):
    """The mixed-precision training step SOLVER.AMP.PRECISION asks for: Detectron2's
    `AMPTrainer` on CUDA (float16 with its gradient scaler, or bfloat16 without one), the
    `CPUAutocastTrainer` (bfloat16) on the CPU."""
    precision = cfg.SOLVER.AMP.PRECISION
    if precision not in ("float16", "bfloat16"):
        raise ConfigError(f"SOLVER.AMP.PRECISION must be float16 or bfloat16, not {precision!r}")
    if not cfg.MODEL.DEVICE.startswith("cuda"):
        if precision != "bfloat16":
            raise ConfigError(
                "SOLVER.AMP.PRECISION float16 needs CUDA; on the CPU set SOLVER.AMP.PRECISION "
                "bfloat16"
            )
        return CPUAutocastTrainer(model, data_loader, optimizer)
    dtype = getattr(torch, precision)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    return AMPTrainer(model, data_loader, optimizer, grad_scaler=scaler, precision=dtype)


class TubeTrainer(DefaultTrainer):
    """DefaultTrainer that feeds clips to TubeRCNN (images to stock 2D models), loads weights
    through the `InflatingCheckpointer`, and runs multi-process training on CPUs too (Gloo,
    DDP without device ids)."""

    def __init__(self, cfg):
        # DefaultTrainer.__init__ as it is, with two changes. On CPUs, Detectron2's
        # create_ddp_model always gives DDP the local rank as a device id, which DDP rejects for
        # a CPU module, so multi-process CPU training (Gloo) needs device_ids=None. With
        # SOLVER.AMP.ENABLED, the step is `build_amp_trainer`'s (bfloat16 and the CPU too).
        amp = cfg.SOLVER.AMP.ENABLED
        if amp:  # DefaultTrainer would make an AMPTrainer that refuses to run on a CPU
            plain = cfg.clone()
            plain.defrost()
            plain.SOLVER.AMP.ENABLED = False
            plain.freeze()
        else:
            plain = cfg
        if cfg.MODEL.DEVICE == "cpu":
            with _ddp_without_device_ids():
                super().__init__(plain)
        else:
            super().__init__(plain)
        self.cfg = cfg
        if amp:
            t = self._trainer
            self._trainer = build_amp_trainer(cfg, t.model, t.data_loader, t.optimizer)

    def build_hooks(self):
        # DefaultTrainer.__init__ makes a DetectionCheckpointer just before it builds the hooks;
        # 2D weights reach a 3D model only through inflation, so the InflatingCheckpointer takes
        # its place here, before the PeriodicCheckpointer hook is given it.
        self.checkpointer = InflatingCheckpointer.from_config(
            self.cfg, self.checkpointer.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        return super().build_hooks()

    @classmethod
    def build_optimizer(cls, cfg, model):
        """Detectron2's SGD, or AdamW (``SOLVER.OPTIMIZER``) with the same parameter groups: it
        trains the from-scratch CPU models much faster than SGD in the same iterations."""
        if cfg.SOLVER.OPTIMIZER == "SGD":
            return super().build_optimizer(cfg, model)
        if cfg.SOLVER.OPTIMIZER != "ADAMW":
            raise ValueError(f"SOLVER.OPTIMIZER must be SGD or ADAMW, not {cfg.SOLVER.OPTIMIZER!r}")
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
            weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        optimizer = torch.optim.AdamW(
            params, lr=cfg.SOLVER.BASE_LR, weight_decay=cfg.SOLVER.WEIGHT_DECAY
        )
        return maybe_add_gradient_clipping(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg):
        if uses_clips(cfg):
            return build_clip_train_loader(cfg)
        return super().build_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        if uses_clips(cfg):
            return build_clip_test_loader(cfg, dataset_name)
        return super().build_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """`PoseTrackEvaluator` for datasets whose metadata says ``evaluator_type="posetrack"``."""
        if MetadataCatalog.get(dataset_name).get("evaluator_type") != "posetrack":
            raise NotImplementedError(
                f"no evaluator for {dataset_name} (not a PoseTrack-format dataset)"
            )
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return PoseTrackEvaluator.from_config(cfg, dataset_name, output_folder)
