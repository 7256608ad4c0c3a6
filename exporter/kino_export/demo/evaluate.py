"""Score demo-world clips for prompt adherence: colour, shape and direction of motion.

The detector is analytic: the background is known and dark, so the object is the largest
connected blob of bright pixels (8-connected, on the torus: a blob may wrap around an edge).
Colour is the nearest palette entry to the object's mean colour; shape is the object's fill
ratio of its bounding box (square ~1.0, circle ~0.79, triangle ~0.5), voted over frames;
direction is the wrapped displacement of the centroid summed over the clip. A frame has *stray
pixels* when any pixel more than 60 levels (of 255) from the background lies outside the
object's blob: glowing corners and borders, smears at window joins, a second object.

Command line: run the real ``kino`` binary on every scene of the world and score the videos::

    python -m kino_export demo eval

``--prompts demo/prompt_sets/wordings-c.json`` scores a set of prompts worded as people word
them (each labelled with the scene it asks for) in place of the world's own wording.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import paths
from .world import BACKGROUND, COLOURS, Scene, all_scenes

_PALETTE = np.array(list(COLOURS.values()), dtype=np.float32)
_NAMES = list(COLOURS)
STILL_PX = 3.0  # total drift below this (pixels over the clip) counts as standing still


@dataclass
class Detection:
    colour: str | None
    shape: str | None
    motion: str | None


STRAY_LEVELS = 60  # a pixel this far (0-255, any channel) from the background is not background


def components(mask: np.ndarray) -> np.ndarray:
    """Labels of the 8-connected components of ``mask`` [..., H, W] on the torus (each pixel gets
    the smallest flat index in its component; -1 outside). Label propagation with wrapped
    neighbours, vectorised over the leading axes."""
    big = np.iinfo(np.int64).max
    flat = np.arange(mask.size, dtype=np.int64).reshape(mask.shape)
    lab = np.where(mask, flat, big)
    while True:
        best = lab
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    best = np.minimum(best, np.roll(lab, (dy, dx), axis=(-2, -1)))
        new = np.where(mask, best, big)
        if np.array_equal(new, lab):
            return np.where(mask, lab, -1)
        lab = new


def largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of each frame of ``mask`` [F, H, W] (torus-aware)."""
    lab = components(mask)
    out = np.zeros_like(mask)
    for i in range(mask.shape[0]):
        ids = lab[i][mask[i]]
        if ids.size:
            values, counts = np.unique(ids, return_counts=True)
            out[i] = lab[i] == values[np.argmax(counts)]
    return out


def _background_distance(frames: np.ndarray) -> np.ndarray:
    """[F,H,W,3] in [0,1] -> [F,H,W]: largest channel distance from the frame's background (its
    median colour: the object covers far less than half of a frame)."""
    bg = np.median(frames.reshape(frames.shape[0], -1, 3), axis=1)
    return np.abs(frames - bg[:, None, None, :]).max(axis=-1)


def stray_frames(frames: np.ndarray) -> np.ndarray:
    """[F,H,W,3] in [0,1] -> [F] bool: frames with a pixel more than STRAY_LEVELS from the
    background outside the object's blob (the largest component of such pixels)."""
    far = _background_distance(frames) > STRAY_LEVELS / 255.0
    return (far & ~largest_blob(far)).any(axis=(1, 2))


def _object_masks(frames: np.ndarray) -> np.ndarray:
    diff = np.abs(frames - np.array(BACKGROUND, dtype=np.float32)).max(axis=-1)
    return largest_blob(diff > 0.3)


def _circular_centre(mask: np.ndarray, axis: int) -> float:
    """Centroid along a wrapped axis (the world is a torus)."""
    n = mask.shape[axis]
    weights = mask.sum(axis=1 - axis).astype(np.float64)
    if weights.sum() == 0:
        return float("nan")
    ang = 2 * np.pi * (np.arange(n) + 0.5) / n
    c = np.arctan2((weights * np.sin(ang)).sum(), (weights * np.cos(ang)).sum())
    return float((c % (2 * np.pi)) * n / (2 * np.pi))


def _fill_ratio(mask: np.ndarray, cy: float, cx: float) -> float:
    h, w = mask.shape
    # Roll the object to the centre so it does not straddle the wrap.
    m = np.roll(mask, (int(round(h / 2 - cy)), int(round(w / 2 - cx))), axis=(0, 1))
    ys, xs = np.nonzero(m)
    if len(ys) < 8:
        return float("nan")
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    return len(ys) / box


