"""The LTX-Video wrapper graphs (kino component contract) and their shapes: see ``ltx.py``."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.export import Dim

F32, I64 = "float32", "int64"
# diffusers' LTX docs recommend this decode timestep for the timestep-conditioned (0.9.1+) VAE (the
# export example feeds it; the manifest states it).
DECODE_TIMESTEP = 0.05

# ---------------------------------------------------------------------------------------------
# Wrapper graphs (kino component contract). They compute in the weights' dtype (fp16 with
# --dtype fp16) but take and return float32/int64, so kino's contract does not change with it.


class TextEncoderGraph(nn.Module):
    def __init__(self, t5):
        super().__init__()
        self.t5 = t5

    def forward(self, input_ids, attention_mask):
        # T5 with the mask it is given. LTXPipeline._get_t5_prompt_embeds calls the encoder WITHOUT
        # one (real tokens attend to the padding too), which is T5 with an all-ones mask: the
        # manifest says so (text_encoder.attend_to_padding) and kino feeds ones. LTXConditionPipeline
        # passes the real mask (attend_to_padding false). Either way the real mask reaches the
        # transformer as text_mask.
        return self.t5(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()


class DenoiserGraph(nn.Module):
    """5-D latents in, 5-D velocity out; tokens in between are LTXPipeline._pack_latents' order.

    ``timestep`` is per token, ``[B, tokens]`` in the same (f, y, x) token order, handed to the
    transformer as LTXConditionPipeline hands it (``min(t, (1 - conditioning_mask) * 1000)``)."""

    def __init__(self, transformer):
        super().__init__()
        self.tr = transformer
        self.p = transformer.config.patch_size
        self.pt = transformer.config.patch_size_t

    def forward(self, latents, timestep, text_embeds, text_mask, video_coords):
        dt = self.tr.proj_in.weight.dtype
        b, c, f, h, w = latents.shape
        p, pt = self.p, self.pt
        # _pack_latents: [B,C,F,H,W] -> [B, F/pt * H/p * W/p, C*pt*p*p], token order (f, y, x).
        x = latents.reshape(b, c, f // pt, pt, h // p, p, w // p, p)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7).flatten(4, 7).flatten(1, 3)
        out = self.tr(hidden_states=x.to(dt), encoder_hidden_states=text_embeds.to(dt),
                      timestep=timestep,  # [B, tokens] float32; time_embed casts itself
                      encoder_attention_mask=text_mask,  # -> (1 - m) * -10000 bias inside the model
                      video_coords=video_coords,  # RoPE from kino's coordinates (transformer divides by base)
                      return_dict=False)[0]
        # _unpack_latents
        out = out.reshape(b, f // pt, h // p, w // p, -1, pt, p, p)
        out = out.permute(0, 4, 1, 5, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        return out.float()


class VaeDecoderGraph(nn.Module):
    """Denormalised latents (+ decode timestep) -> frames in [-1, 1].

    ``AutoencoderKLLTXVideo.decode`` without tiling is ``vae.decoder(z, temb)``. The clamp is what
    diffusers' video post-processing does before converting to [0, 1]; doing it here keeps the
    package convention (frames in [-1, 1]) for every consumer.
    """

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        self.conditioned = bool(vae.config.timestep_conditioning)

    def forward(self, latents, timestep=None):
        dt = self.vae.decoder.conv_in.conv.weight.dtype
        temb = timestep.to(dt) if self.conditioned else None
        return self.vae.decoder(latents.to(dt), temb).float().clamp(-1.0, 1.0)


class VaeEncoderGraph(nn.Module):
    """Frames -> posterior mean (un-normalised): the first ``latent_channels`` channels of the
    encoder output (DiagonalGaussianDistribution splits mean | logvar)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        self.c = vae.config.latent_channels

    def forward(self, frames):
        dt = self.vae.encoder.conv_in.conv.weight.dtype
        return self.vae.encoder(frames.to(dt))[:, : self.c].float()


# ---------------------------------------------------------------------------------------------
# What the graphs look like: one table drives the export (names, dynamic dims), the manifest's
# role maps and the validation of the written files.


def graph_io(timestep_conditioned: bool) -> dict:
    """{graph: {"inputs"|"outputs": [(role, name, dtype, dims)]}}; a str dim is dynamic, an int static,
    None static-but-model-dependent (channels)."""
    lat = ["batch", None, "latent_frames", "latent_h", "latent_w"]
    dec_in = [("latents", "latents", F32, lat)]
    if timestep_conditioned:
        dec_in.append(("timestep", "timestep", F32, ["batch"]))
    return {
        "text_encoder": {
            "inputs": [("input_ids", "input_ids", I64, ["batch", "text_len"]),
                       ("attention_mask", "attention_mask", I64, ["batch", "text_len"])],
            "outputs": [("text_embeds", "text_embeds", F32, ["batch", "text_len", None])]},
        "denoiser": {
            "inputs": [("latents", "latents", F32, lat),
                       ("timestep", "timestep", F32, ["batch", "tokens"]),
                       ("text_embeds", "text_embeds", F32, ["batch", "text_len", None]),
                       ("text_mask", "text_mask", I64, ["batch", "text_len"]),
                       ("video_coords", "video_coords", F32, ["batch", 3, "tokens"])],
            "outputs": [("velocity", "velocity", F32, lat)]},
        "vae_decoder": {
            "inputs": dec_in,
            "outputs": [("frames", "frames", F32, ["batch", 3, "frames", "height", "width"])]},
        "vae_encoder": {
            "inputs": [("frames", "frames", F32, ["batch", 3, "frames", "height", "width"])],
            "outputs": [("latents", "latents", F32, lat)]},
    }


