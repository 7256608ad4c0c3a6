"""LTX-Video (diffusers ``LTXPipeline``) -> kino model package.

    python -m kino_export ltx --from <diffusers LTX-Video folder> --out <package> [--dtype fp32|fp16]
                              [--text-encoder-dtype D] [--transformer-dtype D] [--vae-dtype D] [--max-length N]
    python -m kino_export ltx --tiny --out models/fixtures/ltx-tiny

The folder is diffusers' layout (``text_encoder/``, ``tokenizer/``, ``transformer/``, ``vae/``,
``scheduler/scheduler_config.json``), read offline, one component at a time (``loading.py``).
``--tiny`` builds random-weight components from small configs instead (the sizes of diffusers' own
LTX tests), for kino's parity fixtures.

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
The wrapper graphs are in ``ltx_graphs.py``.
"""
from __future__ import annotations

import json
import os
import warnings

import torch

from .. import manifest as kino_manifest
from ..onnx_export import roles
from .common import Components, check_layout
from .family import Family
from .loading import cast, load_diffusers_model, load_transformers_model
from .ltx_graphs import (DECODE_TIMESTEP, DenoiserGraph, TextEncoderGraph, VaeDecoderGraph,  # noqa: F401 (re-exported)
                         VaeEncoderGraph, denoiser_spec, graph_io, text_encoder_spec, vae_decoder_spec,
                         vae_encoder_spec, video_coords)

# LTXPipeline.__call__ defaults (diffusers 0.42.1): 704x480, 161 frames at 25 fps; the model card:
# sizes up to 1280, up to 257 frames. Windows in latent frames (161 and 257 pixel frames at 8x), so
# that a VAE of another temporal compression gets windows the transformer was trained on.
FRAME_RATE = 25.0
DEFAULT_SIZE = (704, 480)
MAX_SIZE = 1280
DEFAULT_LATENT_FRAMES = 21
MAX_LATENT_FRAMES = 33
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 3.0
# diffusers' LTX docs recommend these for the timestep-conditioned (0.9.1+) VAE (DECODE_TIMESTEP: in
# ltx_graphs.py); the pipeline's own default (decode_timestep 0, noise = decode_timestep) is only
# meant for 0.9.0.
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


def kino_scheduler(cfg: dict) -> dict:
    """A diffusers FlowMatchEulerDiscreteScheduler config -> the manifest's ``scheduler`` object.

    ``sigma_schedule`` is not in the diffusers config: it is what ``LTXPipeline`` hands to
    ``set_timesteps`` (``sigmas=np.linspace(1, 1/N, N)``, plus ``mu`` from the sequence length).
    """
    cls = cfg.get("_class_name", "FlowMatchEulerDiscreteScheduler")
    if cls != "FlowMatchEulerDiscreteScheduler":
        raise ValueError(f"scheduler {cls}: only FlowMatchEulerDiscreteScheduler is supported for LTX-Video")
    for flag in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas"):
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
    if cfg.get("stochastic_sampling"):
        out["stochastic_sampling"] = True
    return out


