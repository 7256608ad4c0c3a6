"""Bridges and loops with the real ``kino`` binary: the footage made between given frames, scored.

``--kind bridge``: for each scene a 4 s clip from text (seed i + 1); frames 13-24 are cut out and
``kino bridge`` fills them again (12 frames, ``--seed``) between the clip's first 13 frames and
its last 7. The bridged frames 8-23 are scored (colour / shape / direction / frames with stray
pixels, as ``demo eval``), with both seams: the change across each over the median change from
frame to frame inside the bridge (about 1: as smooth as the footage itself).

``--kind loop``: ``kino generate --loop --frames N`` (``--loop-frames``, default 17: 2 s; seed
i + 1), the whole loop scored and its wrap (last frame to first) over its median step. A moving
object goes once around the 64 px world in 51 frames (1.25 px a frame): a shorter loop of a
moving object cannot keep its direction, so read its direction score with that in mind.

Both report the largest step: the largest change in the made footage or across a seam over that
median (a jump shows there). The scenes are ``--count`` random moving scenes (``--scenes-seed``).

    python -m kino_export demo joins --kind bridge

Flags after ``--`` go to ``kino bridge`` or ``kino generate --loop`` (``-- --candidates 1``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from . import paths, world
from .evaluate import read_video, score_clip, score_line, seams_over_median, summarise, write_report

# Bridges: the clip's frames kept before and after the gap, the gap, and the frames scored.
BEFORE, GAP, AFTER = 13, 12, 7
SCORED = slice(8, 24)


def moving_scenes(count: int, seed: int) -> list[world.Scene]:
    scenes = [s for s in world.all_scenes() if s.motion != "standing still"]
    rng = np.random.default_rng(seed)
    return [scenes[rng.integers(len(scenes))] for _ in range(count)]


def _ffmpeg_frames(src: str, dst: str, select: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", f"select='{select}',setpts=N/8/TB",
                    "-c:v", "ffv1", dst], check=True)


def bridge(kino: str, model: list[str], scene: world.Scene, seed: int, clip_seed: int, tmp: str, extra: list[str]):
    """(scores, seams, largest) of one bridge."""
    prompt, clip = scene.prompt(), os.path.join(tmp, "clip.mkv")
    subprocess.run([kino, "generate", prompt, "--seconds", "4", "--seed", str(clip_seed), "-o", clip, "-q", *model],
                   check=True)
    a, b, out = (os.path.join(tmp, n) for n in ("a.mkv", "b.mkv", "bridged.mkv"))
    _ffmpeg_frames(clip, a, f"lt(n,{BEFORE})")
    _ffmpeg_frames(clip, b, f"gte(n,{BEFORE + GAP})")
    subprocess.run([kino, "bridge", a, b, "--prompt", prompt, "--frames", str(GAP), "--seed", str(seed), "-o", out,
                    "-q", *model, *extra], check=True)
    video = read_video(out)
    if len(video) != BEFORE + GAP + AFTER:
        sys.exit(f"{out}: {len(video)} frames, expected {BEFORE} + {GAP} + {AFTER}")
    seams, largest = seams_over_median(video, slice(BEFORE, BEFORE + GAP),
                                       [(BEFORE - 1, BEFORE), (BEFORE + GAP - 1, BEFORE + GAP)])
    return score_clip(scene, video[SCORED]), seams, largest


def loop(kino: str, model: list[str], scene: world.Scene, seed: int, frames: int, tmp: str, extra: list[str]):
    """(scores, [wrap], largest) of one loop."""
    out = os.path.join(tmp, "loop.mkv")
    subprocess.run([kino, "generate", scene.prompt(), "--loop", "--frames", str(frames), "--seed", str(seed), "-o", out,
                    "-q", *model, *extra], check=True)
    video = read_video(out)
    seams, largest = seams_over_median(video, slice(0, len(video)), [(len(video) - 1, 0)])
    return score_clip(scene, video), seams, largest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kino_export demo joins", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kino", default=paths.KINO, type=paths.kino_binary, help="the kino binary (default: the checkout's target/release/kino)")
    ap.add_argument("--model", default=None, type=paths.package_dir, help="model package folder (default: kino's default)")
    ap.add_argument("--kind", choices=["bridge", "loop"], default="bridge")
    ap.add_argument("--count", type=int, default=24, help="how many random moving scenes")
    ap.add_argument("--scenes-seed", type=int, default=5, help="seed of the scene draw")
    ap.add_argument("--seed", type=int, default=2, help="seed of the bridges (loops: scene i takes seed i + 1)")
    ap.add_argument("--loop-frames", type=int, default=17, help="length of each loop in frames (51: once around)")
    ap.add_argument("--json", default=None)
    ap.add_argument("extra", nargs="*", help="extra flags for kino (after --), e.g. -- --candidates 1")
    a = ap.parse_args(argv)
    if not 1 <= a.count <= 1000:
        ap.error("--count must be 1 to 1000")
    if not 2 <= a.loop_frames <= 10_000:
        ap.error("--loop-frames must be 2 to 10000")
    model = ["--model", a.model] if a.model else []
    rows, seams, largest = [], [], []
    for i, scene in enumerate(moving_scenes(a.count, a.scenes_seed)):
        with tempfile.TemporaryDirectory() as tmp:
            if a.kind == "bridge":
                row, s, big = bridge(a.kino, model, scene, a.seed, i + 1, tmp, a.extra)
            else:
                row, s, big = loop(a.kino, model, scene, i + 1, a.loop_frames, tmp, a.extra)
        rows.append(row)
        seams += s
        largest.append(big)
    seams_a, largest_a = np.array(seams), np.array(largest)
    report = {"kind": a.kind, "clips": len(rows), "scores": summarise(rows),
              "seam_median": float(np.median(seams_a)), "seams_at_most_1_5": int((seams_a <= 1.5).sum()),
              "seams": len(seams), "largest_median": float(np.median(largest_a)),
              "largest_over_2": int((largest_a > 2).sum())}
    print(f"{a.kind}s: {score_line(report['scores'])}")
    print(f"seams over the median step: median {report['seam_median']:.2f}, at or under 1.5 in "
          f"{report['seams_at_most_1_5']} of {len(seams)}; largest step over the median: median "
          f"{report['largest_median']:.2f}, over 2 in {report['largest_over_2']} of {len(rows)}")
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
