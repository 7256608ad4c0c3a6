"""Wan2.1 (diffusers ``WanPipeline``) -> kino model package.

    python -m kino_export wan --from <diffusers Wan2.1 folder> --out <package> [--dtype fp32|fp16]
                              [--max-length N]
    python -m kino_export wan --tiny --out models/fixtures/wan-tiny

The folder is diffusers' layout (``text_encoder/``, ``tokenizer/``, ``transformer/``, ``vae/``,
``scheduler/scheduler_config.json``, ``model_index.json``), read offline with ``from_pretrained``.
``--tiny`` builds random-weight components from small configs instead (the sizes of diffusers' own
Wan tests), for kino's parity fixtures.

Every graph is a thin wrapper with the signature of the kino component contract
(docs/model-package.md). What stays outside the graphs, in kino, is exactly what
``WanPipeline.__call__`` does around the modules: clean and tokenize the prompt, zero the text
embeddings past the prompt's length, two denoiser runs for CFG, the UniPC schedule, latent
denormalisation and the chunk-by-chunk VAE loop.

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

import argparse
import json
import os
import re
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.export import Dim

from .. import onnx_export
from ..onnx_export import check_graph, roles
from .common import Components, check_layout, package_folder, write_manifest

F32, I64 = "float32", "int64"
FAMILY = "wan2.1"

# WanPipeline.__call__ defaults (diffusers 0.42.1) and the model card (16 fps, 832x480x81 at 480p).
FPS = 16.0
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 5.0
REAL_MAX_LENGTH = 512  # what Wan was trained with (WanPipeline's own default is 226; the examples pass 512)
TINY_MAX_LENGTH = 16

# Wan2.1-T2V-1.3B-Diffusers scheduler/scheduler_config.json (the 14B one differs only in nothing
# kino reads). Used for --tiny too, so the fixtures exercise the schedule real packages run.
REAL_SCHEDULER_CONFIG = {
    "_class_name": "UniPCMultistepScheduler", "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001,
    "disable_corrector": [], "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": 3.0,
    "lower_order_final": True, "num_train_timesteps": 1000, "predict_x0": True, "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False, "sample_max_value": 1.0, "solver_order": 2, "solver_p": None,
    "solver_type": "bh2", "steps_offset": 0, "thresholding": False, "timestep_spacing": "linspace",
    "trained_betas": None, "use_beta_sigmas": False, "use_exponential_sigmas": False, "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}

# Wan2.1-T2V-1.3B transformer/config.json (for the real-size structure check).
REAL_TRANSFORMER_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                             out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30,
                             cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)

# Tiny random-weight components. Transformer and VAE follow diffusers' tests/pipelines/wan/test_wan.py
# (VAE base_dim 4 instead of 3 so the temporal upsamplers keep 2 channels, not 1); the UMT5 encoder
# is the tiny T5 of the LTX fixture with UMT5's per-layer relative attention bias.
TINY_SEED = 0
TINY_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
                        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
TINY_VAE = dict(base_dim=4, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                temperal_downsample=[False, True, True])  # latents_mean/std: the real Wan2.1 defaults
TINY_UMT5 = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                 relative_attention_max_distance=32, feed_forward_proj="gated-gelu", dropout_rate=0.0,
                 is_encoder_decoder=False, use_cache=False, pad_token_id=0, eos_token_id=1)


# ---------------------------------------------------------------------------------------------
# Components


def tiny_transformer():
    from diffusers import WanTransformer3DModel
    torch.manual_seed(TINY_SEED)
    return WanTransformer3DModel(**TINY_TRANSFORMER)


def tiny_vae():
    from diffusers import AutoencoderKLWan
    torch.manual_seed(TINY_SEED)
    return AutoencoderKLWan(**TINY_VAE)


def tiny_text_encoder():
    from transformers import UMT5Config, UMT5EncoderModel
    from . import t5_tokenizer
    torch.manual_seed(TINY_SEED)
    return UMT5EncoderModel(UMT5Config(vocab_size=t5_tokenizer.vocab_size(), **TINY_UMT5))


def tiny_components() -> Components:
    return Components(tiny_text_encoder(), tiny_transformer(), tiny_vae(), dict(REAL_SCHEDULER_CONFIG), None,
                      name="wan-tiny", tiny=True,
                      description="Wan2.1 architecture with tiny random weights (kino parity fixture; "
                                  "produces noise, not video)")


def cast(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model`` in ``dtype`` except what its class keeps in float32 (``_keep_in_fp32_modules``:
    Wan's RoPE tables, time embedder, modulation tables and norms; UMT5's ``wo``), which is what
    ``from_pretrained(torch_dtype=...)`` does. Done by hand because from_pretrained refuses
    ``_keep_in_fp32_modules`` without accelerate. Float64 tensors (the RoPE tables) stay as they are."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.dtype in (torch.float32, torch.float16, torch.bfloat16) and not keep & set(name.split(".")):
            t.data = t.data.to(dtype)
    return model


def load_diffusers_model(cls, folder: str):
    """``cls.from_pretrained(folder)`` in float32, offline. diffusers refuses to load a class with
    ``_keep_in_fp32_modules`` (WanTransformer3DModel) without accelerate, which kino's exporter
    environment does not carry: then build it from its config and load the safetensors by hand."""
    import importlib.util
    if importlib.util.find_spec("accelerate") or not cls._keep_in_fp32_modules:
        return cls.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True)
    from safetensors.torch import load_file
    model = cls.from_config(cls.load_config(folder))
    index = os.path.join(folder, "diffusion_pytorch_model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["diffusion_pytorch_model.safetensors"]
    state = {}
    for name in files:
        state.update(load_file(os.path.join(folder, name)))
    missing, unexpected = model.load_state_dict(state, strict=False)  # copies (and upcasts) into float32
    ignored = cls._keys_to_ignore_on_load_unexpected or []
    unexpected = [k for k in unexpected if not any(re.search(p, k) for p in ignored)]
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit {cls.__name__}: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return model


def load_components(folder: str, dtype: torch.dtype) -> Components:
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5EncoderModel
    folder = os.path.abspath(folder)
    # kino needs the tokenizer in the fast (tokenizers) format: tokenizer/tokenizer.json.
    check_layout(folder, ["model_index.json", "text_encoder/config.json", "transformer/config.json",
                          "vae/config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json"], "Wan2.1")
    with open(os.path.join(folder, "model_index.json")) as f:
        index = json.load(f)
    if index.get("transformer_2") not in (None, [None, None]) or index.get("expand_timesteps"):
        raise ValueError(f"{folder}: a Wan2.2 pipeline (transformer_2 / expand_timesteps); only Wan2.1 T2V is supported")
    # Loaded in float32 and cast after (see cast()).
    te = cast(UMT5EncoderModel.from_pretrained(os.path.join(folder, "text_encoder"), torch_dtype=torch.float32,
                                               local_files_only=True), dtype)
    tr = cast(load_diffusers_model(WanTransformer3DModel, os.path.join(folder, "transformer")), dtype)
    if tr.config.image_dim is not None or tr.config.in_channels != tr.config.out_channels:
        raise ValueError(f"{folder}: an image-to-video transformer; only Wan2.1 T2V is supported")
    # diffusers' Wan docs: run the VAE in float32 (it is small, and fp16 costs visible quality).
    vae = load_diffusers_model(AutoencoderKLWan, os.path.join(folder, "vae"))
    with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
        sched = json.load(f)
    tok = os.path.join(folder, "tokenizer", "tokenizer.json")
    name = os.path.basename(folder.rstrip("/")) or "wan2.1"
    return Components(te, tr, vae, sched, tok, name=name, tiny=False,
                      description=f"Wan2.1 text-to-video exported from {name} (diffusers layout)")


def kino_scheduler(cfg: dict) -> dict:
    """A diffusers scheduler_config.json -> the manifest's ``scheduler`` object.

    WanPipeline calls ``set_timesteps(N)`` with nothing else: ``sigma_schedule: linspace_train``.
    """
    cls = cfg.get("_class_name", "UniPCMultistepScheduler")
    for flag in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "thresholding",
                 "invert_sigmas", "stochastic_sampling"):
        if cfg.get(flag):
            raise ValueError(f"scheduler_config.json sets {flag}, which kino does not implement")
    common = {"num_train_timesteps": int(cfg.get("num_train_timesteps", 1000)),
              "use_dynamic_shifting": bool(cfg.get("use_dynamic_shifting", False)),
              "time_shift_type": cfg.get("time_shift_type", "exponential"),
              "sigma_schedule": "linspace_train"}
    if cfg.get("shift_terminal"):
        common["shift_terminal"] = float(cfg["shift_terminal"])
    if cls == "UniPCMultistepScheduler":
        want = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "predict_x0": True}
        for k, v in want.items():
            if cfg.get(k) != v:
                raise ValueError(f"UniPC scheduler with {k}={cfg.get(k)!r}: kino implements only {k}={v!r}")
        return {"kind": "unipc_flow", "shift": float(cfg.get("flow_shift", 1.0)), **common,
                "solver_order": int(cfg.get("solver_order", 2)), "solver_type": cfg.get("solver_type", "bh2"),
                "lower_order_final": bool(cfg.get("lower_order_final", True)),
                "final_sigmas_type": cfg.get("final_sigmas_type", "zero"),
                "disable_corrector": list(cfg.get("disable_corrector") or [])}
    if cls == "FlowMatchEulerDiscreteScheduler":
        return {"kind": "flow_match_euler", "shift": float(cfg.get("shift", 1.0)), **common}
    raise ValueError(f"scheduler {cls}: kino implements UniPCMultistepScheduler and FlowMatchEulerDiscreteScheduler")


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


GRAPHS = ("text_encoder", "denoiser", "vae_decoder_first", "vae_decoder_step", "vae_encoder_first", "vae_encoder_step")


class Exporter:
    """Builds the graphs of a :class:`Components` (the cache layout is read once from the VAE)."""

    def __init__(self, comp: Components):
        self.comp = comp
        self.dec_slots = cache_slots(comp.vae, "decoder")
        self.enc_slots = cache_slots(comp.vae, "encoder")
        self.io = graph_io(self.dec_slots, self.enc_slots)

    def spec(self, graph: str):
        """(wrapper module, example args, dynamic shapes) of one graph."""
        c = self.comp
        if graph == "text_encoder":
            return text_encoder_spec(c.text_encoder)
        if graph == "denoiser":
            return denoiser_spec(c.transformer)
        _, part, which = graph.split("_")
        slots = self.dec_slots if part == "decoder" else self.enc_slots
        return vae_chunk_spec(c.vae, part, which == "first", slots)

    def names(self, graph: str) -> tuple[list, list]:
        return [e[1] for e in self.io[graph]["inputs"]], [e[1] for e in self.io[graph]["outputs"]]

    def export(self, folder: str, graphs=GRAPHS, check: bool = True) -> dict:
        """Export the wrapper graphs into ``folder`` and validate them; returns {graph: path}."""
        paths = {}
        for g in graphs:
            module, args, dyn = self.spec(g)
            i, o = self.names(g)
            paths[g] = onnx_export.export(module, args, os.path.join(folder, f"{g}.onnx"), i, o, dyn)
            if check:
                check_graph(paths[g], self.io[g])
        return paths


def build_manifest(comp: Components, exp: Exporter, max_length: int) -> dict:
    tr, vae, te = comp.transformer, comp.vae, comp.text_encoder
    io = exp.io
    s, t = int(vae.config.scale_factor_spatial), int(vae.config.scale_factor_temporal)
    multiple = s * int(tr.config.patch_size[1])
    if comp.tiny:
        video = {"fps": FPS, "default_width": 2 * multiple, "default_height": 2 * multiple,
                 "default_frames": 1 + 2 * t, "size_multiple": multiple, "min_size": multiple,
                 "max_size": 32 * multiple, "max_frames": 1 + 8 * t}
    else:
        # WanPipeline's defaults (832x480, 81 frames); Wan2.1 is trained up to 1280x720 and 81 frames
        # (longer clips go window by window).
        video = {"fps": FPS, "default_width": 832, "default_height": 480, "default_frames": 81,
                 "size_multiple": multiple, "min_size": multiple, "max_size": 1280, "max_frames": 81}

    def chunks(prefix, slots):
        return {"kind": "causal_chunks", "first_latent_frames": 1, "step_latent_frames": 1,
                "caches": [sl.name for sl in slots],
                "first": {"file": f"{prefix}_first.onnx", "inputs": roles(io[f"{prefix}_first"]["inputs"]),
                          "outputs": roles(io[f"{prefix}_first"]["outputs"])},
                "step": {"file": f"{prefix}_step.onnx", "inputs": roles(io[f"{prefix}_step"]["inputs"]),
                         "outputs": roles(io[f"{prefix}_step"]["outputs"])}}

    return {
        "schema_version": 1,
        "name": comp.name,
        "family": FAMILY,
        "description": comp.description,
        "video": video,
        "latent": {"channels": int(vae.config.z_dim), "spatial_compression": s, "temporal_compression": t,
                   "causal_first_frame": True,
                   "mean": [float(x) for x in vae.config.latents_mean],
                   "std": [float(x) for x in vae.config.latents_std],
                   "scaling_factor": 1.0},  # WanPipeline: z = z_norm * std + mean, no scaling factor
        "tokenizer": {"file": "tokenizer.json", "max_length": max_length, "padding": "max_length",
                      "clean": "whitespace"},  # WanPipeline's prompt_clean (ftfy + html unescape aside)
        "text_encoder": {"file": "text_encoder.onnx", "text_dim": int(te.config.d_model), "zero_past_length": True,
                         "inputs": roles(io["text_encoder"]["inputs"]),
                         "outputs": roles(io["text_encoder"]["outputs"])},
        "denoiser": {"file": "denoiser.onnx", "timestep_shape": "per_sample", "text_dim": int(tr.config.text_dim),
                     "max_batch": 2,  # the batch is dynamic: CFG as one batch of 2 (WanPipeline makes two
                                     # passes; per sample the results agree to 1e-6, and it is ~20% faster)
                     "inputs": roles(io["denoiser"]["inputs"]), "outputs": roles(io["denoiser"]["outputs"])},
        "vae_decoder": chunks("vae_decoder", exp.dec_slots),
        "vae_encoder": chunks("vae_encoder", exp.enc_slots),
        "scheduler": kino_scheduler(comp.scheduler_config),
        "defaults": {"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "negative_prompt": ""},
        "conditioning": {"clean_context": False, "text": True},
    }


def export_package(comp: Components, out: str, max_length: int) -> str:
    """Write the package into a temp folder beside ``out`` and move it into place at the end."""
    with package_folder(out) as tmp:
        comp.write_tokenizer(os.path.join(tmp, "tokenizer.json"))
        exp = Exporter(comp)
        exp.export(tmp)
        write_manifest(tmp, build_manifest(comp, exp, max_length))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kino_export wan", description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", help="diffusers Wan2.1 folder")
    ap.add_argument("--out", required=True, help="package folder to write")
    ap.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32",
                    help="text encoder and transformer weights/activations dtype (graph inputs/outputs stay "
                         "float32; the VAE stays float32 as diffusers recommends for Wan)")
    ap.add_argument("--tiny", action="store_true", help="tiny random-weight components instead of --from")
    ap.add_argument("--max-length", type=int, default=None,
                    help=f"tokenizer max_length (default {REAL_MAX_LENGTH}; --tiny {TINY_MAX_LENGTH})")
    a = ap.parse_args(argv)
    if a.tiny == bool(a.src):
        ap.error("give exactly one of --from and --tiny")
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    if a.tiny:
        comp = tiny_components()
        cast(comp.text_encoder, dtype), cast(comp.transformer, dtype)
    else:
        comp = load_components(a.src, dtype)
    max_length = a.max_length or (TINY_MAX_LENGTH if a.tiny else REAL_MAX_LENGTH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = export_package(comp, a.out, max_length)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out} ({total / 1e6:.2f} MB)")
    return 0
