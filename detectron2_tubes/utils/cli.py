"""What the ``python -m detectron2_tubes.<tool>`` commands share."""

import argparse

__all__ = ["tool_parser"]


def tool_parser(tool: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of ``python -m detectron2_tubes.<tool>``, whose help is the module's
    docstring ``doc`` as written (usage lines and all)."""
    return argparse.ArgumentParser(
        prog=f"python -m detectron2_tubes.{tool}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
