from .trainer import TubeTrainer, setup_cfg

__all__ = ["TubeTrainer", "setup_cfg"]
