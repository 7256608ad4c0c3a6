"""Reading and writing parity cases: what diffusers made from explicit initial latents.

A case is a folder ``tests/fixtures/parity/<package>/<case>/`` with

* ``case.json``: the request (prompt, negative_prompt, width, height, frames, steps, guidance),
  ``scheduler`` (a kino scheduler object replacing the package's, or null), ``noise_shape``
  ``[1, C, f, h, w]``, ``frames_shape`` ``[1, 3, F, H, W]``, and provenance (versions, command);
* ``noise.f32``: the initial latents, little-endian float32, ``[1, C, f, h, w]`` row-major
  (the unpacked 5-D layout kino uses, for every family);
* ``frames.f32``: diffusers' output frames in [-1, 1], little-endian float32, ``[1, 3, F, H, W]``.

The Rust parity tests (tests/parity.rs) feed ``noise.f32`` to the engine and compare frames.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings

import numpy as np


def write_case(folder: str, meta: dict, noise: np.ndarray, frames: np.ndarray) -> None:
    os.makedirs(folder, exist_ok=True)
    noise = np.ascontiguousarray(noise, dtype="<f4")
    frames = np.ascontiguousarray(frames, dtype="<f4")
    assert noise.ndim == 5 and frames.ndim == 5 and frames.shape[1] == 3
    meta = dict(meta, noise_shape=list(noise.shape), frames_shape=list(frames.shape))
    noise.tofile(os.path.join(folder, "noise.f32"))
    frames.tofile(os.path.join(folder, "frames.f32"))
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


def read_case(folder: str) -> tuple[dict, np.ndarray, np.ndarray]:
    with open(os.path.join(folder, "case.json")) as f:
        meta = json.load(f)
    noise = np.fromfile(os.path.join(folder, "noise.f32"), dtype="<f4").reshape(meta["noise_shape"])
    frames = np.fromfile(os.path.join(folder, "frames.f32"), dtype="<f4").reshape(meta["frames_shape"])
    return meta, noise, frames


def frames_from_np_output(video: np.ndarray) -> np.ndarray:
    """A diffusers ``output_type="np"`` video ``[B, F, H, W, 3]`` in [0, 1] -> ``[B, 3, F, H, W]`` in [-1, 1]."""
    return np.transpose(video, (0, 4, 1, 2, 3)).astype(np.float32) * 2.0 - 1.0


def generator_setup(argv, description: str, family, package: str, cases: str):
    """The reference generators' shared command line (``--package``, ``--cases``,
    ``--skip-export``): exports the family's tiny package unless told not to, and returns
    (args, tiny components, manifest, tokenizer path)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--package", default=package)
    ap.add_argument("--cases", default=cases)
    ap.add_argument("--skip-export", action="store_true", help="keep the package, rewrite only the cases")
    a = ap.parse_args(argv)
    comp = family.tiny_components()
    if not a.skip_export:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            family.export_package(comp, a.package, family.TINY_MAX_LENGTH)
        print(f"wrote {a.package}")
    with open(os.path.join(a.package, "kino.json")) as f:
        manifest = json.load(f)
    return a, comp, manifest, os.path.join(a.package, "tokenizer.json")
