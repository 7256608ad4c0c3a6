#!/usr/bin/env bash
# Set up (Debian 12: apt packages, the Python venv with ONNX Runtime, the Rust build) and run kino.
#   ./run.sh generate "a red circle moving left" -o clip.mp4
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ROOT/scripts/setup.sh"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin kino
exec "$ROOT/target/release/kino" "$@"
