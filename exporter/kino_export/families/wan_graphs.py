"""The Wan2.1 wrapper graphs (kino component contract) and their shapes: see ``wan.py``.

The Wan VAE is causal: diffusers decodes one latent frame at a time (encodes 1, then 4 pixel
frames at a time) and threads a *feature cache* between chunks: for every temporal convolution the
last ``CACHE_T = 2`` frames of its input. The chunk graphs here run diffusers' own
``WanDecoder3d`` / ``WanEncoder3d`` forward with that cache as explicit graph inputs and outputs,
normalised to fixed shapes so that one ``step`` graph serves every chunk after the first:

* diffusers starts with no cache (``None``: the causal conv pads 2 zero frames) and keeps only one
  frame after the first chunk; a 2-frame cache whose missing frames are zeros is the same
  convolution, so the ``first`` graph pads its caches to 2 frames with zeros;
* the temporal upsamplers mark their slot ``"Rep"`` after the first chunk (which they do not
  upsample in time) and convolve the next chunk with zero padding: a zero cache again;
* the encoder's temporal downsamplers keep exactly one frame (their stride-2 convolution only
  ever looks one frame back), so those caches are ``[B, C, 1, h, w]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.export import Dim

F32, I64 = "float32", "int64"

# ---------------------------------------------------------------------------------------------
# Wrapper graphs (kino component contract). ``dtype`` is the compute dtype of the weights; graph
# inputs and outputs stay float32/int64 whatever it is, so kino's contract does not change.


def _dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


class TextEncoderGraph(nn.Module):
    """UMT5 with the attention mask, as WanPipeline._get_t5_prompt_embeds calls it. Zeroing the rows
    past the prompt's length is kino's job (manifest ``zero_past_length``)."""

    def __init__(self, umt5):
        super().__init__()
        self.umt5 = umt5

    def forward(self, input_ids, attention_mask):
        return self.umt5(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()


class DenoiserGraph(nn.Module):
    """5-D latents in, 5-D velocity out: WanTransformer3DModel patchifies (Conv3d) and unpatchifies
    itself; no text mask (Wan sees zero rows past the prompt instead)."""

    def __init__(self, transformer):
        super().__init__()
        self.tr = transformer

    def forward(self, latents, timestep, text_embeds):
        dt = self.tr.patch_embedding.weight.dtype  # (RoPE, time embedder and norms may stay float32)
        return self.tr(hidden_states=latents.to(dt), timestep=timestep, encoder_hidden_states=text_embeds.to(dt),
                       return_dict=False)[0].float()


@dataclass(frozen=True)
class CacheSlot:
    """One feature-cache slot of the Wan VAE, in diffusers' ``feat_idx`` order."""
    name: str      # the convolution's module path, e.g. "decoder.up_blocks.0.upsamplers.0.time_conv"
    channels: int
    frames: int    # 2 (CACHE_T), 1 for the encoder's temporal downsamplers
    scale: tuple   # (num, den): the slot's spatial size is the chunk input's size * num // den