class Ltx(Family):
    name, family, title = "ltx", "ltx-video", "LTX-Video"
    PARTS = {"text_encoder": ("text_encoder",), "transformer": ("denoiser",), "vae": ("vae_decoder", "vae_encoder")}
    TINY_MAX_LENGTH = 16
    REAL_MAX_LENGTH = 128
    # The latent statistics stay float32 in an fp16 VAE: they go to the manifest unrounded.
    VAE_KEEP = ("latents_mean", "latents_std")

    def tiny_components(self, dtypes: dict | None = None) -> Components:
        f32 = torch.float32
        dtypes = dtypes or {}
        return Components(cast(tiny_text_encoder(), dtypes.get("text_encoder", f32)),
                          cast(tiny_transformer(), dtypes.get("transformer", f32)),
                          cast(tiny_vae(), dtypes.get("vae", f32), self.VAE_KEEP), dict(REAL_SCHEDULER_CONFIG), None,
                          name="ltx-tiny", tiny=True,
                          description="LTX-Video architecture with tiny random weights (kino parity fixture; "
                                      "produces noise, not video)")

    def load_components(self, folder: str, dtypes: dict) -> Components:
        from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
        from transformers import T5EncoderModel
        folder = os.path.abspath(folder)
        # tokenizer/: tokenizer.json, or spiece.model to convert (without either, transformers would
        # make an empty-vocabulary T5 tokenizer and the package would tokenize every word to <unk>).
        check_layout(folder, ["text_encoder/config.json", "transformer/config.json", "vae/config.json",
                              "scheduler/scheduler_config.json",
                              ("tokenizer/tokenizer.json", "tokenizer/spiece.model")], "LTX-Video")
        with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
            sched = json.load(f)
        kino_scheduler(sched)  # refuse an unsupported scheduler before any weights load
        if any(AutoencoderKLLTXVideo.load_config(os.path.join(folder, "vae")).get("decoder_inject_noise") or ()):
            # 0.9.0's decoder adds fresh noise inside some resnets: the graph keeps it (RandomNormal), so
            # decoding is not deterministic there, exactly as in diffusers.
            warnings.warn("vae.config.decoder_inject_noise: the decoder graph draws its own noise")
        tok = os.path.join(folder, "tokenizer", "tokenizer.json")
        tok = tok if os.path.isfile(tok) else os.path.join(folder, "tokenizer")
        name = os.path.basename(folder.rstrip("/")) or "ltx-video"
        return Components(
            lambda only=None: load_transformers_model(T5EncoderModel, os.path.join(folder, "text_encoder"),
                                            dtypes["text_encoder"], only),
            lambda: load_diffusers_model(LTXVideoTransformer3DModel, os.path.join(folder, "transformer"),
                                         dtypes["transformer"]),
            lambda: load_diffusers_model(AutoencoderKLLTXVideo, os.path.join(folder, "vae"), dtypes["vae"],
                                         keep=self.VAE_KEEP),
            sched, tok, name=name, tiny=False, description=f"LTX-Video exported from {name} (diffusers layout)")

    def read_facts(self, part: str, module) -> dict:
        cfg = module.config
        if part == "text_encoder":
            return {"text_dim": int(cfg.d_model)}
        if part == "transformer":
            return {"channels": int(cfg.in_channels), "caption_channels": int(cfg.caption_channels),
                    "patch": int(cfg.patch_size), "patch_t": int(cfg.patch_size_t)}
        return {"spatial": int(module.spatial_compression_ratio), "temporal": int(module.temporal_compression_ratio),
                "timestep_conditioned": bool(cfg.timestep_conditioning), "scaling_factor": float(cfg.scaling_factor),
                "mean": [float(x) for x in module.latents_mean.float().tolist()],
                "std": [float(x) for x in module.latents_std.float().tolist()]}

    def timestep_conditioned(self, comp: Components) -> bool:
        return self.facts(comp, "vae")["timestep_conditioned"]

    def graph_io(self, comp: Components, graph: str) -> dict:
        # Only the decoder's inputs depend on the VAE (its decode timestep).
        return graph_io(graph == "vae_decoder" and self.timestep_conditioned(comp))[graph]

    def graph_spec(self, comp: Components, graph: str):
        return {"text_encoder": lambda: text_encoder_spec(comp.text_encoder),
                "denoiser": lambda: denoiser_spec(comp.transformer),
                "vae_decoder": lambda: vae_decoder_spec(comp.vae),
                "vae_encoder": lambda: vae_encoder_spec(comp.vae)}[graph]()

    def manifest(self, comp: Components, max_length: int) -> dict:
        te, tr, vae = (self.facts(comp, p) for p in ("text_encoder", "transformer", "vae"))
        text_dim, cond = te["text_dim"], vae["timestep_conditioned"]
        if text_dim != tr["caption_channels"]:
            raise ValueError(f"text encoder d_model {text_dim} != transformer caption_channels {tr['caption_channels']}")
        if (tr["patch"], tr["patch_t"]) != (1, 1):
            # kino sizes the per-token inputs (timestep, video_coords) F*h*w over the unpacked latents.
            raise ValueError(f"transformer patch sizes {tr['patch_t']}x{tr['patch']}x{tr['patch']}: kino's per-token "
                             "inputs need patch_size = patch_size_t = 1 (every released LTX-Video checkpoint)")
        s, t = vae["spatial"], vae["temporal"]
        multiple = s * tr["patch"]
        # The context (1 + t frames, two latent frames) must leave new frames in a default window.
        shape = dict(size_multiple=multiple, channels=tr["channels"], spatial=s, temporal=t, min_frames=1 + 2 * t)
        if comp.tiny:
            video = kino_manifest.video(fps=FRAME_RATE, width=4 * multiple, height=4 * multiple, frames=1 + 2 * t,
                                        max_size=32 * multiple, max_frames=1 + 8 * t, **shape)
        else:
            video = kino_manifest.video(fps=FRAME_RATE, width=DEFAULT_SIZE[0], height=DEFAULT_SIZE[1],
                                        frames=1 + (DEFAULT_LATENT_FRAMES - 1) * t, max_size=MAX_SIZE,
                                        max_frames=1 + (MAX_LATENT_FRAMES - 1) * t, **shape)

        def io(graph):
            g = self.graph_io(comp, graph)
            return {"inputs": roles(g["inputs"]), "outputs": roles(g["outputs"])}

        vae_decoder = {"kind": "whole_clip", "file": "vae_decoder.onnx", **io("vae_decoder"),
                       "timestep_conditioned": cond}
        if cond:
            vae_decoder.update(decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE)
        return kino_manifest.manifest(
            name=comp.name, family=self.family, description=comp.description, video=video,
            latent=kino_manifest.latent(channels=tr["channels"], spatial=s, temporal=t, mean=vae["mean"],
                                        std=vae["std"], scaling_factor=vae["scaling_factor"]),
            tokenizer={"file": "tokenizer.json", "max_length": max_length, "padding": "max_length", "clean": "none"},
            # attend_to_padding: kino feeds the graph an all-ones attention mask, LTXPipeline's unmasked T5.
            text_encoder={"file": "text_encoder.onnx", "text_dim": text_dim, "zero_past_length": False,
                          "attend_to_padding": True, **io("text_encoder")},
            # Per-token timesteps: kino gives clean context tokens timestep 0 (LTXConditionPipeline).
            # The graph's token count is (F/pt)(h/p)(w/p); kino sizes it F*h*w, the same for patch 1
            # (every released LTX-Video checkpoint).
            denoiser={"file": "denoiser.onnx", "timestep_shape": "per_token", "text_dim": text_dim,
                      "max_batch": 2,  # LTXPipeline batches [negative, positive]
                      **io("denoiser"),
                      # RoPE coordinates per token (f, y, x): [max(f*s_t + causal_offset, 0) / frame_rate,
                      # y*s_s, x*s_s]; T2V as LTXPipeline computes them (causal_offset 0).
                      "video_coords": {"scale": [t * tr["patch_t"], multiple, multiple],
                                       "frame_rate": FRAME_RATE, "causal_offset": 0}},
            vae_decoder=vae_decoder,
            vae_encoder={"kind": "whole_clip", "file": "vae_encoder.onnx", **io("vae_encoder")},
            scheduler=kino_scheduler(comp.scheduler_config),
            defaults={"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "negative_prompt": ""},
            # LTXConditionPipeline's conditioning: clean context latents at timestep 0, kept clean by
            # the step (kino's native context mode), re-noised by image_cond_noise_scale (0.15, its
            # default) * (t/1000)^2 each step. Context: 1 + temporal_compression pixel frames, two
            # latent frames with the causal VAE (kino's default, spelled out). Conditions away
            # from frame 0 are extra tokens ahead of the video's, placed by their RoPE positions
            # (LTXConditionPipeline's frame_index > 0): context_tokens.
            conditioning={"clean_context": True, "text": True, "context_frames": 1 + t,
                          "context_noise_scale": CONTEXT_NOISE_SCALE, "context_tokens": True})


LTX = Ltx()
# The family's parts under the names the reference scripts and tests use.
tiny_components, export_package, build_manifest, main = LTX.tiny_components, LTX.export_package, LTX.manifest, LTX.main
TINY_MAX_LENGTH, REAL_MAX_LENGTH, GRAPHS = Ltx.TINY_MAX_LENGTH, Ltx.REAL_MAX_LENGTH, LTX.graphs
