"""Conditioning at any frame, measured on a package's own ONNX graphs.

For every scene a 17-frame ground-truth clip (5 latent frames) is rendered; some of its latent
frames are given as clean context and the rest are made, with the same sampler the engine runs
(flow-match Euler, stochastic where the manifest says so, classifier-free guidance, per-frame
timesteps with 0 on context frames, the context latents written back before every model call).
Places (``conditioning.context_at``):

- ``first``: frame 0 given, 1-16 made (animate a still);
- ``start``: frames 0-8 given, 9-16 made (extend forwards);
- ``end``: frames 5-16 given, 0-4 made (extend backwards);
- ``both_ends``: frame 0 and frames 13-16 given, 1-12 made (bridge two clips);
- ``keyframes``: frame 0 given, and frame 16 alone as a still group at latent frame 4
  (``keyframe_latent: still_group``); 1-15 made (follow a keyframe).

The output clip keeps the given frames and takes the made ones from the decoder (as a bridge
does). Scores: colour / shape / direction of the whole clip against the prompt, frames with
stray pixels, PSNR of the made frames against the truth (motion is fixed once both ends are
given), the seam ratio (frame-to-frame change across each seam over the median change inside
the made frames, moving scenes) and, for keyframes, how far the object's centre at frame 15 (the
last made frame) is from the truth's. ``--looks other`` gives objects of other sizes on other backgrounds, ``--degrade``
passes the given frames through codec-like losses (``world.degrade``).

    python -m kino_export demo conditioned --model models/kino-shapes --places start,both_ends
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from . import paths, world
from .evaluate import _circular_centre, _object_masks, score_clip, score_line, summarise, write_report
from .tokenizer import build_tokenizer, encode_batch
from .train import flow_sigmas

PLACES = ("first", "start", "end", "both_ends", "keyframes")


class OnnxDemo:
    """The demo package's graphs in onnxruntime's CPU provider, ``threads`` threads per session."""

    def __init__(self, folder: str, threads: int = 2):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        with open(os.path.join(folder, "kino.json")) as f:
            self.manifest = json.load(f)

        def load(name):
            return ort.InferenceSession(os.path.join(folder, name), opts, providers=["CPUExecutionProvider"])
        self.te, self.dit = load("text_encoder.onnx"), load("denoiser.onnx")
        self.enc, self.first, self.step = load("vae_encoder.onnx"), load("vae_decoder_first.onnx"), load("vae_decoder_step.onnx")
        lat = self.manifest["latent"]
        self.mean = np.array(lat["mean"], np.float32)[None, :, None, None, None]
        self.std = np.array(lat["std"], np.float32)[None, :, None, None, None]
        self.tok = build_tokenizer()

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """[B,3,F,H,W] in [-1,1] -> normalised latents."""
        z = self.enc.run(None, {"frames": frames.astype(np.float32)})[0]
        return (z - self.mean) / self.std

    def decode(self, z: np.ndarray) -> np.ndarray:
        z = z * self.std + self.mean
        out, cache = self.first.run(None, {"latents": z[:, :, :1]})
        parts = [out]
        for k in range(1, z.shape[2]):
            out, cache = self.step.run(None, {"latents": z[:, :, k:k + 1], "cache_in_0": cache})
            parts.append(out)
        return np.concatenate(parts, axis=2)

    def sample(self, prompts: list[str], given: np.ndarray, context: np.ndarray, seed: int) -> np.ndarray:
        """Latents [B,C,F,h,w]: frames where ``context`` [F] is true are ``given``, the rest made."""
        d = self.manifest["defaults"]
        b = len(prompts)
        ids, mask = encode_batch(self.tok, prompts + [""] * b)
        emb = self.te.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(given.shape).astype(np.float32)
        sig = flow_sigmas(d["steps"], self.manifest["scheduler"]["shift"]).numpy()
        sched = self.manifest["scheduler"]
        # As kino: footage that leads into given frames (one after the first made frame) takes the
        # manifest's settings for given frames; footage that only continues them is made as from text.
        leads_in = bool(context[int(np.argmax(~context)):].any())
        stochastic = sched.get("stochastic_sampling", False) and (sched.get("stochastic_given_frames", True) or not leads_in)
        ctx = context[None, None, :, None, None]
        guidance = d.get("guidance_given_frames", d["guidance"]) if leads_in else d["guidance"]
        for i in range(d["steps"]):
            x = np.where(ctx, given, x)
            t = np.where(context, 0.0, sig[i] * 1000.0).astype(np.float32)
            v = self.dit.run(None, {"latents": np.concatenate([x, x]), "timestep": np.tile(t, (2 * b, 1)),
                                    "text_embeds": emb, "text_mask": mask.numpy()})[0]
            v = v[b:] + guidance * (v[:b] - v[b:])
            if stochastic:  # the clean estimate, noised afresh to the next level
                e = rng.standard_normal(x.shape).astype(np.float32)
                x = (1 - sig[i + 1]) * (x - sig[i] * v) + sig[i + 1] * e
            else:
                x = x + (sig[i + 1] - sig[i]) * v
        return np.where(ctx, given, x)


def layout(place: str) -> tuple[np.ndarray, np.ndarray]:
    """Latent frames given and pixel frames given, for a 17-frame clip."""
    lat = {"first": [0], "start": [0, 1, 2], "end": [2, 3, 4], "both_ends": [0, 4], "keyframes": [0, 4]}[place]
    pix = {"first": [0], "start": range(0, 9), "end": range(5, 17), "both_ends": [0, 13, 14, 15, 16],
           "keyframes": [0, 16]}[place]
    given = np.zeros(5, bool)
    given[lat] = True
    frames = np.zeros(17, bool)
    frames[list(pix)] = True
    return given, frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def seam_ratio(clip: np.ndarray, given: np.ndarray) -> float:
    """Largest change across a seam (given -> made or made -> given) over the median change
    between made frames."""
    step = np.abs(np.diff(clip, axis=0)).mean(axis=(1, 2, 3))
    made = ~given
    inside = [step[i] for i in range(len(step)) if made[i] and made[i + 1]]
    seams = [step[i] for i in range(len(step)) if given[i] != given[i + 1]]
    return float(max(seams) / max(np.median(inside), 1e-6)) if inside and seams else float("nan")


def evaluate(pkg: OnnxDemo, place: str, other_looks: bool, degraded: bool, seed: int, batch: int = 24) -> dict:
    scenes = world.all_scenes()
    gen = torch.Generator().manual_seed(seed)
    c = torch.tensor([world.COLOUR_NAMES.index(s.colour) for s in scenes])
    sh = torch.tensor([world.SHAPES.index(s.shape) for s in scenes])
    m = torch.tensor([world.MOTION_NAMES.index(s.motion) for s in scenes])
    start = torch.rand((len(scenes), 2), generator=gen) * world.SIZE
    radius, background = world.random_looks(gen, len(scenes))
    truth = world.render(c, sh, m, start, radius=radius if other_looks else None,
                         background=background if other_looks else None)
    shown = world.degrade(truth, gen) if degraded else truth
    lat_given, pix_given = layout(place)
    rows, psnrs, seams, key_err = [], [], [], []
    for i in range(0, len(scenes), batch):
        part = shown[i:i + batch].numpy()
        given = pkg.encode(part)
        if place == "keyframes":  # frame 16 alone, held over latent frame 4's group
            held = np.repeat(part[:, :, 16:17], 4, axis=2)
            still = np.concatenate([part[:, :, :1], held], axis=2)
            given[:, :, 4:5] = pkg.encode(still)[:, :, 1:2]
        z = pkg.sample([s.prompt() for s in scenes[i:i + batch]], given, lat_given, seed + i)
        made = pkg.decode(z)
        clips = np.where(pix_given[None, None, :, None, None], part, made)
        clips = ((np.clip(clips, -1, 1) + 1) / 2).transpose(0, 2, 3, 4, 1)
        real = ((truth[i:i + batch].numpy() + 1) / 2).transpose(0, 2, 3, 4, 1)
        for j, (scene, clip) in enumerate(zip(scenes[i:i + batch], clips)):
            rows.append(score_clip(scene, clip))
            psnrs.append(psnr(clip[~pix_given], real[j][~pix_given]))
            if scene.motion != "standing still":  # a still object has no steps to compare a seam with
                seams.append(seam_ratio(clip, pix_given))
            if place == "keyframes":
                key_err.append(centre_error(clip[15], real[j][15]))
    out = summarise(rows) | {"psnr_made_db": float(np.mean(psnrs)), "seam_ratio_mean": float(np.nanmean(seams)),
                             "seam_ratio_max": float(np.nanmax(seams))}
    if key_err:
        out["keyframe_centre_error_px"] = float(np.nanmean(key_err))
    return out


def centre_error(made: np.ndarray, truth_made: np.ndarray) -> float:
    """Wrapped distance between the made frame's object centre and the truth's at that frame
    (frame 15, the last made frame before the keyframe)."""
    def centre(frame):
        mask = _object_masks(frame[None])[0]
        return np.array([_circular_centre(mask, 0), _circular_centre(mask, 1)])
    d = centre(made) - centre(truth_made)
    d = (d + world.SIZE / 2) % world.SIZE - world.SIZE / 2
    return float(np.hypot(*d))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kino_export demo conditioned", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=paths.PACKAGE, type=paths.package_dir, help="model package folder (default: the shipped kino-shapes)")
    ap.add_argument("--places", default=",".join(PLACES))
    ap.add_argument("--looks", choices=["world", "other"], default="world")
    ap.add_argument("--degrade", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    pkg = OnnxDemo(a.model, a.threads)
    report = {}
    for place in a.places.split(","):
        r = evaluate(pkg, place, a.looks == "other", a.degrade, a.seed)
        report[place] = r
        print(f"{place:10} {score_line(r)}  made vs truth {r['psnr_made_db']:.1f} dB  seam {r['seam_ratio_mean']:.2f} "
              f"(max {r['seam_ratio_max']:.2f})"
              + (f"  keyframe centre {r['keyframe_centre_error_px']:.1f} px" if "keyframe_centre_error_px" in r else ""))
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
