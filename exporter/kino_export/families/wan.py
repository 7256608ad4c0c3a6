"""Wan2.1 (diffusers ``WanPipeline``) -> kino model package.

    python -m kino_export wan --from <diffusers Wan2.1 folder> --out <package> [--dtype fp32|fp16]
                              [--text-encoder-dtype D] [--transformer-dtype D] [--vae-dtype D] [--max-length N]
    python -m kino_export wan --tiny --out models/fixtures/wan-tiny

The folder is diffusers' layout (``text_encoder/``, ``tokenizer/``, ``transformer/``, ``vae/``,
``scheduler/scheduler_config.json``, ``model_index.json``), read offline, one component at a time
(``loading.py``). ``--tiny`` builds random-weight components from small configs instead (the sizes
of diffusers' own Wan tests), for kino's parity fixtures.

Every graph is a thin wrapper with the signature of the kino component contract
(docs/model-package.md). What stays outside the graphs, in kino, is exactly what
``WanPipeline.__call__`` does around the modules: clean and tokenize the prompt, zero the text
embeddings past the prompt's length, two denoiser runs for CFG, the UniPC schedule, latent
denormalisation and the chunk-by-chunk VAE loop.

The wrapper graphs and the VAE's chunk graphs with explicit caches are in ``wan_graphs.py``.
"""
from __future__ import annotations

import json
import os

import torch

from .. import manifest as kino_manifest
from ..onnx_export import roles
from .common import Components, check_layout
from .family import Family
from .loading import cast, load_diffusers_model, load_transformers_model
from .wan_graphs import (CacheSlot, CausalChunkGraph, DenoiserGraph, TextEncoderGraph,  # noqa: F401 (re-exported)
                         cache_slots, denoiser_spec, graph_io, text_encoder_spec, vae_chunk_spec)

# WanPipeline.__call__ defaults (diffusers 0.42.1) and the model card (16 fps, 832x480x81 at 480p;
# trained up to 1280x720 and 81 frames, which is 21 latent frames: longer clips go window by window).
FPS = 16.0
DEFAULT_SIZE = (832, 480)
MAX_SIZE = 1280
LATENT_FRAMES = 21  # default and longest window, in latent frames (81 pixel frames at 4x)
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 5.0

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


def kino_scheduler(cfg: dict) -> dict:
    """A diffusers scheduler_config.json -> the manifest's ``scheduler`` object.

    WanPipeline calls ``set_timesteps(N)`` with nothing else: ``sigma_schedule: linspace_train``.
    """
    cls = cfg.get("_class_name", "UniPCMultistepScheduler")
    for flag in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "thresholding",
                 "invert_sigmas"):
        if cfg.get(flag):
            raise ValueError(f"scheduler_config.json sets {flag}, which kino does not implement")
    common = {"num_train_timesteps": int(cfg.get("num_train_timesteps", 1000)),
              "use_dynamic_shifting": bool(cfg.get("use_dynamic_shifting", False)),
              "time_shift_type": cfg.get("time_shift_type", "exponential"),
              "sigma_schedule": "linspace_train"}
    if cfg.get("shift_terminal"):
        common["shift_terminal"] = float(cfg["shift_terminal"])
    if cls == "UniPCMultistepScheduler":
        if cfg.get("stochastic_sampling"):
            raise ValueError("scheduler_config.json sets stochastic_sampling on UniPC, which has no such option")
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
        return {"kind": "flow_match_euler", "shift": float(cfg.get("shift", 1.0)), **common,
                **({"stochastic_sampling": True} if cfg.get("stochastic_sampling") else {})}
    raise ValueError(f"scheduler {cls}: kino implements UniPCMultistepScheduler and FlowMatchEulerDiscreteScheduler")


