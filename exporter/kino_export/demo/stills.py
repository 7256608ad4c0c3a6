"""Animate stills from outside the world with the real ``kino`` binary and score what it makes.

A user's still is not one of the world's renders: its object may be smaller or larger than the
world's (radius 12) and its background a little off. For every second scene of the world (60)
this renders frame 0 with another look (``world.random_looks``: radius 8-17, the background
shifted by up to 0.05 per channel, or a fixed ``--radius``), runs ``kino animate`` on it with the
scene's prompt, and scores each 16-frame run of the result on its own (colour / shape / direction
/ frames with stray pixels, as ``demo eval``). It also reports how the object's size holds: its
median area in each run (the still itself left out) over the still's. 1.0 keeps the still's size;
a model that draws its own size instead grows small objects and shrinks large ones (``size_off``,
the mean of |ln size| over the clips, counts both; a clip whose object vanished counts as ln 1000).

    python -m kino_export demo stills
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

from . import paths, world
from .evaluate import largest_blob, score_clip, score_line, summarise, write_report

SEGMENT = 16


def still_looks(n: int, seed: int, radius: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Radii [n], backgrounds [n,3] (0..1) and start positions [n,2] of the stills."""
    gen = torch.Generator().manual_seed(seed)
    radii, background = world.random_looks(gen, n)
    if radius is not None:
        radii = torch.full((n,), float(radius))
    start = torch.rand((n, 2), generator=gen) * world.SIZE
    return radii, background, start


def render_still(scene: world.Scene, radius: torch.Tensor, background: torch.Tensor, start: torch.Tensor) -> np.ndarray:
    """Frame 0 of ``scene`` with another look, as 8-bit RGB [H,W,3]."""
    idx = lambda names, v: torch.tensor([names.index(v)])  # noqa: E731
    x = world.render(idx(world.COLOUR_NAMES, scene.colour), idx(world.SHAPES, scene.shape),
                     idx(world.MOTION_NAMES, scene.motion), start[None], frames=1, radius=radius[None],
                     background=background[None])
    return np.round((x[0, :, 0].permute(1, 2, 0).numpy() + 1) / 2 * 255).clip(0, 255).astype(np.uint8)


def object_areas(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """[F,H,W,3] in [0,1] -> [F]: pixels of the largest blob more than 0.3 from ``background``."""
    return largest_blob(np.abs(frames - background).max(axis=-1) > 0.3).sum(axis=(1, 2))


def size_ratios(areas: np.ndarray, segment: int = SEGMENT) -> list[float]:
    """The median area of each ``segment``-frame run over the first frame's (frame 0 itself left
    out of the first run: it is the still)."""
    return [float(np.median(areas[max(a, 1):a + segment]) / areas[0]) for a in range(0, len(areas) - 1, segment)]


def read_frames(folder: str) -> np.ndarray:
    names = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    return np.stack([np.asarray(Image.open(os.path.join(folder, f)).convert("RGB"), dtype=np.float32) / 255.0
                     for f in names])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kino_export demo stills", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kino", default=paths.KINO, type=paths.kino_binary, help="the kino binary (default: the checkout's target/release/kino)")
    ap.add_argument("--model", default=None, type=paths.package_dir, help="model package folder (default: kino's default)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1, help="kino's seed")
    ap.add_argument("--looks-seed", type=int, default=11, help="seed of the stills' looks and places")
    ap.add_argument("--radius", type=float, default=None, help="one radius for every still (default: 8-17)")
    ap.add_argument("--every", type=int, default=2, help="every Nth scene of the world")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.every < 1 or not a.seconds > 0 or (a.radius is not None and not 1 <= a.radius <= world.SIZE / 2):
        ap.error("--every must be at least 1, --seconds above 0 and --radius within 1..32 px")
    scenes = world.all_scenes()[::a.every]
    radii, backgrounds, starts = still_looks(len(scenes), a.looks_seed, a.radius)
    runs: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, scene in enumerate(scenes):
            still, out = os.path.join(tmp, f"{i}.png"), os.path.join(tmp, f"{i}") + os.sep
            Image.fromarray(render_still(scene, radii[i], backgrounds[i], starts[i])).save(still)
            cmd = [a.kino, "animate", still, "--prompt", f"a {scene.colour} {scene.shape} {scene.motion}",
                   "--seconds", str(a.seconds), "--seed", str(a.seed), "-o", out, "-q"]
            if a.model:
                cmd += ["--model", a.model]
            subprocess.run(cmd, check=True)
            frames = read_frames(out)
            ratios = size_ratios(object_areas(frames, backgrounds[i].numpy()))
            for k, ratio in enumerate(ratios):
                run = frames[k * SEGMENT:(k + 1) * SEGMENT]
                runs.setdefault(k, []).append(score_clip(scene, run) | {"size": ratio,
                                                                       "radius": float(radii[i])})
    report = {}
    for k, rows in sorted(runs.items()):
        sizes = np.array([r["size"] for r in rows])
        small = sizes[[r["radius"] < 10 for r in rows]]
        name = f"frames {k * SEGMENT}-{k * SEGMENT + SEGMENT - 1}"
        report[name] = r = summarise(rows) | {
            "size": float(sizes.mean()), "size_radius_under_10": float(small.mean()) if small.size else float("nan"),
            "size_off": float(np.abs(np.log(np.maximum(sizes, 1e-3))).mean()), "clips_radius_under_10": len(small)}
        print(f"{name}: {score_line(r)}  size {r['size']:.2f} (radius under 10, {len(small)} clips: "
              f"{r['size_radius_under_10']:.2f}; mean |ln size| {r['size_off']:.3f})")
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
