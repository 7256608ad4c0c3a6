"""Fixtures shared by the exporter's tests."""
from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def kino_bin() -> str:
    """The kino binary test.sh builds (KINO_BIN, else the cargo target folder's release build)."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    path = os.environ.get("KINO_BIN") or os.path.join(target, "release", "kino")
    assert os.path.isfile(path), f"{path}: build kino first (cargo build --release) or set KINO_BIN"
    return path
