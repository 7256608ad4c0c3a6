"""Wan2.1 image-to-video and first-last-frame-to-video (diffusers ``WanImageToVideoPipeline``)
-> kino model package.

    python -m kino_export wan-i2v --from <diffusers Wan2.1 I2V or FLF2V folder> --out <package> [--dtype ...]
    python -m kino_export wan-i2v --tiny [--flf2v] --out models/fixtures/wan-i2v-tiny

The same text encoder, VAE and scheduler as Wan2.1 T2V (``wan.py``), plus what the pipeline does
around the transformer:

* an image encoder (CLIP's vision tower): ``encode_image`` runs it on the given image (I2V) or the
  first and last images (FLF2V) and keeps the hidden states of its second-to-last layer. The graph
  takes a square image in [-1, 1] (kino hands it the frame's centre square: the processor's
  shortest-edge resize and centre crop, in the other order), resizes it to the processor's size
  (bicubic; unchanged at that size), rescales and normalises it as the processor does;
* the transformer sees 36 channels: the noisy latents and a *condition*, 4 mask channels (which of
  each latent frame's 4 pixel frames are given; the causal first frame's one repeated) and the
  VAE's latents of the window with the given frames in place and zeros elsewhere
  (``prepare_latents``). kino builds the condition (``conditioning.context_channels``); the
  denoiser graph concatenates it and hands the image tokens over. FLF2V's image embedder views
  two images' tokens as one sequence; kino passes them as one (first then last) and the graph
  splits them again.

diffusers' attention takes the last 512 text tokens as the text (``image_context_length =
len - 512``), so these packages always pad prompts to 512 tokens.
"""
from __future__ import annotations

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..onnx_export import roles
from .common import Components, check_layout
from .loading import cast, load_diffusers_model, load_transformers_model
from .wan import (REAL_SCHEDULER_CONFIG, TINY_SEED, TINY_TRANSFORMER, Wan, refuse_wan22, scheduler_config,
                  tiny_text_encoder, tiny_vae)
from .wan_graphs import F32, _dims

TEXT_LEN = 512  # diffusers' WanAttnProcessor: the text is the last 512 tokens of the cross-attention context
# WanImageToVideoPipeline's default guidance; sizes and frames as for T2V (wan.py: 832x480, 81
# frames, diffusers' own defaults; a 720p checkpoint is asked for 1280x720 with --width/--height).
DEFAULT_GUIDANCE = 5.0
# Wan2.1-I2V-14B-480P-Diffusers transformer/config.json (FLF2V-14B-720P adds pos_embed_seq_len 514)
# and its image encoder, CLIP ViT-H/14 (for the real-size structure check).
REAL_TRANSFORMER_I2V_14B = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36,
                                out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
                                cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280,
                                added_kv_proj_dim=5120, rope_max_seq_len=1024)
REAL_CLIP_VIT_H = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                       image_size=224, patch_size=14, projection_dim=1024, hidden_act="gelu")
# Tiny random-weight parts (diffusers' tests/pipelines/wan/test_wan_image_to_video.py sizes, with
# CLIP patches of 4 so an image is 65 tokens, and the processor at the fixtures' 32x32).
TINY_IMAGE_SIZE = 32
TINY_CLIP = dict(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
                 image_size=TINY_IMAGE_SIZE, intermediate_size=16, patch_size=4)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # CLIPImageProcessor's defaults (OpenAI CLIP)
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def tiny_image_tokens() -> int:
    return (TINY_IMAGE_SIZE // TINY_CLIP["patch_size"]) ** 2 + 1


def tiny_transformer(flf2v: bool):
    from diffusers import WanTransformer3DModel
    torch.manual_seed(TINY_SEED)
    # added_kv_proj_dim: the image tokens get keys and values of their own, as in the real
    # checkpoints (where it is the model's width), and the text is the last 512 tokens.
    width = TINY_TRANSFORMER["num_attention_heads"] * TINY_TRANSFORMER["attention_head_dim"]
    cfg = dict(TINY_TRANSFORMER, in_channels=36, image_dim=TINY_CLIP["hidden_size"], added_kv_proj_dim=width)
    if flf2v:
        cfg["pos_embed_seq_len"] = 2 * tiny_image_tokens()
    return WanTransformer3DModel(**cfg)


def tiny_image_encoder():
    from transformers import CLIPVisionConfig, CLIPVisionModel
    torch.manual_seed(TINY_SEED)
    return CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP))