class CausalChunkGraph(nn.Module):
    """One chunk of ``AutoencoderKLWan._decode`` / ``_encode`` with the feature cache as tensors.

    decoder: ``latents [B,C,1,h,w]`` (+ caches) -> ``frames [B,3,1|4,H,W]`` clamped to [-1, 1]
    (post_quant_conv, a 1x1x1 convolution, is applied per chunk: the same as on the whole clip).
    encoder: ``frames [B,3,1|4,H,W]`` (+ caches) -> ``latents [B,C,1,h,w]``, the posterior mode (the
    mean half of quant_conv's output).
    """

    def __init__(self, vae, part: str, first: bool, slots: list[CacheSlot]):
        super().__init__()
        assert part in ("decoder", "encoder")
        self.vae, self.part, self.first, self.slots = vae, part, first, list(slots)

    def forward(self, x, *caches):
        dt = _dtype(self.vae)
        x = x.to(dt)
        if self.first:
            feat = [None] * len(self.slots)
        else:
            feat = [c.to(dt) for c in caches]
        if self.part == "decoder":
            out = self.vae.decoder(self.vae.post_quant_conv(x), feat_cache=feat, feat_idx=[0], first_chunk=self.first)
            out = out.float().clamp(-1.0, 1.0)
        else:
            h = self.vae.quant_conv(self.vae.encoder(x, feat_cache=feat, feat_idx=[0]))
            out = h[:, : self.vae.config.z_dim].float()
        return (out, *[self._fixed(c, s, x).float() for c, s in zip(feat, self.slots)])

    @staticmethod
    def _fixed(cache, slot: CacheSlot, x):
        """diffusers' cache entry after a chunk -> the slot's fixed shape (see the module docstring)."""
        num, den = slot.scale
        if isinstance(cache, str):  # "Rep": a temporal upsampler after the first chunk
            return x.new_zeros(x.shape[0], slot.channels, slot.frames, x.shape[3] * num // den,
                               x.shape[4] * num // den)
        missing = slot.frames - cache.shape[2]
        if missing > 0:
            cache = torch.cat([cache.new_zeros(cache.shape[:2] + (missing,) + cache.shape[3:]), cache], dim=2)
        return cache


def cache_slots(vae, part: str) -> list[CacheSlot]:
    """The feature-cache slots of the decoder or encoder, found by running diffusers' chunk loop
    once eagerly (first chunk, then one step) on a small input and watching which temporal
    convolutions it calls, in order, and what it leaves in the cache."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d
    net = getattr(vae, part)
    dev, dt = next(vae.parameters()).device, _dtype(vae)
    if part == "decoder":
        size, first, step = 2, torch.zeros(1, vae.config.z_dim, 1, 2, 2), torch.zeros(1, vae.config.z_dim, 1, 2, 2)
    else:
        s = int(vae.config.scale_factor_spatial)
        size, first, step = 2 * s, torch.zeros(1, 3, 1, 2 * s, 2 * s), torch.zeros(1, 3, 4, 2 * s, 2 * s)
    names = {m: f"{part}.{n}" for n, m in net.named_modules() if isinstance(m, WanCausalConv3d)}
    order = []
    hooks = [m.register_forward_pre_hook(lambda m, a: order.append(names[m])) for m in names
             if m.kernel_size[0] > 1]  # 1x1x1 convolutions (shortcuts) take no cache
    try:
        with torch.no_grad():
            feat = [None] * len(names)
            kw = {"first_chunk": True} if part == "decoder" else {}
            net(first.to(dev, dt), feat_cache=feat, feat_idx=[0], **kw)
            order.clear()
            idx = [0]
            net(step.to(dev, dt), feat_cache=feat, feat_idx=idx)
    finally:
        for h in hooks:
            h.remove()
    if len(order) != idx[0]:
        raise RuntimeError(f"{part}: {idx[0]} cache slots but {len(order)} temporal convolutions ran")
    slots = []
    for name, c in zip(order, feat[: idx[0]]):
        if c.shape[3] >= size:
            scale = (c.shape[3] // size, 1)
        else:
            scale = (1, size // c.shape[3])
        slots.append(CacheSlot(name, int(c.shape[1]), int(c.shape[2]), scale))
    return slots


# ---------------------------------------------------------------------------------------------
# What the graphs look like: one table drives the export (names, dynamic dims), the manifest's
# role maps and the validation of the written files.


def graph_io(dec_slots: list[CacheSlot], enc_slots: list[CacheSlot]) -> dict:
    """{graph: {"inputs"|"outputs": [(role, name, dtype, dims)]}}; a str dim is dynamic, an int
    static, None static-but-model-dependent (channels, cache sizes)."""
    lat = ["batch", None, "latent_frames", "latent_h", "latent_w"]
    lat1 = ["batch", None, 1, "latent_h", "latent_w"]

    def caches(slots, direction):
        return [(f"cache_{direction}_{i}", f"cache_{direction}_{i}", F32, ["batch", s.channels, s.frames, None, None])
                for i, s in enumerate(slots)]

    def frames(n):
        return ("frames", "frames", F32, ["batch", 3, n, "height", "width"])

    return {
        "text_encoder": {
            "inputs": [("input_ids", "input_ids", I64, ["batch", "text_len"]),
                       ("attention_mask", "attention_mask", I64, ["batch", "text_len"])],
            "outputs": [("text_embeds", "text_embeds", F32, ["batch", "text_len", None])]},
        "denoiser": {
            "inputs": [("latents", "latents", F32, lat),
                       ("timestep", "timestep", F32, ["batch"]),
                       ("text_embeds", "text_embeds", F32, ["batch", "text_len", None])],
            "outputs": [("velocity", "velocity", F32, lat)]},
        "vae_decoder_first": {
            "inputs": [("latents", "latents", F32, lat1)],
            "outputs": [frames(1)] + caches(dec_slots, "out")},
        "vae_decoder_step": {
            "inputs": [("latents", "latents", F32, lat1)] + caches(dec_slots, "in"),
            "outputs": [frames(4)] + caches(dec_slots, "out")},
        "vae_encoder_first": {
            "inputs": [frames(1)],
            "outputs": [("latents", "latents", F32, lat1)] + caches(enc_slots, "out")},
        "vae_encoder_step": {
            "inputs": [frames(4)] + caches(enc_slots, "in"),
            "outputs": [("latents", "latents", F32, lat1)] + caches(enc_slots, "out")},
    }


def _dims(rope_max: int = 1024) -> dict:
    # Example inputs use sizes > 1 everywhere (torch.export specialises dims that are 0 or 1 in the
    # example). The transformer's RoPE tables hold rope_max_seq_len positions per axis (1024 for
    # real checkpoints), which bounds latent frames and patch rows/columns.
    return dict(b=Dim("batch", min=1, max=16), n=Dim("text_len", min=1, max=1024),
                lf=Dim("latent_frames", min=1, max=rope_max), hk=Dim("row_patches", min=1, max=rope_max),
                wk=Dim("col_patches", min=1, max=rope_max), lh=Dim("latent_h", min=1, max=1024),
                lw=Dim("latent_w", min=1, max=1024))


def text_encoder_spec(te):
    d = _dims()
    dev = te.device
    ids = torch.randint(3, 20, (2, 5), dtype=torch.int64, device=dev)
    mask = torch.ones_like(ids)
    mask[1, 3:] = 0
    return (TextEncoderGraph(te), (ids, mask),
            {"input_ids": {0: d["b"], 1: d["n"]}, "attention_mask": {0: d["b"], 1: d["n"]}})


def denoiser_spec(tr):
    cfg = tr.config
    d = _dims(int(cfg.rope_max_seq_len))
    dev = tr.patch_embedding.weight.device
    pt, ph, pw = cfg.patch_size
    args = (torch.randn(2, cfg.in_channels, 2 * pt, 3 * ph, 2 * pw, device=dev),
            torch.full((2,), 500.0, device=dev), torch.randn(2, 5, cfg.text_dim, device=dev))
    return (DenoiserGraph(tr), args,
            {"latents": {0: d["b"], 2: pt * d["lf"], 3: ph * d["hk"], 4: pw * d["wk"]}, "timestep": {0: d["b"]},
             "text_embeds": {0: d["b"], 1: d["n"]}})


def vae_chunk_spec(vae, part: str, first: bool, slots: list[CacheSlot]):
    d = _dims()
    dev, s = next(vae.parameters()).device, int(vae.config.scale_factor_spatial)
    lh, lw = 3, 2
    if part == "decoder":
        x = torch.randn(2, vae.config.z_dim, 1, lh, lw, device=dev)
        size, dyn_x = (lh, lw), {0: d["b"], 3: d["lh"], 4: d["lw"]}
    else:
        x = torch.rand(2, 3, 1 if first else int(vae.config.scale_factor_temporal), s * lh, s * lw, device=dev) * 2 - 1
        size, dyn_x = (s * lh, s * lw), {0: d["b"], 3: s * d["lh"], 4: s * d["lw"]}
    caches, dyn = [], [dyn_x]
    if not first:
        for sl in slots:
            (num, den) = sl.scale
            caches.append(torch.randn(2, sl.channels, sl.frames, size[0] * num // den, size[1] * num // den,
                                      device=dev))
            base = 1 if part == "decoder" else s
            # The cache's spatial size as an expression of the latent size: latent * (base*num/den).
            k = base * num // den if (base * num) % den == 0 else None
            if k is None:
                raise ValueError(f"{sl.name}: cache size is not a whole multiple of the latent size")
            dyn.append({0: d["b"], 3: d["lh"] if k == 1 else k * d["lh"], 4: d["lw"] if k == 1 else k * d["lw"]})
    # forward(x, *caches): torch.export sees two arguments, x and the tuple of caches.
    return CausalChunkGraph(vae, part, first, slots), (x, *caches), (dyn[0], tuple(dyn[1:])) if caches else (dyn[0],)
