"""Console logging for runs of Detectron2's trainer: its long dumps kept in log.txt only."""

import logging
import sys

__all__ = ["keep_dumps_in_log_file", "show_training_log"]


# Detectron2's dumps, and its trainer's traceback of an exception that the error boundary
# reports in one line (or, for a bug, prints again itself).
_DUMPS = (
    "Environment info:",
    "Contents of args.config_file",
    "Running with full config:",
    "Model:\n",
    "Exception during training:",
)


def _not_a_dump(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_DUMPS)


def keep_dumps_in_log_file(*logger_names: str) -> None:
    """Detectron2 logs its environment report, the config file, the full config and the model
    (about 600 lines), and its console shows DEBUG lines; keep those in log.txt, where Detectron2
    users look for them, and off the console handlers of ``logger_names``."""
    for name in logger_names or ("detectron2", "fvcore", "d2"):
        for handler in logging.getLogger(name).handlers:
            # Detectron2's log.txt handler is a StreamHandler too, on a file stream.
            on_console = getattr(handler, "stream", None) in (sys.stdout, sys.stderr)
            if on_console and _not_a_dump not in handler.filters:
                handler.addFilter(_not_a_dump)
                # Detectron2's console handlers show DEBUG (per-tensor inflation lines, ...).
                handler.setLevel(max(handler.level, logging.INFO))


def _not_a_model_dump(record: logging.LogRecord) -> bool:
    """Console filter: Detectron2's trainer logs the whole model; keep that in log.txt only."""
    return not str(record.msg).startswith("Model:\n")


def show_training_log() -> None:
    """Detectron2's and this package's logs on the console (stdout), as Detectron2's commands
    show them, without the trainer's dump of the whole model."""
    from detectron2.utils.logger import setup_logger

    setup_logger()  # cached: once per process
    setup_logger(name="detectron2_tubes")
    for name in ("detectron2", "detectron2_tubes"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and _not_a_model_dump not in handler.filters:
                handler.addFilter(_not_a_model_dump)