def tiny_processor_config() -> dict:
    return {"crop_size": {"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
            "size": {"shortest_edge": TINY_IMAGE_SIZE}, "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
            "do_resize": True, "do_center_crop": True, "do_rescale": True, "rescale_factor": 1 / 255,
            "do_normalize": True, "do_convert_rgb": True, "resample": 3}


def processor_facts(cfg: dict) -> dict:
    """The CLIPImageProcessor config -> the graph's size and normalisation; refuses what kino's crop
    and the graph do not do."""
    crop = cfg.get("crop_size", 224)
    crop = (crop["height"], crop["width"]) if isinstance(crop, dict) else (crop, crop)
    size = cfg.get("size", 224)
    edge = size.get("shortest_edge", crop[0]) if isinstance(size, dict) else size
    if crop[0] != crop[1] or edge != crop[0] or not cfg.get("do_center_crop", True):
        raise ValueError(f"image processor: shortest edge {edge}, crop {crop}: kino implements a square centre crop "
                         "at the shortest edge's size")
    if not (cfg.get("do_resize", True) and cfg.get("do_rescale", True) and cfg.get("do_normalize", True)):
        raise ValueError("image processor: kino implements resize, rescale and normalise all on")
    return {"size": int(crop[0]), "mean": [float(x) for x in cfg.get("image_mean", CLIP_MEAN)],
            "std": [float(x) for x in cfg.get("image_std", CLIP_STD)],
            "rescale": float(cfg.get("rescale_factor", 1 / 255))}


class ImageEncoderGraph(nn.Module):
    """``[N, 3, S, S]`` in [-1, 1] -> ``[N, tokens, dim]``: the CLIP processor's resize (bicubic,
    clamped to the image's range as 8-bit resampling is), rescale and normalise, then the vision
    tower's second-to-last hidden states (``WanImageToVideoPipeline.encode_image``)."""

    def __init__(self, vision, processor: dict):
        super().__init__()
        self.vision, self.size = vision, processor["size"]
        # An 8-bit image v becomes v * rescale; kino's frames are v / 127.5 - 1.
        self.scale = processor["rescale"] * 127.5
        self.register_buffer("mean", torch.tensor(processor["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(processor["std"]).view(1, 3, 1, 1), persistent=False)

    def pixels(self, image):
        """The processor's ``pixel_values`` for a square image in [-1, 1]."""
        x = (image.float() + 1.0) * self.scale
        # antialias: the processor's resize filters as it shrinks (a plain bicubic samples and
        # aliases: pixel values off by 0.07 on average, 480x832 to 224).
        x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False,
                          antialias=True).clamp(0.0, 1.0)
        return (x - self.mean) / self.std

    def forward(self, image):
        x = self.pixels(image)
        dt = next(self.vision.parameters()).dtype
        out = self.vision(pixel_values=x.to(dt), output_hidden_states=True)
        return out.hidden_states[-2].float()


class ImageDenoiserGraph(nn.Module):
    """The transformer with the condition channels and image tokens: ``cat([latents, condition])``
    as the pipeline's loop does; the image tokens of ``images`` images come as one sequence."""

    def __init__(self, transformer, images: int):
        super().__init__()
        self.tr, self.images = transformer, images

    def forward(self, latents, timestep, text_embeds, condition, image_embeds):
        dt = self.tr.patch_embedding.weight.dtype
        b, n, d = image_embeds.shape
        img = image_embeds.reshape(b * self.images, n // self.images, d)
        x = torch.cat([latents, condition], dim=1)
        return self.tr(hidden_states=x.to(dt), timestep=timestep, encoder_hidden_states=text_embeds.to(dt),
                       encoder_hidden_states_image=img.to(dt), return_dict=False)[0].float()


class WanI2V(Wan):
    name, family, title = "wan-i2v", "wan2.1-i2v", "Wan2.1 image-to-video / first-last-frame"
    PARTS = {"text_encoder": ("text_encoder",), "image_encoder": ("image_encoder",),
             "transformer": ("denoiser",),
             "vae": ("vae_decoder_first", "vae_decoder_step", "vae_encoder_first", "vae_encoder_step")}
    TINY_MAX_LENGTH = TEXT_LEN
    REAL_MAX_LENGTH = TEXT_LEN

    def add_arguments(self, ap) -> None:
        super().add_arguments(ap)
        ap.add_argument("--flf2v", action="store_true",
                        help="with --tiny: a first-last-frame model (two images) instead of image-to-video")

    def run(self, a, ap) -> int:
        if a.flf2v and not a.tiny:
            ap.error("--flf2v goes with --tiny (a checkpoint says itself which it is)")
        if a.max_length not in (None, TEXT_LEN):
            ap.error(f"--max-length: Wan image-to-video models take exactly {TEXT_LEN} text tokens")
        self._tiny_flf2v = a.flf2v
        return super().run(a, ap)

    def tiny_components(self, dtypes: dict | None = None, flf2v: bool | None = None) -> Components:
        f32 = torch.float32
        dtypes = dtypes or {}
        flf2v = getattr(self, "_tiny_flf2v", False) if flf2v is None else flf2v
        kind = "first-last-frame-to-video" if flf2v else "image-to-video"
        comp = Components(cast(tiny_text_encoder(), dtypes.get("text_encoder", f32)),
                          cast(tiny_transformer(flf2v), dtypes.get("transformer", f32)),
                          cast(tiny_vae(), dtypes.get("vae", f32)), dict(REAL_SCHEDULER_CONFIG), None,
                          name="wan-flf2v-tiny" if flf2v else "wan-i2v-tiny", tiny=True,
                          description=f"Wan2.1 {kind} architecture with tiny random weights (kino parity "
                                      "fixture; produces noise, not video)",
                          extra_parts={"image_encoder": tiny_image_encoder()})
        comp.processor_config = tiny_processor_config()
        return comp

    def load_components(self, folder: str, dtypes: dict) -> Components:
        from diffusers import AutoencoderKLWan, WanTransformer3DModel
        from transformers import CLIPVisionModel, UMT5EncoderModel
        folder = os.path.abspath(folder)
        check_layout(folder, ["model_index.json", "text_encoder/config.json", "transformer/config.json",
                              "vae/config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json",
                              "image_encoder/config.json", "image_processor/preprocessor_config.json"],
                     "Wan2.1 image-to-video")
        refuse_wan22(folder, "Wan2.1 image-to-video and first-last-frame")
        cfg = WanTransformer3DModel.load_config(os.path.join(folder, "transformer"))
        if cfg.get("image_dim") is None or cfg.get("in_channels") != 2 * cfg.get("out_channels", 16) + 4:
            raise ValueError(f"{folder}: not a Wan2.1 image-to-video transformer (image_dim {cfg.get('image_dim')}, "
                             f"in_channels {cfg.get('in_channels')}); export text-to-video with `wan`")
        sched = scheduler_config(folder)
        with open(os.path.join(folder, "image_processor", "preprocessor_config.json")) as f:
            processor = json.load(f)
        processor_facts(processor)  # refuse an unsupported processor before any weights load
        name = os.path.basename(folder.rstrip("/")) or "wan2.1-i2v"
        kind = "first-last-frame-to-video" if cfg.get("pos_embed_seq_len") else "image-to-video"
        comp = Components(
            lambda only=None: load_transformers_model(UMT5EncoderModel, os.path.join(folder, "text_encoder"),
                                                      dtypes["text_encoder"], only),
            lambda: load_diffusers_model(WanTransformer3DModel, os.path.join(folder, "transformer"),
                                         dtypes["transformer"]),
            lambda: load_diffusers_model(AutoencoderKLWan, os.path.join(folder, "vae"), dtypes["vae"]),
            sched, os.path.join(folder, "tokenizer", "tokenizer.json"), name=name, tiny=False,
            description=f"Wan2.1 {kind} exported from {name} (diffusers layout)",
            # diffusers' Wan I2V examples load the image encoder in float32 whatever the rest is.
            extra_parts={"image_encoder": lambda: load_transformers_model(
                CLIPVisionModel, os.path.join(folder, "image_encoder"), torch.float32)})
        comp.processor_config = processor
        return comp

    def read_facts(self, part: str, module) -> dict:
        if part == "image_encoder":
            cfg = module.config
            return {"tokens": (int(cfg.image_size) // int(cfg.patch_size)) ** 2 + 1, "dim": int(cfg.hidden_size)}
        facts = super().read_facts(part, module)
        if part == "transformer":
            cfg = module.config
            facts.update(images=2 if cfg.pos_embed_seq_len else 1, in_channels=int(cfg.in_channels),
                         image_dim=int(cfg.image_dim))
        return facts

    def graph_io(self, comp: Components, graph: str) -> dict:
        if graph == "image_encoder":
            f = self.facts(comp, "image_encoder")
            return {"inputs": [("image", "image", F32, ["images", 3, "side", "side"])],
                    "outputs": [("image_embeds", "image_embeds", F32, ["images", f["tokens"], f["dim"]])]}
        io = super().graph_io(comp, graph)
        if graph != "denoiser":
            return io
        tr, im = self.facts(comp, "transformer"), self.facts(comp, "image_encoder")
        lat = ["batch", None, "latent_frames", "latent_h", "latent_w"]
        inputs = [(r, n, d, ["batch", TEXT_LEN, None] if r == "text_embeds" else dims) for r, n, d, dims in io["inputs"]]
        inputs += [("condition", "condition", F32, lat),
                   ("image_embeds", "image_embeds", F32, ["batch", tr["images"] * im["tokens"], im["dim"]])]
        return {"inputs": inputs, "outputs": io["outputs"]}

    def graph_spec(self, comp: Components, graph: str):
        if graph == "image_encoder":
            f = processor_facts(comp.processor_config)
            side = _dim("side", 8, 4096)
            dev = next(comp.image_encoder.parameters()).device
            x = torch.rand(2, 3, f["size"] + 8, f["size"] + 8, device=dev) * 2 - 1
            graph = ImageEncoderGraph(comp.image_encoder, f).to(dev)
            return graph, (x,), {"image": {0: _dim("images", 1, 16), 2: side, 3: side}}
        if graph != "denoiser":
            return super().graph_spec(comp, graph)
        tr = comp.transformer
        cfg = tr.config
        im = self.facts(comp, "image_encoder")
        images = 2 if cfg.pos_embed_seq_len else 1
        d = _dims(int(cfg.rope_max_seq_len))
        dev = tr.patch_embedding.weight.device
        pt, ph, pw = cfg.patch_size
        c = int(cfg.out_channels)
        shape = (2, c, 2 * pt, 3 * ph, 2 * pw)
        cond = (2, int(cfg.in_channels) - c) + shape[2:]
        args = (torch.randn(*shape, device=dev), torch.full((2,), 500.0, device=dev),
                torch.randn(2, TEXT_LEN, cfg.text_dim, device=dev), torch.randn(*cond, device=dev),
                torch.randn(2, images * im["tokens"], im["dim"], device=dev))
        lat = {0: d["b"], 2: pt * d["lf"], 3: ph * d["hk"], 4: pw * d["wk"]}
        return (ImageDenoiserGraph(tr, images), args,
                {"latents": lat, "timestep": {0: d["b"]}, "text_embeds": {0: d["b"]}, "condition": lat,
                 "image_embeds": {0: d["b"]}})

    def manifest(self, comp: Components, max_length: int) -> dict:
        m = super().manifest(comp, max_length)
        tr, im = self.facts(comp, "transformer"), self.facts(comp, "image_encoder")
        g = self.graph_io(comp, "image_encoder")
        m["image_encoder"] = {"file": "image_encoder.onnx", "inputs": roles(g["inputs"]),
                              "outputs": roles(g["outputs"]), "tokens": im["tokens"], "dim": im["dim"]}
        d = self.graph_io(comp, "denoiser")
        m["denoiser"]["inputs"] = roles(d["inputs"])
        images = ["first", "last"] if tr["images"] == 2 else ["first"]
        # I2V was trained with the first frame given; FLF2V with the first and the last. The
        # condition's mask can say any frames, but the image tokens must be those images.
        # context_frames 1: a window continues from one frame, as the model was trained.
        m["conditioning"] = {"clean_context": False, "text": True, "context_frames": 1, "context_channels": True,
                             "image_frames": images, "context_at": ["both_ends"] if tr["images"] == 2 else ["start"]}
        m["defaults"]["guidance"] = DEFAULT_GUIDANCE
        return m


def _dim(name: str, lo: int, hi: int):
    from torch.export import Dim
    return Dim(name, min=lo, max=hi)


WAN_I2V = WanI2V()
