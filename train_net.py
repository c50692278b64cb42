#!/usr/bin/env python
"""Train or evaluate Tube R-CNN, as Detectron2's tools/train_net.py: see tubes_cli/train_net.py
(``python train_net.py --help``)."""

import sys

from tubes_cli.boundary import run_command
from tubes_cli.train_net import PROG, cli

if __name__ == "__main__":
    sys.exit(run_command(PROG, cli))
