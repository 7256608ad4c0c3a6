"""Train the demo model (text encoder + causal video autoencoder + DiT) on the shapes world.

Reproducible from ``--seed`` (a fixed number of steps, not a time budget; one thread count).
On this project's 2-core CPU the default schedule takes about 42 minutes; a GPU is used when
present (``--device cuda``).

    python -m kino_export demo train --out exporter/runs/demo
    python -m kino_export demo export --run exporter/runs/demo --out models/kino-shapes
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import world
from .evaluate import detect, score, summarise
from .nets import DiT, CausalVideoAutoencoder, TextEncoder
from .tokenizer import build_tokenizer, encode_batch

CONFIG = {
    "latent_channels": 4,
    "text_dim": 64,
    "dit_dim": 128,
    "dit_layers": 5,
    "dit_heads": 4,
    "patch": 4,
}


LATENT_NOISE = 0.25  # sigma of the noise added to latents while the decoder trains


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def random_clips(gen: torch.Generator, n: int, frames: int = world.FRAMES):
    c, s, m, start = world.random_scenes(gen, n)
    return world.render(c, s, m, start, frames), (c, s, m)


def warmup_cosine(opt, steps, warm):
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    def factor(s):
        return min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train_autoencoder(ae, gen, steps, batch, device, lr=2e-3):
    opt = torch.optim.AdamW(ae.parameters(), lr=lr, weight_decay=0.0)
    sched = warmup_cosine(opt, steps, warm=50)
    bg = torch.tensor(world.BACKGROUND, device=device) * 2 - 1
    t0 = time.time()
    for step in range(steps):
        # 9-frame clips cover both decoder graphs (first, and a step after a step) at half the cost.
        x, _ = random_clips(gen, batch, frames=9)
        x = x.to(device)
        z = ae.encode(x)
        # Latent noise teaches the decoder to forgive the small errors a sampler leaves, and makes
        # the encoder put fine detail (a square's corners) where such errors cannot erase it.
        noise = torch.randn(z.shape, generator=gen).to(device) * LATENT_NOISE
        rec = ae.decode(z + noise)
        obj = ((x - bg[None, :, None, None, None]).abs().amax(1, keepdim=True) > 0.05).float()
        weight = 1.0 + 9.0 * obj
        loss = (weight * (rec - x).abs()).mean() + 1e-3 * (z ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    return ae


def temporal_loss(rec: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, boundary: float) -> torch.Tensor:
    """L1 between the frame-to-frame changes of the decoded and the real clip.

    The chunked decoder draws each latent frame's four frames in one call, so nothing in a plain
    reconstruction loss ties the last frame of one chunk to the first of the next: decoded clips
    jumped 1.4x more across chunk boundaries than inside a chunk, and an extension's seam is such
    a boundary. Steps that cross a boundary (into frames 1, 5, 9, ...) weigh ``boundary`` times more.
    """
    d_rec, d_x = rec[:, :, 1:] - rec[:, :, :-1], x[:, :, 1:] - x[:, :, :-1]
    w = torch.ones(d_x.shape[2], device=x.device)
    w[0::CausalVideoAutoencoder.T] = boundary
    w = w[None, None, :, None, None] * torch.maximum(weight[:, :, 1:], weight[:, :, :-1])
    return (w * (d_rec - d_x).abs()).mean()


def edge_loss(rec: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 between the spatial differences (across and down) of the decoded and the real frames.

    A reconstruction loss alone lets a decoder trained on noisy latents soften every edge by a
    pixel (objects a fifth larger at the evaluator's threshold, triangles read as circles); this
    asks for the real edge's step directly."""
    total = rec.new_zeros(())
    for dim in (-1, -2):
        d_rec, d_x = rec.diff(dim=dim), x.diff(dim=dim)
        n = d_x.shape[dim]
        w = torch.maximum(weight.narrow(dim, 0, n), weight.narrow(dim, 1, n))
        total = total + (w * (d_rec - d_x).abs()).mean()
    return total


