"""Extend clips forwards or backwards with the real ``kino`` binary and score the new footage.

For every Nth scene of the world this makes a clip from text (``kino generate``, one window,
``--clip-seed``), extends it at its end (forwards) or start (backwards) by ``--seconds`` with the
scene's prompt (``--seed``), and scores each 16-frame run of the new footage on its own (colour /
shape / direction / frames with stray pixels, as ``demo eval``), the runs counted from the seam
outwards. Where the new footage meets the
clip it reports the seam: the mean absolute change across the seam over the median change from
frame to frame within the new footage (about 1: as smooth as the footage itself), and the largest
change anywhere in the new footage or across the seam over that median (a jump at a join between
windows shows there).

    python -m kino_export demo extend --at start --seconds 2

Flags after ``--`` go to ``kino extend`` (``-- --candidates 1``).
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

SEGMENT = 16
FPS = 8


def seam_steps(video: np.ndarray, new: int, at: str) -> tuple[float, float]:
    """(seam, largest) for ``video`` [F,H,W,3] in [0,1] whose ``new`` frames were added at ``at``
    (``start``: they come first; ``end``: last): the change across the seam and the largest change
    among the new frames and the seam, each over the median change between the new frames."""
    lo = 0 if at == "start" else len(video) - new
    seam = (new - 1, new) if at == "start" else (lo - 1, lo)
    (ratio,), largest = seams_over_median(video, slice(lo, lo + new), [seam])
    return ratio, largest


def runs_from_seam(new: int, at: str) -> list[slice]:
    """The 16-frame runs of ``new`` frames of footage, counted from the seam outwards (the last
    run may be shorter): forwards the first frames, backwards the last."""
    ends = range(0, new, SEGMENT)
    if at == "end":
        return [slice(k, min(k + SEGMENT, new)) for k in ends]
    return [slice(max(new - k - SEGMENT, 0), new - k) for k in ends]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kino_export demo extend", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kino", default=paths.KINO, type=paths.kino_binary, help="the kino binary (default: the checkout's target/release/kino)")
    ap.add_argument("--model", default=None, type=paths.package_dir, help="model package folder (default: kino's default)")
    ap.add_argument("--at", choices=["start", "end"], default="start", help="extend backwards (start) or forwards (end)")
    ap.add_argument("--seconds", type=float, default=2.0, help="how much footage to add")
    ap.add_argument("--clip-seed", type=int, default=1, help="seed of the clips made from text")
    ap.add_argument("--seed", type=int, default=2, help="seed of the extensions")
    ap.add_argument("--every", type=int, default=6, help="every Nth scene of the world")
    ap.add_argument("--format", choices=["mkv", "mp4"], default="mkv",
                    help="container of the clips (mkv: lossless FFV1; mp4: H.264, as most users' clips)")
    ap.add_argument("--json", default=None)
    ap.add_argument("extra", nargs="*", help="extra flags for kino extend (after --), e.g. -- --candidates 1")
    a = ap.parse_args(argv)
    new = round(a.seconds * FPS)
    if a.every < 1 or not 1 <= new <= 60 * FPS:
        ap.error("--every must be at least 1 and --seconds add 1 to 480 frames (1/8 s to 60 s)")
    model = ["--model", a.model] if a.model else []
    rows: dict[int, list[dict]] = {}
    seams, largest = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, scene in enumerate(world.all_scenes()[::a.every]):
            clip, out = os.path.join(tmp, f"{i}.{a.format}"), os.path.join(tmp, f"{i}-extended.{a.format}")
            prompt = scene.prompt()
            subprocess.run([a.kino, "generate", prompt, "--seed", str(a.clip_seed), "-o", clip, "-q", *model], check=True)
            subprocess.run([a.kino, "extend", clip, "--at", a.at, "--prompt", prompt, "--frames", str(new),
                            "--seed", str(a.seed), "-o", out, "-q", *model, *a.extra], check=True)
            video = read_video(out)
            if len(video) != len(read_video(clip)) + new:
                sys.exit(f"{out}: {len(video)} frames, expected the clip's and {new} new ones")
            footage = video[:new] if a.at == "start" else video[len(video) - new:]
            for j, run in enumerate(runs_from_seam(new, a.at)):
                rows.setdefault(j, []).append(score_clip(scene, footage[run]))
            seam, big = seam_steps(video, new, a.at)
            seams.append(seam)
            largest.append(big)
    seams_a, largest_a = np.array(seams), np.array(largest)
    report: dict = {"seam_median": float(np.median(seams_a)), "seam_at_most_1_5": float((seams_a <= 1.5).mean()),
                    "largest_median": float(np.median(largest_a)), "largest_over_2": float((largest_a > 2).mean()),
                    "clips": len(seams)}
    for j in sorted(rows):
        name = f"run {j + 1} from the seam"
        report[name] = r = summarise(rows[j])
        print(f"{name}: {score_line(r)}")
    report["all runs"] = r = summarise([row for j in sorted(rows) for row in rows[j]])
    print(f"all runs: {score_line(r)}")
    print(f"seam over the median step: median {report['seam_median']:.2f}, at or under 1.5 in "
          f"{(seams_a <= 1.5).sum()} of {len(seams)} clips; largest step over the median: median "
          f"{report['largest_median']:.2f}, over 2 in {(largest_a > 2).sum()}")
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