def _dims() -> dict:
    # Latent sizes are multiples of the transformer patch (1 for every released checkpoint); pixel
    # frames follow the causal rule 1 + t*k. Example inputs use sizes > 1 everywhere: torch.export
    # specialises dims that are 0 or 1 in the example.
    return dict(b=Dim("batch", min=1, max=16), n=Dim("text_len", min=1, max=1024),
                fk=Dim("frame_patches", min=1, max=512), hk=Dim("row_patches", min=1, max=512),
                wk=Dim("col_patches", min=1, max=512), lf=Dim("latent_frames", min=1, max=512),
                lh=Dim("latent_h", min=1, max=512), lw=Dim("latent_w", min=1, max=512),
                k=Dim("frame_groups", min=1, max=511))


def text_encoder_spec(te):
    d = _dims()
    dev = te.device
    ids = torch.randint(3, 20, (2, 5), dtype=torch.int64, device=dev)
    mask = torch.ones_like(ids)
    mask[0, 3:] = 0  # a padded row: the example must not let tracing treat the mask as all ones
    return (TextEncoderGraph(te), (ids, mask),
            {"input_ids": {0: d["b"], 1: d["n"]}, "attention_mask": {0: d["b"], 1: d["n"]}})


def denoiser_spec(tr):
    d = _dims()
    dev = tr.proj_in.weight.device
    p, pt = tr.config.patch_size, tr.config.patch_size_t
    fk, hk, wk = 2, 3, 2
    # Per-token timesteps: the first latent frame's tokens are clean context (0).
    t = torch.full((2, fk * hk * wk), 500.0, device=dev)
    t[:, : hk * wk] = 0.0
    args = (torch.randn(2, tr.config.in_channels, pt * fk, p * hk, p * wk, device=dev),
            t, torch.randn(2, 5, tr.config.caption_channels, device=dev),
            torch.ones(2, 5, dtype=torch.int64, device=dev), torch.rand(2, 3, fk * hk * wk, device=dev))
    # timestep and video_coords have (F/pt)(h/p)(w/p) tokens: a product of dims, which Dim
    # arithmetic cannot express; Dim.AUTO lets torch.export derive it from the graph (it stays dynamic).
    return (DenoiserGraph(tr), args,
            {"latents": {0: d["b"], 2: pt * d["fk"], 3: p * d["hk"], 4: p * d["wk"]},
             "timestep": {0: d["b"], 1: Dim.AUTO},
             "text_embeds": {0: d["b"], 1: d["n"]}, "text_mask": {0: d["b"], 1: d["n"]},
             "video_coords": {0: d["b"], 2: Dim.AUTO}})


def vae_decoder_spec(vae):
    d = _dims()
    dev = vae.latents_mean.device
    lat = torch.randn(2, vae.config.latent_channels, 2, 3, 2, device=dev)
    dyn = {"latents": {0: d["b"], 2: d["lf"], 3: d["lh"], 4: d["lw"]}}
    if vae.config.timestep_conditioning:
        return VaeDecoderGraph(vae), (lat, torch.full((2,), DECODE_TIMESTEP, device=dev)), dyn | {"timestep": {0: d["b"]}}
    return VaeDecoderGraph(vae), (lat,), dyn


def vae_encoder_spec(vae):
    d = _dims()
    s, t = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    frames = torch.rand(2, 3, 1 + 2 * t, 3 * s, 2 * s, device=vae.latents_mean.device) * 2 - 1
    return (VaeEncoderGraph(vae), (frames,),
            {"frames": {0: d["b"], 2: t * d["k"] + 1, 3: s * d["lh"], 4: s * d["lw"]}})


def video_coords(latent_frames: int, latent_h: int, latent_w: int, spec: dict, batch: int = 1) -> np.ndarray:
    """[batch, 3, tokens] float32 exactly as the contract defines them from the manifest block
    (tokens in (f, y, x) row-major order of the patched latent grid). For tests and tools."""
    s_t, s_y, s_x = spec["scale"]
    f, y, x = np.meshgrid(np.arange(latent_frames), np.arange(latent_h), np.arange(latent_w), indexing="ij")
    t = np.maximum(f * s_t + spec.get("causal_offset", 0), 0).astype(np.float32) / np.float32(spec["frame_rate"])
    coords = np.stack([t, (y * s_y).astype(np.float32), (x * s_x).astype(np.float32)]).reshape(3, -1)
    return np.ascontiguousarray(np.broadcast_to(coords, (batch,) + coords.shape), dtype=np.float32)
