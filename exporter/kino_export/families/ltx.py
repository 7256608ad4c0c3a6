"""LTX-Video (diffusers ``LTXPipeline``) -> kino model package.

    python -m kino_export ltx --from <diffusers LTX-Video folder> --out <package> [--dtype fp32|fp16]
                              [--max-length N]
    python -m kino_export ltx --tiny --out models/fixtures/ltx-tiny

The folder is diffusers' layout (``text_encoder/``, ``tokenizer/``, ``transformer/``, ``vae/``,
``scheduler/scheduler_config.json``), read offline with ``from_pretrained``. ``--tiny`` builds
random-weight components from small configs instead (the sizes of diffusers' own LTX tests), for
kino's parity fixtures.

Every graph is a thin wrapper with the signature of the kino component contract
(docs/model-package.md); everything LTX-specific that kino must not know about (patchifying the
latents into tokens, the T5 mask -> attention bias, RoPE from explicit coordinates, the VAE's own
patching) happens inside the wrappers. What stays outside, in kino, is exactly what
``LTXPipeline.__call__`` does around the modules: tokenize, CFG over a [negative, positive]
batch, the FlowMatchEuler schedule, latent (de)normalisation, the decode-timestep noise mix.

The denoiser takes one timestep per token (``timestep_shape: "per_token"``), as
``LTXConditionPipeline`` feeds the transformer: clean context tokens (frames kino continues from)
sit at timestep 0 while the rest are denoised (``conditioning.clean_context``). For plain
text-to-video kino repeats the step's timestep over every token, which is what ``LTXPipeline``'s
[B] timestep broadcasts to inside the transformer.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
from torch.export import Dim

from .. import onnx_export
from ..onnx_export import check_graph, roles
from .common import Components, check_layout, package_folder, write_manifest

F32, I64 = "float32", "int64"
FAMILY = "ltx-video"

# LTXPipeline.__call__ defaults (diffusers 0.42.1).
FRAME_RATE = 25.0
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 3.0
# diffusers' LTX docs recommend these for the timestep-conditioned (0.9.1+) VAE; the pipeline's own
# default (decode_timestep 0, noise = decode_timestep) is only meant for 0.9.0.
DECODE_TIMESTEP = 0.05
DECODE_NOISE_SCALE = 0.025
# LTXConditionPipeline's image_cond_noise_scale default.
CONTEXT_NOISE_SCALE = 0.15

# The real checkpoint's scheduler/scheduler_config.json (LTX-Video 0.9.x), used for --tiny too so
# the fixtures exercise the schedule kino runs for real packages.
REAL_SCHEDULER_CONFIG = {
    "_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 1.0,
    "use_dynamic_shifting": True, "base_shift": 0.95, "max_shift": 2.05, "base_image_seq_len": 1024,
    "max_image_seq_len": 4096, "shift_terminal": 0.1, "invert_sigmas": False, "use_karras_sigmas": False,
    "use_exponential_sigmas": False, "use_beta_sigmas": False, "time_shift_type": "exponential",
    "stochastic_sampling": False,
}

# Tiny random-weight components. Transformer and T5 sizes follow diffusers'
# tests/pipelines/ltx/test_ltx.py; the VAE is made 0.9.1-like (timestep-conditioned decoder with
# residual depth-to-space upsamplers, VAE patch size 2) so the graphs exercise the paths real
# checkpoints take, at 8 (encoder) / 8-16 (decoder) channels.
TINY_SEED = 0
TINY_TRANSFORMER = dict(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
                        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=8,
    block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, False, False),
    decoder_block_out_channels=(8, 16), decoder_layers_per_block=(1, 1, 1),
    decoder_spatio_temporal_scaling=(True, True), decoder_inject_noise=(False, False, False),
    upsample_residual=(True, True), upsample_factor=(2, 2),
    timestep_conditioning=True, patch_size=2, patch_size_t=1, encoder_causal=True, decoder_causal=False,
)
TINY_T5 = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
               relative_attention_max_distance=32, feed_forward_proj="gated-gelu", dropout_rate=0.0,
               is_encoder_decoder=False, use_cache=False, pad_token_id=0, eos_token_id=1)
TINY_MAX_LENGTH = 16
REAL_MAX_LENGTH = 128


# ---------------------------------------------------------------------------------------------
# Components


def tiny_transformer():
    from diffusers import LTXVideoTransformer3DModel
    torch.manual_seed(TINY_SEED)
    return LTXVideoTransformer3DModel(**TINY_TRANSFORMER)


def tiny_vae():
    from diffusers import AutoencoderKLLTXVideo
    torch.manual_seed(TINY_SEED)
    vae = AutoencoderKLLTXVideo(**TINY_VAE)
    # Real checkpoints carry per-channel statistics in these buffers; random ones make the
    # fixtures test kino's (de)normalisation instead of a no-op.
    g = torch.Generator().manual_seed(TINY_SEED + 1)
    c = TINY_VAE["latent_channels"]
    vae.latents_mean.copy_(torch.randn(c, generator=g) * 0.5)
    vae.latents_std.copy_(0.5 + torch.rand(c, generator=g))
    # Fixture-only choice: a (numerically) deterministic posterior. The encoder's conv_out has
    # latent_channels + 1 outputs; the last one is the log-variance shared by every channel
    # (LTXVideoEncoder3d repeats it). Weights 0 and bias -30 make logvar = -30 everywhere (the
    # bottom of DiagonalGaussianDistribution's clamp), std = exp(-15) ~ 3e-7, so the posterior
    # *sample* diffusers' LTXConditionPipeline draws (retrieve_latents) equals the *mode* kino's
    # encoder graph returns, to ~1e-6. Real checkpoints are trained to a small variance anyway.
    with torch.no_grad():
        conv = vae.encoder.conv_out.conv
        conv.weight[c].zero_()
        conv.bias[c].fill_(-30.0)
    return vae


def tiny_text_encoder():
    from transformers import T5Config, T5EncoderModel
    from . import t5_tokenizer
    torch.manual_seed(TINY_SEED)
    return T5EncoderModel(T5Config(vocab_size=t5_tokenizer.vocab_size(), **TINY_T5))


def tiny_components() -> Components:
    return Components(tiny_text_encoder(), tiny_transformer(), tiny_vae(), dict(REAL_SCHEDULER_CONFIG), None,
                      name="ltx-tiny", tiny=True,
                      description="LTX-Video architecture with tiny random weights (kino parity fixture; "
                                  "produces noise, not video)")


def load_components(folder: str, dtype: torch.dtype) -> Components:
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import T5EncoderModel
    folder = os.path.abspath(folder)
    # tokenizer/: tokenizer.json, or spiece.model to convert (without either, transformers would
    # make an empty-vocabulary T5 tokenizer and the package would tokenize every word to <unk>).
    check_layout(folder, ["text_encoder/config.json", "transformer/config.json", "vae/config.json",
                          "scheduler/scheduler_config.json", ("tokenizer/tokenizer.json", "tokenizer/spiece.model")],
                 "LTX-Video")
    te = T5EncoderModel.from_pretrained(os.path.join(folder, "text_encoder"), torch_dtype=dtype, local_files_only=True)
    tr = LTXVideoTransformer3DModel.from_pretrained(os.path.join(folder, "transformer"), torch_dtype=dtype,
                                                    local_files_only=True)
    # Loaded in float32 so the latent statistics reach the manifest unrounded, then cast.
    vae = AutoencoderKLLTXVideo.from_pretrained(os.path.join(folder, "vae"), torch_dtype=torch.float32,
                                                local_files_only=True)
    latent_stats = (vae.latents_mean.tolist(), vae.latents_std.tolist())
    vae = vae.to(dtype)
    with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
        sched = json.load(f)
    tok = os.path.join(folder, "tokenizer", "tokenizer.json")
    tok = tok if os.path.isfile(tok) else os.path.join(folder, "tokenizer")
    if any(vae.config.decoder_inject_noise):
        # 0.9.0's decoder adds fresh noise inside some resnets: the graph keeps it (RandomNormal), so
        # decoding is not deterministic there, exactly as in diffusers.
        warnings.warn("vae.config.decoder_inject_noise: the decoder graph draws its own noise")
    name = os.path.basename(folder.rstrip("/")) or "ltx-video"
    comp = Components(te, tr, vae, sched, tok, name=name, tiny=False,
                      description=f"LTX-Video exported from {name} (diffusers layout)")
    comp.latent_stats = latent_stats
    return comp


def kino_scheduler(cfg: dict) -> dict:
    """A diffusers FlowMatchEulerDiscreteScheduler config -> the manifest's ``scheduler`` object.

    ``sigma_schedule`` is not in the diffusers config: it is what ``LTXPipeline`` hands to
    ``set_timesteps`` (``sigmas=np.linspace(1, 1/N, N)``, plus ``mu`` from the sequence length).
    """
    cls = cfg.get("_class_name", "FlowMatchEulerDiscreteScheduler")
    if cls != "FlowMatchEulerDiscreteScheduler":
        raise ValueError(f"scheduler {cls}: only FlowMatchEulerDiscreteScheduler is supported for LTX-Video")
    for flag in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas",
                 "stochastic_sampling"):
        if cfg.get(flag):
            raise ValueError(f"scheduler_config.json sets {flag}, which kino does not implement")
    out = {"kind": "flow_match_euler",
           "num_train_timesteps": int(cfg.get("num_train_timesteps", 1000)),
           "shift": float(cfg.get("shift", 1.0)),
           "use_dynamic_shifting": bool(cfg.get("use_dynamic_shifting", False)),
           # LTXPipeline reads these with these fallbacks when it computes mu.
           "base_shift": float(cfg.get("base_shift", 0.5)),
           "max_shift": float(cfg.get("max_shift", 1.15)),
           "base_image_seq_len": int(cfg.get("base_image_seq_len", 256)),
           "max_image_seq_len": int(cfg.get("max_image_seq_len", 4096)),
           "time_shift_type": cfg.get("time_shift_type", "exponential"),
           "sigma_schedule": "linspace_1_to_1_over_n"}
    if cfg.get("shift_terminal"):
        out["shift_terminal"] = float(cfg["shift_terminal"])
    return out


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


def latent_facts(vae, transformer) -> dict:
    s, t = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    p, pt = int(transformer.config.patch_size), int(transformer.config.patch_size_t)
    return {"spatial": s, "temporal": t, "patch": p, "patch_t": pt}


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


GRAPHS = ("text_encoder", "denoiser", "vae_decoder", "vae_encoder")


def graph_spec(comp: Components, graph: str):
    """(wrapper module, example args, dynamic shapes) of one graph."""
    return {"text_encoder": lambda: text_encoder_spec(comp.text_encoder),
            "denoiser": lambda: denoiser_spec(comp.transformer),
            "vae_decoder": lambda: vae_decoder_spec(comp.vae),
            "vae_encoder": lambda: vae_encoder_spec(comp.vae)}[graph]()


def io_names(io: dict, graph: str) -> tuple[list, list]:
    return [e[1] for e in io[graph]["inputs"]], [e[1] for e in io[graph]["outputs"]]


def export_graphs(comp: Components, folder: str, graphs=GRAPHS, check: bool = True) -> dict:
    """Export the wrapper graphs into ``folder`` and validate them; returns {graph: path}."""
    io = graph_io(bool(comp.vae.config.timestep_conditioning))
    paths = {}
    for g in graphs:
        module, args, dyn = graph_spec(comp, g)
        i, o = io_names(io, g)
        paths[g] = onnx_export.export(module, args, os.path.join(folder, f"{g}.onnx"), i, o, dyn)
        if check:
            check_graph(paths[g], io[g])
    return paths


def build_manifest(comp: Components, max_length: int) -> dict:
    tr, vae, te = comp.transformer, comp.vae, comp.text_encoder
    f = latent_facts(vae, tr)
    cond = bool(vae.config.timestep_conditioning)
    io = graph_io(cond)
    text_dim = int(te.config.d_model)
    if text_dim != tr.config.caption_channels:
        raise ValueError(f"text encoder d_model {text_dim} != transformer caption_channels {tr.config.caption_channels}")
    if (f["patch"], f["patch_t"]) != (1, 1):
        # kino sizes the per-token inputs (timestep, video_coords) F*h*w over the unpacked latents.
        raise ValueError(f"transformer patch sizes {f['patch_t']}x{f['patch']}x{f['patch']}: kino's per-token "
                         "inputs need patch_size = patch_size_t = 1 (every released LTX-Video checkpoint)")
    multiple = f["spatial"] * f["patch"]
    if comp.tiny:
        video = {"fps": FRAME_RATE, "default_width": 4 * multiple, "default_height": 4 * multiple,
                 "default_frames": 1 + 2 * f["temporal"], "size_multiple": multiple, "min_size": multiple,
                 "max_size": 32 * multiple, "max_frames": 1 + 8 * f["temporal"]}
    else:
        # LTXPipeline's defaults (704x480, 161 frames); the model card: sizes divisible by 32 up to
        # 1280, up to 257 frames.
        video = {"fps": FRAME_RATE, "default_width": 704, "default_height": 480, "default_frames": 161,
                 "size_multiple": multiple, "min_size": multiple, "max_size": 1280,
                 "max_frames": 1 + 32 * f["temporal"]}
    vae_decoder = {"kind": "whole_clip", "file": "vae_decoder.onnx", "inputs": roles(io["vae_decoder"]["inputs"]),
                   "outputs": roles(io["vae_decoder"]["outputs"]), "timestep_conditioned": cond}
    if cond:
        vae_decoder.update(decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE)
    # The float32 statistics of an fp16 export (see load_components), else the VAE's buffers.
    stats = getattr(comp, "latent_stats", None) or (vae.latents_mean.float().tolist(), vae.latents_std.float().tolist())
    return {
        "schema_version": 1,
        "name": comp.name,
        "family": FAMILY,
        "description": comp.description,
        "video": video,
        "latent": {"channels": int(tr.config.in_channels), "spatial_compression": f["spatial"],
                   "temporal_compression": f["temporal"], "causal_first_frame": True,
                   "mean": [float(x) for x in stats[0]],
                   "std": [float(x) for x in stats[1]],
                   "scaling_factor": float(vae.config.scaling_factor)},
        "tokenizer": {"file": "tokenizer.json", "max_length": max_length, "padding": "max_length", "clean": "none"},
        # attend_to_padding: kino feeds the graph an all-ones attention mask, LTXPipeline's unmasked T5.
        "text_encoder": {"file": "text_encoder.onnx", "text_dim": text_dim, "zero_past_length": False,
                         "attend_to_padding": True,
                         "inputs": roles(io["text_encoder"]["inputs"]),
                         "outputs": roles(io["text_encoder"]["outputs"])},
        # Per-token timesteps: kino gives clean context tokens timestep 0 (LTXConditionPipeline).
        # The graph's token count is (F/pt)(h/p)(w/p); kino sizes it F*h*w, the same for patch 1
        # (every released LTX-Video checkpoint).
        "denoiser": {"file": "denoiser.onnx", "timestep_shape": "per_token", "text_dim": text_dim,
                     "max_batch": 2,  # LTXPipeline batches [negative, positive]
                     "inputs": roles(io["denoiser"]["inputs"]), "outputs": roles(io["denoiser"]["outputs"]),
                     # RoPE coordinates per token (f, y, x): [max(f*s_t + causal_offset, 0) / frame_rate,
                     # y*s_s, x*s_s]; T2V as LTXPipeline computes them (causal_offset 0).
                     "video_coords": {"scale": [f["temporal"] * f["patch_t"], multiple, multiple],
                                      "frame_rate": FRAME_RATE, "causal_offset": 0}},
        "vae_decoder": vae_decoder,
        "vae_encoder": {"kind": "whole_clip", "file": "vae_encoder.onnx",
                        "inputs": roles(io["vae_encoder"]["inputs"]),
                        "outputs": roles(io["vae_encoder"]["outputs"])},
        "scheduler": kino_scheduler(comp.scheduler_config),
        "defaults": {"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "negative_prompt": ""},
        # LTXConditionPipeline's conditioning: clean context latents at timestep 0, kept clean by
        # the step (kino's native context mode), re-noised by image_cond_noise_scale (0.15, its
        # default) * (t/1000)^2 each step. Context: 1 + temporal_compression pixel frames, two
        # latent frames with the causal VAE (kino's default, spelled out).
        "conditioning": {"clean_context": True, "text": True, "context_frames": 1 + f["temporal"],
                         "context_noise_scale": CONTEXT_NOISE_SCALE},
    }


def video_coords(latent_frames: int, latent_h: int, latent_w: int, spec: dict, batch: int = 1) -> np.ndarray:
    """[batch, 3, tokens] float32 exactly as the contract defines them from the manifest block
    (tokens in (f, y, x) row-major order of the patched latent grid). For tests and tools."""
    s_t, s_y, s_x = spec["scale"]
    f, y, x = np.meshgrid(np.arange(latent_frames), np.arange(latent_h), np.arange(latent_w), indexing="ij")
    t = np.maximum(f * s_t + spec.get("causal_offset", 0), 0).astype(np.float32) / np.float32(spec["frame_rate"])
    coords = np.stack([t, (y * s_y).astype(np.float32), (x * s_x).astype(np.float32)]).reshape(3, -1)
    return np.ascontiguousarray(np.broadcast_to(coords, (batch,) + coords.shape), dtype=np.float32)


def export_package(comp: Components, out: str, max_length: int) -> str:
    """Write the package into a temp folder beside ``out`` and move it into place at the end."""
    with package_folder(out) as tmp:
        comp.write_tokenizer(os.path.join(tmp, "tokenizer.json"))
        export_graphs(comp, tmp)
        write_manifest(tmp, build_manifest(comp, max_length))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kino_export ltx", description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", help="diffusers LTX-Video folder")
    ap.add_argument("--out", required=True, help="package folder to write")
    ap.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32",
                    help="weights/activations dtype (graph inputs/outputs stay float32)")
    ap.add_argument("--tiny", action="store_true", help="tiny random-weight components instead of --from")
    ap.add_argument("--max-length", type=int, default=None,
                    help=f"tokenizer max_length (default {REAL_MAX_LENGTH}; --tiny {TINY_MAX_LENGTH})")
    a = ap.parse_args(argv)
    if a.tiny == bool(a.src):
        ap.error("give exactly one of --from and --tiny")
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    if a.tiny:
        comp = tiny_components()
        comp.text_encoder.to(dtype), comp.transformer.to(dtype), comp.vae.to(dtype)
    else:
        comp = load_components(a.src, dtype)
    max_length = a.max_length or (TINY_MAX_LENGTH if a.tiny else REAL_MAX_LENGTH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = export_package(comp, a.out, max_length)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out} ({total / 1e6:.2f} MB)")
    return 0
