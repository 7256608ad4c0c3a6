"""Where the demo tools find the `kino` binary and the shipped package by default: the
checkout's, wherever the tools are run from (the repository root or exporter/)."""
from __future__ import annotations

import argparse
import os

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
KINO = os.path.join(REPO, "target", "release", "kino")
PACKAGE = os.path.join(REPO, "models", "kino-shapes")


def kino_binary(path: str) -> str:
    """An argparse type: an executable file, else a one-line error saying how to get one."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError(
            f"{path}: no kino binary there; build it with `cargo build --release` in {REPO}, or pass its path")
    return path


def package_dir(path: str) -> str:
    """An argparse type: a folder holding a kino.json."""
    if not os.path.isfile(os.path.join(path, "kino.json")):
        raise argparse.ArgumentTypeError(f"{path}: not a model package folder (no kino.json there)")
    return path