def refine_decoder(ae, gen, steps, batch, device, lr=1e-3, temporal=0.0, boundary=4.0,
                   noise=LATENT_NOISE, edge=0.0):
    """Train the decoder alone against the frozen encoder.

    The latent space the DiT learned stays fixed, so this only sharpens what the decoder draws
    from it (edges and corners decide the shape score) and can run after the DiT has trained.
    ``temporal`` > 0 adds :func:`temporal_loss` so chunk boundaries do not jump; ``edge`` > 0
    adds :func:`edge_loss`; ``noise`` is the sigma of the latent noise the decoder learns to forgive.
    """
    for p in ae.parameters():
        p.requires_grad_(False)
    dec = [ae.dec_first, ae.dec_step, ae.frame_dec]
    params = [p for m in dec for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = warmup_cosine(opt, steps, warm=20)
    bg = torch.tensor(world.BACKGROUND, device=device) * 2 - 1
    t0 = time.time()
    for step in range(steps):
        x, _ = random_clips(gen, batch, frames=9)
        x = x.to(device)
        with torch.no_grad():
            z = ae.encode(x)
        rec = ae.decode(z + torch.randn(z.shape, generator=gen).to(device) * noise)
        obj = ((x - bg[None, :, None, None, None]).abs().amax(1, keepdim=True) > 0.05).float()
        weight = 1.0 + 9.0 * obj
        loss = (weight * (rec - x).abs()).mean()
        if edge:
            loss = loss + edge * edge_loss(rec, x, weight)
        if temporal:
            loss = loss + temporal * temporal_loss(rec, x, weight, boundary)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"decoder refine step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    for p in ae.parameters():
        p.requires_grad_(True)
    return ae


@torch.no_grad()
def encode_dataset(ae, gen, n, device, chunk=64):
    lat, labels, masks = [], [], []
    for i in range(0, n, chunk):
        x, lab = random_clips(gen, min(chunk, n - i))
        lat.append(ae.encode(x.to(device)).cpu())
        labels.append(torch.stack(lab, dim=1))
        masks.append(object_mask(x))
    return torch.cat(lat), torch.cat(labels), torch.cat(masks)


def held_groups(x: torch.Tensor, t: int = 4) -> torch.Tensor:
    """Pixel clips [B,3,1+t*k,H,W] with every group of t frames after the first replaced by its
    last frame held t times: what a keyframe image becomes before it is encoded."""
    last = x[:, :, t::t]
    return torch.cat([x[:, :, :1], last.repeat_interleave(t, dim=2)], dim=2)


def logit_normal(gen, n, mean=0.0):
    return torch.sigmoid(torch.randn(n, generator=gen) + mean)


def object_mask(x: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel clips [B,3,F,H,W] -> bool [B,1,f,H/4,W/4]: latent pixels whose 4x4 area (over the
    causal frame group: frame 0 alone, then groups of 4) shows the object, grown by one pixel.
    ``background`` [B,3] (0..1): each clip's own, where it is not the world's."""
    bg = torch.tensor(world.BACKGROUND)[None].expand(len(x), 3) if background is None else background
    bg = bg.to(x.device) * 2 - 1
    obj = ((x - bg[:, :, None, None, None]).abs().amax(1, keepdim=True) > 0.05).float()
    first = F.max_pool3d(obj[:, :, :1], (1, 4, 4))
    rest = F.max_pool3d(obj[:, :, 1:], (4, 4, 4))
    lat = torch.cat([first, rest], dim=2)
    return F.max_pool3d(lat, (1, 3, 3), stride=1, padding=(0, 1, 1)) > 0


def context_mask(gen: torch.Generator, batch: int, f: int, policy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Which latent frames of each sample are given clean (sigma 0, no loss), and which of those
    are keyframes (an image held over its latent frame's group, as kino encodes a keyframe):
    two bool [batch, f].

    ``prefix_suffix`` (the main stage): a prefix (extend forward, animate) on 30% of samples, a
    suffix (extend backward) on 10%. ``anywhere`` (the context refinement): a prefix on 20%, a
    suffix on 20%, both ends (bridge, loop) on 15%, single frames anywhere (keyframes; frame 0
    among them half the time) on 10%, text alone on the rest (35%). At least one frame is always
    left to make. (With a suffix on 10% the refined model extended backwards with larger seams
    than before the refinement.)"""
    r = torch.rand(batch, generator=gen)
    k = torch.randint(1, f, (batch,), generator=gen)
    idx = torch.arange(f)[None, :]
    if policy == "prefix_suffix":
        prefix = (r < 0.3)[:, None] & (idx < k[:, None])
        suffix = ((r >= 0.3) & (r < 0.4))[:, None] & (idx >= (f - k)[:, None])
        return prefix | suffix, torch.zeros(batch, f, dtype=torch.bool)
    if policy != "anywhere":
        raise ValueError(f"unknown context policy {policy!r}")
    # Both ends: k1 frames at the start and k2 at the end, k1 + k2 <= f - 1.
    k1 = torch.randint(1, max(f - 1, 2), (batch,), generator=gen).clamp(max=f - 2)
    k2 = (torch.rand(batch, generator=gen) * (f - 1 - k1)).floor().long() + 1
    picks = torch.rand(batch, f, generator=gen) < 0.25
    with_first = torch.rand(batch, generator=gen) < 0.5
    prefix = (r < 0.2)[:, None] & (idx < k[:, None])
    suffix = ((r >= 0.2) & (r < 0.4))[:, None] & (idx >= (f - k)[:, None])
    both = ((r >= 0.4) & (r < 0.55))[:, None] & ((idx < k1[:, None]) | (idx >= (f - k2)[:, None]))
    keys = ((r >= 0.55) & (r < 0.65))[:, None] & (picks | (with_first[:, None] & (idx == 0)))
    mask = prefix | suffix | both | keys
    # Never every frame: the last frame of a fully given sample is made.
    full = mask.all(dim=1)
    mask[full, -1] = False
    return mask, keys & mask & (idx > 0)


def prefix_where_needed(context: torch.Tensor, needs: torch.Tensor, gen: torch.Generator,
                        first_only: bool = False) -> torch.Tensor:
    """Context masks [batch, f] where the samples that ``needs`` [batch] some context and drew
    none get a prefix of 1..f-1 frames instead (``first_only``: frame 0 alone, as a still to
    animate is given)."""
    batch, f = context.shape
    k = torch.randint(1, f, (batch,), generator=gen)
    if first_only:
        k = torch.ones_like(k)
    alone = needs & ~context.any(dim=1)
    return torch.where(alone[:, None], torch.arange(f)[None, :] < k[:, None], context)


def loss_weights(context: torch.Tensor, obj: torch.Tensor, needs: torch.Tensor | None = None,
                 needs_weight: float = 1.0) -> torch.Tensor:
    """Per-latent-pixel loss weights [B,1,f,h,w] from the context mask [B,f] and the object mask
    [B,1,f,h,w]: none on given frames; four times more on the object's pixels (most of a frame is
    background, and the object's outline, a square's corners, is what decides its shape); and
    ``needs_weight`` times more on the samples ``needs`` [B] marks (clips from outside the world)."""
    w = (~context).float()[:, None, :, None, None] * (1.0 + 3.0 * obj.float())
    if needs is not None and needs_weight != 1.0:
        w = w * torch.where(needs, needs_weight, 1.0)[:, None, None, None, None]
    return w


def train_dit(dit, te, tok, latents, labels, masks, gen, steps, batch, device, lr=8e-4, warm=200, high_noise=0.0,
              context_policy="prefix_suffix", held=None, given=None, needs_context=None,
              needs_first_only=False, needs_weight=1.0):
    """Flow matching with CFG dropout and clean-context frames (``context_mask``). ``high_noise``:
    the share of samples whose sigma is drawn from a logit-normal shifted towards noise, where
    layout and motion are decided. ``held``: the clips' latents with each group held still on its
    last frame (``held_groups``), given in place of keyframes. ``given``: the latents shown as
    context (codec losses on the frames a user gives), the loss still on the clean clip's frames.
    ``needs_context`` [n] bool: clips never learnt from text alone (looks from outside the world,
    which the text does not say); where their sample drew text alone they get a prefix
    (``needs_first_only``: frame 0 alone), and their loss weighs ``needs_weight`` times more."""
    params = list(dit.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = warmup_cosine(opt, steps, warm=warm)
    ema_dit, ema_te = copy.deepcopy(dit).eval(), copy.deepcopy(te).eval()
    n = latents.shape[0]
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(n, (batch,), generator=gen)
        x0 = latents[idx]
        lab = labels[idx]
        # Windows of 3..5 latent frames (9..17 pixel frames), always starting at the causal first frame.
        f = int(torch.multinomial(torch.tensor([0.15, 0.15, 0.7]), 1, generator=gen)) + 3
        x0 = x0[:, :, :f].to(device)
        obj = masks[idx][:, :, :f].to(device)
        variants = torch.randint(6, (batch,), generator=gen)
        prompts = [world.prompt_for(int(c), int(s), int(m), int(v)) for (c, s, m), v in zip(lab.tolist(), variants)]
        drop = torch.rand(batch, generator=gen) < 0.1
        prompts = ["" if d else p for p, d in zip(prompts, drop.tolist())]
        ids, mask = encode_batch(tok, prompts)
        ids, mask = ids.to(device), mask.to(device)

        sigma = logit_normal(gen, batch)
        if high_noise > 0:
            pick = torch.rand(batch, generator=gen) < high_noise
            sigma = torch.where(pick, logit_normal(gen, batch, mean=1.0), sigma)
        sigma = sigma[:, None].expand(batch, f).clone()
        context, still = context_mask(gen, batch, f, context_policy)
        if needs_context is not None:
            context = prefix_where_needed(context, needs_context[idx], gen, needs_first_only)
        if given is not None:
            x0 = torch.where(context.to(device)[:, None, :, None, None], given[idx][:, :, :f].to(device), x0)
        if held is not None:
            x0 = torch.where(still.to(device)[:, None, :, None, None], held[idx][:, :, :f].to(device), x0)
        sigma[context] = 0.0
        sigma = sigma.to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        s5 = sigma[:, None, :, None, None]
        xt = (1 - s5) * x0 + s5 * noise
        target = noise - x0
        emb = te(ids, mask)
        v = dit(xt, sigma * 1000.0, emb, mask)
        needs = None if needs_context is None else needs_context[idx].to(device)
        w = loss_weights(context.to(device), obj, needs, needs_weight)
        loss = (((v - target) ** 2) * w).sum() / (w.sum() * x0.shape[1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(list(ema_dit.parameters()) + list(ema_te.parameters()), params):
                e.lerp_(p, 1 - decay)
        if step % 200 == 0 or step == steps - 1:
            log(f"dit step {step}/{steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} ({time.time() - t0:.0f}s)")
    return ema_dit, ema_te


def flow_sigmas(steps: int, shift: float, train_steps: int = 1000) -> torch.Tensor:
    """diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps(steps) sigmas (static shift),
    including its quirk of shifting sigma_min twice; ends with 0."""
    def shifted(s):
        return shift * s / (1 + (shift - 1) * s)
    sigma_min = shifted(torch.tensor(1.0 / train_steps, dtype=torch.float64))
    sig = torch.linspace(1.0, float(sigma_min), steps, dtype=torch.float64)
    sig = shifted(sig).float()
    return torch.cat([sig, torch.zeros(1)])


@torch.no_grad()
def sample(dit, te, tok, ae, prompts, stats, gen, steps=20, guidance=4.0, shift=1.0, device="cpu"):
    """Reference sampler (flow-match Euler + CFG), the same math the engine runs."""
    mean, std = stats
    b = len(prompts)
    ids, mask = encode_batch(tok, list(prompts) + [""] * b)
    emb = te(ids.to(device), mask.to(device))
    x = torch.randn((b, CONFIG["latent_channels"], 5, 16, 16), generator=gen).to(device)
    sig = flow_sigmas(steps, shift)
    for i in range(steps):
        t = torch.full((2 * b, 5), float(sig[i]) * 1000.0, device=device)
        v = dit(torch.cat([x, x]), t, emb, mask.to(device))
        vc, vu = v[:b], v[b:]
        v = vu + guidance * (vc - vu)
        x = x + (sig[i + 1] - sig[i]) * v
    z = x * std[None, :, None, None, None] + mean[None, :, None, None, None]
    return ae.decode(z)


def quick_eval(dit, te, tok, ae, stats, seed, device, guidance=4.0, shift=1.0):
    gen = torch.Generator().manual_seed(seed)
    scenes = world.all_scenes()
    rows = []
    for i in range(0, len(scenes), 40):
        chunk = scenes[i:i + 40]
        video = sample(dit, te, tok, ae, [s.prompt() for s in chunk], stats, gen, guidance=guidance,
                       shift=shift, device=device)
        frames = ((video.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1).cpu().numpy()
        frames = np.round(frames * 255) / 255
        rows += [score(s, detect(f)) for s, f in zip(chunk, frames)]
    return summarise(rows)


def ae_eval(ae, seed, device, n=120):
    """Upper bound set by the autoencoder: detect on reconstructions of real clips."""
    gen = torch.Generator().manual_seed(seed)
    x, (c, s, m) = random_clips(gen, n)
    with torch.no_grad():
        rec = ae.decode(ae.encode(x.to(device)))
    frames = ((rec.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1).cpu().numpy()
    rows = [score(world.Scene(world.COLOUR_NAMES[ci], world.SHAPES[si], world.MOTION_NAMES[mi]), detect(f))
            for ci, si, mi, f in zip(c.tolist(), s.tolist(), m.tolist(), frames)]
    return summarise(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kino_export demo train")
    ap.add_argument("--out", default="exporter/runs/demo")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--vae-steps", type=int, default=600)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--clips", type=int, default=6000)
    ap.add_argument("--dit-steps", type=int, default=6000)
    ap.add_argument("--dit-batch", type=int, default=32)
    ap.add_argument("--continue-steps", type=int, default=0)
    ap.add_argument("--high-noise", type=float, default=0.3)
    ap.add_argument("--refine-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    gen = torch.Generator().manual_seed(a.seed)
    tok = build_tokenizer()
    t_start = time.time()

    ae = CausalVideoAutoencoder(CONFIG["latent_channels"]).to(a.device)
    log(f"autoencoder: {sum(p.numel() for p in ae.parameters()) / 1e6:.2f}M params")
    train_autoencoder(ae, gen, a.vae_steps, a.vae_batch, a.device)
    ae.eval()
    log(f"autoencoder reconstruction adherence: {ae_eval(ae, a.seed + 1, a.device)}")

    latents, labels, masks = encode_dataset(ae, gen, a.clips, a.device)
    mean = latents.mean(dim=(0, 2, 3, 4))
    std = latents.std(dim=(0, 2, 3, 4))
    latents = (latents - mean[None, :, None, None, None]) / std[None, :, None, None, None]
    log(f"encoded {a.clips} clips; latent mean {mean.tolist()} std {std.tolist()}")

    te = TextEncoder(len(world.SPECIAL) + len(world.WORDS), CONFIG["text_dim"]).to(a.device)
    dit = DiT(CONFIG["latent_channels"], CONFIG["patch"], CONFIG["dit_dim"], CONFIG["dit_layers"],
              CONFIG["dit_heads"], CONFIG["text_dim"]).to(a.device)
    log(f"dit: {sum(p.numel() for p in dit.parameters()) / 1e6:.2f}M params; text encoder "
        f"{sum(p.numel() for p in te.parameters()) / 1e6:.2f}M")
    ema_dit, ema_te = train_dit(dit, te, tok, latents, labels, masks, gen, a.dit_steps, a.dit_batch, a.device,
                                high_noise=a.high_noise)
    ck = {"config": CONFIG, "ae": ae.state_dict(), "dit": ema_dit.state_dict(), "te": ema_te.state_dict(),
          "latent_mean": mean.tolist(), "latent_std": std.tolist(), "seed": a.seed, "args": vars(a),
          "train_seconds": time.time() - t_start}
    torch.save(ck, os.path.join(a.out, "stage1.pt"))
    t_cont = time.time()
    ema_dit, ema_te = continue_dit(ck, ae, ema_dit, ema_te, a.continue_steps, a.dit_batch, a.clips, a.device)
    ck["train_seconds"] += time.time() - t_cont
    finish(ck, ae, ema_dit, ema_te, a.refine_steps, a.vae_batch, a.device, a.out, time.time())


def continue_dit(ck, ae, dit, te, steps, batch, clips, device, seed_offset=4):
    """Stage 2: more DiT steps on fresh clips (own seed), weighted towards high noise, at a lower rate."""
    if not steps:
        return dit, te
    gen = torch.Generator().manual_seed(ck["seed"] + seed_offset)
    latents, labels, masks = encode_dataset(ae, gen, clips, device)
    mean, std = torch.tensor(ck["latent_mean"]), torch.tensor(ck["latent_std"])
    latents = (latents - mean[None, :, None, None, None]) / std[None, :, None, None, None]
    dit.train()
    te.train()
    dit, te = train_dit(dit, te, build_tokenizer(), latents, labels, masks, gen, steps, batch, device, lr=4e-4, warm=50,
                        high_noise=0.5)
    ck["continue_steps"] = ck.get("continue_steps", 0) + steps
    return dit, te


def continue_main(argv=None):
    """Run stage 2 (and the decoder refinement) on a stage-1 checkpoint."""
    from .export import load_checkpoint
    ap = argparse.ArgumentParser(prog="kino_export demo continue")
    ap.add_argument("--run", default="exporter/runs/demo")
    ap.add_argument("--from", dest="src", default="stage1.pt")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--refine-steps", type=int, default=300)
    ap.add_argument("--seed-offset", type=int, default=4, help="data seed = training seed + this")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    ck, ae, te, dit = load_checkpoint(os.path.join(a.run, a.src))
    t0 = time.time()
    dit, te = continue_dit(ck, ae, dit, te, a.steps, a.batch, a.clips, "cpu", a.seed_offset)
    ck["train_seconds"] = ck.get("train_seconds", 0) + time.time() - t0
    finish(ck, ae, dit, te, a.refine_steps, 8, "cpu", a.run, time.time())


def finish(ck, ae, dit, te, refine_steps, batch, device, out, t_start):
    """Refine the decoder (its own seed, so it can also run as a separate stage), evaluate, save."""
    seed = ck["seed"]
    ck["dit"], ck["te"] = dit.state_dict(), te.state_dict()
    if refine_steps:
        refine_decoder(ae, torch.Generator().manual_seed(seed + 3), refine_steps, batch, device)
        ae.eval()
        ck["ae"] = ae.state_dict()
        ck["refine_steps"] = ck.get("refine_steps", 0) + refine_steps
        log(f"autoencoder reconstruction adherence after refinement: {ae_eval(ae, seed + 1, device)}")
    stats = (torch.tensor(ck["latent_mean"], device=device), torch.tensor(ck["latent_std"], device=device))
    scores = quick_eval(dit, te, build_tokenizer(), ae, stats, seed + 2, device)
    log(f"sampled adherence (120 scenes, torch sampler): {scores}")
    ck["scores"] = scores
    ck["train_seconds"] = ck.get("train_seconds", 0) + (time.time() - t_start)
    torch.save(ck, os.path.join(out, "checkpoint.pt"))
    with open(os.path.join(out, "train.json"), "w") as f:
        json.dump({k: ck[k] for k in ("args", "train_seconds", "scores", "seed") if k in ck}
                  | {"refine_steps": ck.get("refine_steps", 0)}, f, indent=1)
    log(f"done: {ck['train_seconds']:.0f}s of training in total -> {out}/checkpoint.pt")


def refine_main(argv=None):
    """Run (or repeat) the decoder refinement stage on a finished run."""
    from .export import load_checkpoint
    ap = argparse.ArgumentParser(prog="kino_export demo refine")
    ap.add_argument("--run", default="exporter/runs/demo")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    ck, ae, te, dit = load_checkpoint(os.path.join(a.run, "checkpoint.pt"))
    finish(ck, ae, dit, te, a.steps, a.batch, "cpu", a.run, time.time())

def refine_package_main(argv=None):
    """Refine the decoder of an exported package in place of its training run: the autoencoder
    is rebuilt from the package's ONNX graphs, the decoder trains with the temporal loss, and
    the package is rewritten with new decoder graphs (everything else byte for byte)."""
    from .. import manifest as kino_manifest
    from ..families.common import package_folder
    from .export import copy_package_files, export_decoder, load_autoencoder, read_manifest

    ap = argparse.ArgumentParser(prog="kino_export demo refine-package")
    ap.add_argument("--package", default="models/kino-shapes", help="package to read")
    ap.add_argument("--out", default=None, help="package to write (default: --package, replaced atomically)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--temporal", type=float, default=3.0, help="weight of the temporal-difference loss")
    ap.add_argument("--boundary", type=float, default=8.0, help="extra weight of steps across latent chunks")
    ap.add_argument("--seed-offset", type=int, default=7, help="data seed = the package's training seed + this")
    ap.add_argument("--latent-noise", type=float, default=LATENT_NOISE,
                    help="sigma of the latent noise the decoder learns to forgive")
    ap.add_argument("--edge", type=float, default=0.0, help="weight of the edge (spatial-difference) loss")
    ap.add_argument("--padding", choices=["zeros", "replicate"], default=None,
                    help="switch the decoder's convolutions to this padding before refining "
                         "(default: keep the package's)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    manifest = read_manifest(a.package)
    training = manifest.setdefault("training", {})
    seed = int(training.get("seed", 20261125))
    torch.manual_seed(seed + a.seed_offset)
    ae = load_autoencoder(a.package)
    if a.padding:
        ae.set_decoder_padding(a.padding)
    t0 = time.time()
    refine_decoder(ae, torch.Generator().manual_seed(seed + a.seed_offset), a.steps, a.batch, "cpu",
                   temporal=a.temporal, boundary=a.boundary, noise=a.latent_noise, edge=a.edge)
    ae.eval()
    seconds = time.time() - t0
    recon = ae_eval(ae, seed + 1, "cpu")
    log(f"autoencoder reconstruction adherence after refinement: {recon}")
    out = a.out or a.package
    with package_folder(out) as tmp:
        copy_package_files(a.package, tmp, ("vae_decoder_first.onnx", "vae_decoder_step.onnx"))
        export_decoder(ae, tmp)
        training["train_seconds"] = round(training.get("train_seconds", 0) + seconds)
        # The torch sampler's scores were measured with the old decoder: kept, but labelled so.
        if "sampled_adherence" in training:
            training["sampled_adherence_before_refinements"] = training.pop("sampled_adherence")
        training["decoder_padding"] = padding = ae.decoder_padding()
        training["decoder_refinements"] = training.get("decoder_refinements", []) + [
            {"steps": a.steps, "batch": a.batch, "temporal": a.temporal, "boundary": a.boundary,
             "padding": padding, "latent_noise": a.latent_noise, "edge": a.edge,
             "seed": seed + a.seed_offset, "seconds": round(seconds), "reconstruction_adherence": recon}]
        kino_manifest.write(tmp, manifest)
    log(f"refined the decoder in {seconds:.0f}s -> {out}")


if __name__ == "__main__":
    main()