def classify_shape(ratio: float) -> str | None:
    if np.isnan(ratio):
        return None
    if ratio > 0.89:
        return "square"
    if ratio < 0.64:
        return "triangle"
    return "circle"


def detect(frames: np.ndarray) -> Detection:
    """frames: [F, H, W, 3] float in [0, 1]."""
    colours, shapes, centres = [], [], []
    for frame, mask in zip(frames, _object_masks(frames)):
        if mask.sum() < 8:
            centres.append((np.nan, np.nan))
            continue
        mean = frame[mask].mean(axis=0)
        colours.append(_NAMES[int(np.argmin(((_PALETTE - mean) ** 2).sum(axis=1)))])
        cy, cx = _circular_centre(mask, 0), _circular_centre(mask, 1)
        centres.append((cy, cx))
        s = classify_shape(_fill_ratio(mask, cy, cx))
        if s:
            shapes.append(s)
    # A tie goes to the label seen first (a set's order changes with Python's string hashing,
    # which moved a clip's shape between runs).
    vote = lambda xs: Counter(xs).most_common(1)[0][0] if xs else None  # noqa: E731
    motion = _direction(np.array(centres), frames.shape[1], frames.shape[2])
    return Detection(vote(colours), vote(shapes), motion)


def _direction(centres: np.ndarray, h: int, w: int) -> str | None:
    ok = ~np.isnan(centres).any(axis=1)
    if ok.sum() < 2:
        return None
    c = centres[ok]
    # Sum of wrapped frame-to-frame steps: robust to crossing the edge.
    d = np.diff(c, axis=0)
    d[:, 0] = (d[:, 0] + h / 2) % h - h / 2
    d[:, 1] = (d[:, 1] + w / 2) % w - w / 2
    dy, dx = d.sum(axis=0)
    if max(abs(dx), abs(dy)) < STILL_PX:
        return "standing still"
    if abs(dx) >= abs(dy):
        return "moving right" if dx > 0 else "moving left"
    return "moving down" if dy > 0 else "moving up"


def score(scene: Scene, det: Detection) -> dict:
    return {"colour": det.colour == scene.colour, "shape": det.shape == scene.shape,
            "direction": det.motion == scene.motion}


def summarise(rows: list[dict]) -> dict:
    """Shares of clips right on colour, shape, direction; with ``stray`` (each row's share of
    frames with stray pixels, clips of one length) the share of frames with stray pixels."""
    n = max(len(rows), 1)
    keys = [k for k in ("colour", "shape", "direction", "stray") if rows and k in rows[0]]
    return {k: float(sum(r[k] for r in rows) / n) for k in keys} | {"clips": len(rows)}


def score_clip(scene: Scene, video: np.ndarray, det: Detection | None = None) -> dict:
    """``score`` of a decoded clip [F,H,W,3] (``det``: its detection, when already made), with its
    share of frames with stray pixels."""
    return score(scene, det or detect(video)) | {"stray": float(stray_frames(video).mean())}


# ----------------------------------------------------------------------------- video files

