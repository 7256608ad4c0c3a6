"""Stage 7: context anywhere. The main stage teaches the DiT to continue a given prefix (extend
forwards, animate) or suffix (extend backwards); bridges, loops and keyframes give frames at
both ends or in the middle. This stage rebuilds the text encoder and DiT from an exported
package's graphs and trains them further with clean context at the start, the end, both ends
and single frames anywhere (``context_mask(policy="anywhere")``), text alone on 35% of samples
(28% with the default share of other looks) so that generation from text is kept, at a lower
rate. Some clips are from outside the world (``--other-looks``: objects of other sizes on other
backgrounds, always given some context, as the text does not say their look) and some are shown
as context through codec-like losses (``--degraded``, ``world.degrade``), the loss on the clean
clip: a user's stills and clips. The package is rewritten with new text encoder and denoiser graphs (the autoencoder byte for byte) and its manifest lists the context
it was trained for.

    python -m kino_export demo refine-context --package models/kino-shapes
"""
from __future__ import annotations

import argparse
import time

import torch

from .. import manifest as kino_manifest
from ..families.common import package_folder
from .export import (copy_package_files, export_text_and_denoiser, load_autoencoder, load_text_and_denoiser,
                     read_manifest)
from .tokenizer import build_tokenizer
from . import world
from .train import log, object_mask, train_dit

CONTEXT = ["start", "end", "both_ends", "keyframes"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kino_export demo refine-context")
    ap.add_argument("--package", default="models/kino-shapes", help="package to read")
    ap.add_argument("--out", default=None, help="package to write (default: --package, replaced atomically)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--high-noise", type=float, default=0.3)
    ap.add_argument("--other-looks", type=float, default=0.2, help="share of clips from outside the world")
    ap.add_argument("--other-first", action="store_true",
                    help="clips from outside the world that drew text alone get frame 0 alone (a still), not a prefix")
    ap.add_argument("--other-weight", type=float, default=1.0,
                    help="loss weight of the clips from outside the world against the world's")
    ap.add_argument("--degraded", type=float, default=0.3, help="share of clips given through codec losses")
    ap.add_argument("--seed-offset", type=int, default=9, help="data seed = the package's training seed + this")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    manifest = read_manifest(a.package)
    training = manifest.setdefault("training", {})
    seed = int(training.get("seed", 20261125)) + a.seed_offset
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    ae = load_autoencoder(a.package)
    te, dit = load_text_and_denoiser(a.package)
    lat = manifest["latent"]
    mean, std = torch.tensor(lat["mean"]), torch.tensor(lat["std"])
    norm = lambda z: (z - mean[None, :, None, None, None]) / std[None, :, None, None, None]  # noqa: E731
    latents, given, held, labels, masks, other = [], [], [], [], [], []
    with torch.no_grad():
        for i in range(0, a.clips, 64):
            x, shown, background, lab, outside, lossy = user_clips(gen, min(64, a.clips - i), a.other_looks,
                                                                    a.degraded)
            z, z_held = ae.encode_with_held(x)
            # Only the clips shown through losses are encoded again, as shown.
            z_shown = z.clone()
            if lossy.any():
                z_shown[lossy], z_held[lossy] = ae.encode_with_held(shown[lossy])
            latents.append(norm(z))
            given.append(norm(z_shown))
            held.append(norm(z_held))
            labels.append(torch.stack(lab, dim=1))
            masks.append(object_mask(x, background))
            other.append(outside)
    latents, given, held = torch.cat(latents), torch.cat(given), torch.cat(held)
    labels, masks, other = torch.cat(labels), torch.cat(masks), torch.cat(other)
    log(f"encoded {a.clips} clips ({time.time() - t0:.0f}s)")
    dit.train()
    te.train()
    dit, te = train_dit(dit, te, build_tokenizer(), latents, labels, masks, gen, a.steps, a.batch, "cpu",
                        lr=a.lr, warm=50, high_noise=a.high_noise, context_policy="anywhere", held=held,
                        given=given, needs_context=other,
                        needs_first_only=a.other_first, needs_weight=a.other_weight)
    seconds = time.time() - t0
    out = a.out or a.package
    with package_folder(out) as tmp:
        copy_package_files(a.package, tmp, ("denoiser.onnx", "text_encoder.onnx"))
        export_text_and_denoiser(te.eval(), dit.eval(), tmp)
        cond = manifest.setdefault("conditioning", {})
        cond["context_at"] = CONTEXT
        cond["keyframe_latent"] = "still_group"
        training["train_seconds"] = round(training.get("train_seconds", 0) + seconds)
        training["context_refinements"] = training.get("context_refinements", []) + [
            {"steps": a.steps, "clips": a.clips, "batch": a.batch, "lr": a.lr, "high_noise": a.high_noise,
             "other_looks": a.other_looks, "other_first": a.other_first, "other_weight": a.other_weight,
             "degraded": a.degraded, "seed": seed, "seconds": round(seconds)}]
        kino_manifest.write(tmp, manifest)
    log(f"refined the DiT for context anywhere in {seconds:.0f}s -> {out}")


def user_clips(gen: torch.Generator, n: int, other_looks: float, degraded: float):
    """``n`` training clips: (clean [n,3,F,H,W], as shown for context, backgrounds [n,3], labels,
    bool [n] outside the world's look, bool [n] shown through losses). Each clip is from outside the world with probability
    ``other_looks`` (``world.random_looks``) and shown through codec losses with ``degraded``."""
    c, s, m, start = world.random_scenes(gen, n)
    radius, background = world.random_looks(gen, n)
    outside = torch.rand(n, generator=gen) < other_looks
    radius = torch.where(outside, radius, torch.full((n,), world.RADIUS))
    background = torch.where(outside[:, None], background, torch.tensor(world.BACKGROUND)[None])
    x = world.render(c, s, m, start, radius=radius, background=background)
    lossy = torch.rand(n, generator=gen) < degraded
    shown = torch.where(lossy[:, None, None, None, None], world.degrade(x, gen), x)
    return x, shown, background, (c, s, m), outside, lossy


if __name__ == "__main__":
    main()
