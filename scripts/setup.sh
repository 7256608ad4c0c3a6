#!/usr/bin/env bash
# One-time (idempotent) set-up on Debian 12, sourced by run.sh and test.sh:
# - system packages (FFmpeg's libraries and headers, clang for the bindings, melt and GStreamer for the tests);
# - ONNX Runtime: the pinned `onnxruntime` wheel alone (no Python dependencies) unpacked into a
#   pip-less venv under ~/.cache/kino/ort-<version>, whose libonnxruntime.so kino loads at run time;
# - with KINO_SETUP_EXPORTER=1 (test.sh), the exporter's full Python environment (PyTorch,
#   diffusers, ...) too, keyed by the hash of exporter/requirements.txt.
# Sourced into an interactive shell (`KINO_SETUP_EXPORTER=1 source scripts/setup.sh`, as the docs
# say), it sets ORT_DYLIB_PATH (and KINO_VENV, KINO_PYTHON) there and leaves the shell's options
# as they were: the work runs in a child shell, whose errexit cannot close the user's terminal.
if [[ "${BASH_SOURCE[0]}" != "$0" && $- == *i* ]]; then
  if _kino_env="$(KINO_SETUP_PRINT_ENV=1 bash "${BASH_SOURCE[0]}")"; then
    eval "$_kino_env"
    unset _kino_env
    return 0
  fi
  unset _kino_env
  echo "kino setup: failed (see above); nothing was set in this shell" >&2
  return 1
fi
set -euo pipefail
if [ "${KINO_SETUP_PRINT_ENV:-0}" = 1 ]; then
  # Only the variables go to stdout (the caller evals them); everything else to stderr.
  exec 3>&1 1>&2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

APT_PACKAGES=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
  libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev frei0r-plugins-dev melt python3-venv
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-bad python3-gi gir1.2-gstreamer-1.0)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kino setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ONNX Runtime for generation: the version the exporter's environment pins, nothing else.
ORT_VERSION="$(sed -n 's/^onnxruntime==//p' "$ROOT/exporter/requirements.txt")"
ORT_DIR="$HOME/.cache/kino/ort-$ORT_VERSION"
ort_lib() { ls "$ORT_DIR"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* 2>/dev/null | head -n1; }
if [ ! -f "$ORT_DIR/.complete" ] || [ -z "$(ort_lib)" ]; then
  echo "kino setup: installing ONNX Runtime $ORT_VERSION into $ORT_DIR" >&2
  rm -rf "$ORT_DIR"
  # A venv without pip (half a second, where one with pip takes ten) keeps the layout kino
  # searches in ~/.cache/kino; the wheel alone is unpacked into it, since its shared library
  # needs none of its Python dependencies: no resolver, no bytecode. pip comes from the system
  # (`python3 -m pip`, or the wheel python3-venv ships on Debian), else from ensurepip.
  python3 -m venv --without-pip "$ORT_DIR"
  PIP=(python3 -m pip)
  if ! python3 -m pip --version >/dev/null 2>&1; then
    PIP_WHEEL="$(ls /usr/share/python-wheels/pip-*.whl 2>/dev/null | head -n1)"
    if [ -n "$PIP_WHEEL" ]; then
      PIP=(python3 "$PIP_WHEEL/pip")
    else
      "$ORT_DIR/bin/python" -m ensurepip -q
      PIP=("$ORT_DIR/bin/python" -m pip)
    fi
  fi
  SITE="$("$ORT_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  "${PIP[@]}" install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --only-binary=:all: --target "$SITE" "onnxruntime==$ORT_VERSION"
  touch "$ORT_DIR/.complete"
fi
ORT_LIB="$(ort_lib)"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ORT_LIB}"

if [ "${KINO_SETUP_EXPORTER:-0}" = 1 ]; then
  # The venv is keyed by the hash of the pinned requirements so CI and later runs reuse it.
  REQ="$ROOT/exporter/requirements.txt"
  KEY="$(sha256sum "$REQ" | cut -c1-12)"
  export KINO_VENV="${KINO_VENV:-$HOME/.cache/kino/venv-$KEY}"
  if [ ! -f "$KINO_VENV/.complete" ]; then
    echo "kino setup: building the exporter's Python venv $KINO_VENV (torch is a ~2.8 GB download)" >&2
    rm -rf "$KINO_VENV"
    python3 -m venv "$KINO_VENV"
    "$KINO_VENV/bin/python" -m pip install -q --upgrade pip
    "$KINO_VENV/bin/python" -m pip install -q -r "$REQ"
    touch "$KINO_VENV/.complete"
  fi
  export KINO_PYTHON="$KINO_VENV/bin/python"
fi

if ! command -v cargo >/dev/null; then
  echo "kino setup: cargo not found; install Rust from https://rustup.rs and re-run" >&2
  exit 1
fi
if [ "${KINO_SETUP_PRINT_ENV:-0}" = 1 ]; then
  for v in ORT_DYLIB_PATH KINO_VENV KINO_PYTHON; do
    if [ -n "${!v:-}" ]; then printf 'export %s=%q\n' "$v" "${!v}" >&3; fi
  done
fi
