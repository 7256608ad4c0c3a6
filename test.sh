#!/usr/bin/env bash
# Set up (as run.sh does) and run every test: Rust unit and integration tests (real ONNX Runtime
# sessions, real ffmpeg) and the exporter's pytest suite (PyTorch vs ONNX Runtime parity).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KINO_SETUP_EXPORTER=1 source "$ROOT/scripts/setup.sh"
cd "$ROOT"
# Lints first: they take seconds and say exactly what to fix.
RUFF_VERSION=0.14.0
"$KINO_PYTHON" -m ruff --version 2>/dev/null | grep -q "$RUFF_VERSION" || "$KINO_PYTHON" -m pip install -q "ruff==$RUFF_VERSION"
"$KINO_PYTHON" -m ruff check exporter
cargo fmt --all --check
cargo clippy --release --quiet --workspace --all-targets -- -D warnings
cargo build --release --quiet --workspace
cargo test --release --workspace
# pytest exits 5 when it collects nothing: that must fail here, not pass silently.
"$KINO_PYTHON" -m pytest exporter/tests -q -p no:cacheprovider