def refuse_wan22(folder: str, supported: str) -> None:
    """A Wan2.2 pipeline (two transformers, or timesteps per token) is refused from its
    model_index.json."""
    with open(os.path.join(folder, "model_index.json")) as f:
        index = json.load(f)
    if index.get("transformer_2") not in (None, [None, None]) or index.get("expand_timesteps"):
        raise ValueError(f"{folder}: a Wan2.2 pipeline (transformer_2 / expand_timesteps); only {supported} is supported")


def scheduler_config(folder: str) -> dict:
    """The folder's scheduler_config.json, refused before any weights load if kino cannot run it."""
    with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
        sched = json.load(f)
    kino_scheduler(sched)
    return sched


class Wan(Family):
    name, family, title = "wan", "wan2.1", "Wan2.1"
    PARTS = {"text_encoder": ("text_encoder",), "transformer": ("denoiser",),
             "vae": ("vae_decoder_first", "vae_decoder_step", "vae_encoder_first", "vae_encoder_step")}
    TINY_MAX_LENGTH = 16
    REAL_MAX_LENGTH = 512  # what Wan was trained with (WanPipeline's own default is 226; the examples pass 512)
    VAE_DTYPE = "fp32"  # diffusers' Wan docs: run the VAE in float32 (it is small, and fp16 costs visible quality)

    def tiny_components(self, dtypes: dict | None = None) -> Components:
        f32 = torch.float32
        dtypes = dtypes or {}
        return Components(cast(tiny_text_encoder(), dtypes.get("text_encoder", f32)),
                          cast(tiny_transformer(), dtypes.get("transformer", f32)),
                          cast(tiny_vae(), dtypes.get("vae", f32)), dict(REAL_SCHEDULER_CONFIG), None,
                          name="wan-tiny", tiny=True,
                          description="Wan2.1 architecture with tiny random weights (kino parity fixture; "
                                      "produces noise, not video)")

    def load_components(self, folder: str, dtypes: dict) -> Components:
        from diffusers import AutoencoderKLWan, WanTransformer3DModel
        from transformers import UMT5EncoderModel
        folder = os.path.abspath(folder)
        # kino needs the tokenizer in the fast (tokenizers) format: tokenizer/tokenizer.json.
        check_layout(folder, ["model_index.json", "text_encoder/config.json", "transformer/config.json",
                              "vae/config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json"],
                     "Wan2.1")
        refuse_wan22(folder, "Wan2.1 T2V")
        cfg = WanTransformer3DModel.load_config(os.path.join(folder, "transformer"))
        if cfg.get("image_dim") is not None or cfg.get("in_channels", 16) != cfg.get("out_channels", 16):
            raise ValueError(f"{folder}: an image-to-video transformer: export it with `wan-i2v`")
        sched = scheduler_config(folder)
        name = os.path.basename(folder.rstrip("/")) or "wan2.1"
        return Components(
            lambda only=None: load_transformers_model(UMT5EncoderModel, os.path.join(folder, "text_encoder"),
                                            dtypes["text_encoder"], only),
            lambda: load_diffusers_model(WanTransformer3DModel, os.path.join(folder, "transformer"),
                                         dtypes["transformer"]),
            lambda: load_diffusers_model(AutoencoderKLWan, os.path.join(folder, "vae"), dtypes["vae"]),
            sched, os.path.join(folder, "tokenizer", "tokenizer.json"), name=name, tiny=False,
            description=f"Wan2.1 text-to-video exported from {name} (diffusers layout)")

    def read_facts(self, part: str, module) -> dict:
        cfg = module.config
        if part == "text_encoder":
            return {"text_dim": int(cfg.d_model)}
        if part == "transformer":
            return {"patch_size": tuple(int(p) for p in cfg.patch_size), "text_dim": int(cfg.text_dim)}
        return {"channels": int(cfg.z_dim), "spatial": int(cfg.scale_factor_spatial),
                "temporal": int(cfg.scale_factor_temporal), "mean": [float(x) for x in cfg.latents_mean],
                "std": [float(x) for x in cfg.latents_std],
                "dec_slots": cache_slots(module, "decoder"), "enc_slots": cache_slots(module, "encoder")}

    def graph_io(self, comp: Components, graph: str) -> dict:
        if not graph.startswith("vae_"):
            return graph_io([], [])[graph]  # the caches only shape the VAE graphs
        v = self.facts(comp, "vae")
        return graph_io(v["dec_slots"], v["enc_slots"])[graph]

    def graph_spec(self, comp: Components, graph: str):
        if graph == "text_encoder":
            return text_encoder_spec(comp.text_encoder)
        if graph == "denoiser":
            return denoiser_spec(comp.transformer)
        _, part, which = graph.split("_")
        v = self.facts(comp, "vae")
        return vae_chunk_spec(comp.vae, part, which == "first", v["dec_slots" if part == "decoder" else "enc_slots"])

    def manifest(self, comp: Components, max_length: int) -> dict:
        te, tr, vae = (self.facts(comp, p) for p in ("text_encoder", "transformer", "vae"))
        s, t = vae["spatial"], vae["temporal"]
        multiple = s * tr["patch_size"][1]
        shape = dict(size_multiple=multiple, channels=vae["channels"], spatial=s, temporal=t)
        if comp.tiny:
            video = kino_manifest.video(fps=FPS, width=2 * multiple, height=2 * multiple, frames=1 + 2 * t,
                                        max_size=32 * multiple, max_frames=1 + 8 * t, **shape)
        else:
            frames = 1 + (LATENT_FRAMES - 1) * t
            video = kino_manifest.video(fps=FPS, width=DEFAULT_SIZE[0], height=DEFAULT_SIZE[1], frames=frames,
                                        max_size=MAX_SIZE, max_frames=frames, **shape)

        def io(graph):
            g = self.graph_io(comp, graph)
            return {"inputs": roles(g["inputs"]), "outputs": roles(g["outputs"])}

        def chunks(prefix, slots):
            return {"kind": "causal_chunks", "first_latent_frames": 1, "step_latent_frames": 1,
                    "caches": [sl.name for sl in slots],
                    "first": {"file": f"{prefix}_first.onnx", **io(f"{prefix}_first")},
                    "step": {"file": f"{prefix}_step.onnx", **io(f"{prefix}_step")}}

        return kino_manifest.manifest(
            name=comp.name, family=self.family, description=comp.description, video=video,
            # WanPipeline: z = z_norm * std + mean, no scaling factor
            latent=kino_manifest.latent(channels=vae["channels"], spatial=s, temporal=t, mean=vae["mean"],
                                        std=vae["std"], scaling_factor=1.0),
            tokenizer={"file": "tokenizer.json", "max_length": max_length, "padding": "max_length",
                       "clean": "whitespace"},  # WanPipeline's prompt_clean (ftfy + html unescape aside)
            text_encoder={"file": "text_encoder.onnx", "text_dim": te["text_dim"], "zero_past_length": True,
                          **io("text_encoder")},
            denoiser={"file": "denoiser.onnx", "timestep_shape": "per_sample", "text_dim": tr["text_dim"],
                      "max_batch": 2,  # the batch is dynamic: CFG as one batch of 2 (WanPipeline makes two
                                       # passes; per sample the results agree to 1e-6, and it is ~20% faster)
                      **io("denoiser")},
            vae_decoder=chunks("vae_decoder", vae["dec_slots"]),
            vae_encoder=chunks("vae_encoder", vae["enc_slots"]),
            scheduler=kino_scheduler(comp.scheduler_config),
            defaults={"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "negative_prompt": ""},
            conditioning={"clean_context": False, "text": True})


WAN = Wan()
# The family's parts under the names the reference scripts and tests use.
tiny_components, export_package, build_manifest, main = WAN.tiny_components, WAN.export_package, WAN.manifest, WAN.main
TINY_MAX_LENGTH, REAL_MAX_LENGTH, GRAPHS = Wan.TINY_MAX_LENGTH, Wan.REAL_MAX_LENGTH, WAN.graphs