def read_video(path: str) -> np.ndarray:
    """Decode any video ffmpeg reads into [F,H,W,3] float in [0,1]."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "json", path],
                           check=True, capture_output=True, text=True)
    st = json.loads(probe.stdout)["streams"][0]
    w, h = st["width"], st["height"]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(np.float32) / 255.0


def load_prompts(path: str) -> list[tuple[str, Scene]]:
    """A prompt set: a JSON list of {"prompt", "colour", "shape", "motion"}, each prompt with the
    scene it asks for (however it is worded)."""
    with open(path) as f:
        items = json.load(f)
    out = []
    for i, it in enumerate(items):
        scene = Scene(it["colour"], it["shape"], it["motion"])
        if scene not in all_scenes() or not isinstance(it["prompt"], str):
            raise ValueError(f"{path}: entry {i} is not a prompt and one of the world's scenes: {it}")
        out.append((it["prompt"], scene))
    return out


def evaluate_kino(kino: str, model: str | None, seeds: list[int], out_dir: str, extra: list[str],
                  segment_frames: int = 0, keep: bool = True, scenes: list[Scene] | None = None,
                  prompts: list[tuple[str, Scene]] | None = None) -> dict:
    """Scores every scene; with ``segment_frames``, also each consecutive segment of that many
    frames on its own (long clips made window by window: does every window keep to the prompt?).
    With ``prompts`` (see :func:`load_prompts`) each prompt is made once, the i-th with the i-th
    seed in turn, and scored against its scene."""
    if prompts is not None:
        jobs = [(p, scene, seeds[i % len(seeds)]) for i, (p, scene) in enumerate(prompts)]
    else:
        jobs = [(scene.prompt(), scene, seed) for scene in scenes or all_scenes() for seed in seeds]
    rows = []
    segments: list[list[dict]] = []
    failures = []
    for n, (prompt, scene, seed) in enumerate(jobs):
        path = os.path.join(out_dir, f"{n:04d}-{scene.colour}-{scene.shape}-{scene.motion.replace(' ', '-')}-{seed}.mp4")
        cmd = [kino, "generate", prompt, "-o", path, "--seed", str(seed), "--quiet"] + extra
        if model:
            cmd += ["--model", model]
        subprocess.run(cmd, check=True)
        video = read_video(path)
        det = detect(video)
        r = score_clip(scene, video, det)
        rows.append(r)
        if segment_frames > 0:
            for k in range(len(video) // segment_frames):
                if len(segments) <= k:
                    segments.append([])
                segments[k].append(score_clip(scene, video[k * segment_frames:(k + 1) * segment_frames]))
        if not all(r[k] for k in ("colour", "shape", "direction")) or r["stray"] > 0:
            failures.append({"prompt": prompt, "seed": seed, "got": det.__dict__, "stray": r["stray"]})
        if not keep:
            os.remove(path)
    report = {"summary": summarise(rows), "segments": [summarise(seg) for seg in segments], "failures": failures}
    if segments:
        # The floor holds only if it holds in every window: the worst window per measure.
        report["worst_segment"] = {k: min(s[k] for s in report["segments"]) for k in ("colour", "shape", "direction")} \
            | {"stray": max(s["stray"] for s in report["segments"])}
    return report


def seams_over_median(video: np.ndarray, made: slice, seams: list[tuple[int, int]]) -> tuple[list[float], float]:
    """([each seam's change over the median step], largest) for ``video`` [F,H,W,3] in [0,1]:
    the median is over the steps between the ``made`` frames; a seam (a, b) is the change from
    frame a to frame b; the largest is over those steps and the seams."""
    x = video.astype(np.float64) * 255
    steps = np.abs(np.diff(x[made], axis=0)).mean(axis=(1, 2, 3))
    median = max(float(np.median(steps)), 1e-6) if steps.size else 1e-6
    across = [float(np.abs(x[b] - x[a]).mean()) for a, b in seams]
    return [s / median for s in across], max([*across, *steps]) / median


def write_report(path: str | None, report: dict) -> None:
    """The evaluators' ``--json``: ``report`` written to ``path``, when one was asked for."""
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=1)


def score_line(s: dict) -> str:
    """A summary's scores on one line: colour, shape, direction and stray-pixel share."""
    return f"colour {s['colour']:.1%}  shape {s['shape']:.1%}  direction {s['direction']:.1%}  stray {s['stray']:.1%}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kino_export demo eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kino", default=paths.KINO, type=paths.kino_binary, help="the kino binary (default: the checkout's target/release/kino)")
    ap.add_argument("--model", default=None, type=paths.package_dir, help="model package folder (default: kino's default)")
    ap.add_argument("--seeds", default="1,2", help="comma-separated seeds per scene")
    ap.add_argument("--out", default=None, help="keep the clips here (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the report here")
    ap.add_argument("--segment-frames", type=int, default=0,
                    help="also score each run of this many frames on its own (for long clips)")
    ap.add_argument("--every", type=int, default=1, help="every Nth scene only (a quicker look)")
    ap.add_argument("--prompts", default=None,
                    help="a prompt set (JSON list of prompt, colour, shape, motion; e.g. demo/prompt_sets/*.json): "
                         "each prompt made once, the i-th with the i-th of --seeds in turn")
    ap.add_argument("extra", nargs="*", help="extra flags for kino generate (after --)")
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or tmp
        os.makedirs(out, exist_ok=True)
        scenes = all_scenes()[::a.every]
        prompts = load_prompts(a.prompts) if a.prompts else None
        report = evaluate_kino(a.kino, a.model, seeds, out, a.extra, a.segment_frames, keep=a.out is not None,
                               scenes=scenes, prompts=prompts)
    s = report["summary"]
    print(f"clips {s['clips']}: {score_line(s)}")
    for k, s in enumerate(report["segments"]):
        print(f"  frames {k * a.segment_frames}-{(k + 1) * a.segment_frames - 1}: {score_line(s)}")
    if "worst_segment" in report:
        print(f"worst window: {score_line(report['worst_segment'])}")
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
