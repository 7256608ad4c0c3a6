"""Random-weight diffusers folders at the real configurations, for measuring real-size exports.

    python -m kino_export realsize {wan|ltx} --out FOLDER [--dtype fp16|bf16|fp32] [--layers N] [--seed S]

writes a diffusers folder that ``python -m kino_export wan|ltx --from FOLDER`` takes: Wan2.1-T2V-1.3B
(UMT5-XXL encoder, 5.68 B parameters in all) or LTX-Video 2B 0.9.0 (T5-XXL v1.1 encoder, 4.76 B),
with the real configs and random weights, so export time, package size, load time and seconds per
step can be measured without the checkpoints (scripts/real-size-check.sh). The frames are noise.

No model is ever held in memory: each component is built on the meta device for its names,
shapes and dtypes, and its safetensors file is written tensor by tensor, each generated in chunks
from a generator seeded by ``--seed`` and the tensor's name (the same seed gives the same bytes).

The tokenizer is not the real UMT5 / T5 one (it cannot be downloaded offline): it is kino's small
stand-in T5 tokenizer (``families/t5_tokenizer``), whose ids lie within both vocabularies.
``--layers N`` shrinks the text encoder's and the transformer's depth (real widths) for quick trials.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import zlib

import torch

from .families import ltx, t5_tokenizer, wan
from .families.loading import _kept, meta_parameters

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
SAFETENSORS_NAMES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
                     torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL"}
CHUNK = 1 << 22  # elements generated at a time: 16 MB of float32, whatever the tensor's size
MAX_STD = 0.02

# The encoders' real configs (google/umt5-xxl as in Wan2.1's text_encoder/, google/t5-v1_1-xxl as in
# LTX-Video's), encoder only.
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, is_encoder_decoder=False, use_cache=False,
                pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              relative_attention_num_buckets=32, relative_attention_max_distance=128,
              feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, is_encoder_decoder=False, use_cache=False,
              pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)

PIPELINES = {
    "wan": {"_class_name": "WanPipeline", "scheduler": ["diffusers", "UniPCMultistepScheduler"],
            "text_encoder": ["transformers", "UMT5EncoderModel"], "tokenizer": ["transformers", "T5TokenizerFast"],
            "transformer": ["diffusers", "WanTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"]},
    "ltx": {"_class_name": "LTXPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
            "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5TokenizerFast"],
            "transformer": ["diffusers", "LTXVideoTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLLTXVideo"]},
}
NOTE = ("Random weights at the real configuration, written by `python -m kino_export realsize`; the tokenizer is "
        "kino's stand-in T5 tokenizer, not the real one. For measuring sizes and times only: the frames are noise.")


def build(family: str, part: str, layers: int | None = None, tiny_widths: bool = False):
    """The component ``part`` of ``family`` at the real configuration (``layers``: depth of the text
    encoder and transformer; ``tiny_widths``: the families' tiny fixture widths, for tests), its
    parameters on the meta device."""
    from diffusers import (AutoencoderKLLTXVideo, AutoencoderKLWan, LTXVideoTransformer3DModel,
                           WanTransformer3DModel)
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel
    depth = {} if layers is None else {"num_layers": layers}
    fam = wan if family == "wan" else ltx
    if part == "text_encoder":
        real = UMT5_XXL if family == "wan" else T5_XXL
        kw = dict(fam.TINY_UMT5 if family == "wan" else fam.TINY_T5, vocab_size=real["vocab_size"],
                  tie_word_embeddings=False) if tiny_widths else dict(real)
        kw.update(depth)
        kw["num_decoder_layers"] = kw["num_layers"]
        cfg_cls, cls = (UMT5Config, UMT5EncoderModel) if family == "wan" else (T5Config, T5EncoderModel)
        with meta_parameters():
            return cls(cfg_cls(**kw))
    if part == "transformer":
        if family == "wan":
            cls, kw = WanTransformer3DModel, dict(wan.TINY_TRANSFORMER if tiny_widths else wan.REAL_TRANSFORMER_1_3B)
        else:  # diffusers' defaults are LTX-Video 2B (0.9.0)
            cls, kw = LTXVideoTransformer3DModel, dict(ltx.TINY_TRANSFORMER) if tiny_widths else {}
    else:  # diffusers' defaults are the real VAEs (Wan2.1; LTX-Video 0.9.0)
        cls = AutoencoderKLWan if family == "wan" else AutoencoderKLLTXVideo
        kw = dict(fam.TINY_VAE) if tiny_widths else {}
        depth = {}
    with meta_parameters():
        return cls(**{**kw, **depth})


def is_transformers(model) -> bool:
    return type(model).__module__.startswith("transformers.")


def tensor_specs(model, dtype: torch.dtype) -> dict:
    """{name: (shape, dtype, init)} of what ``save_pretrained`` would write, with the dtype
    ``from_pretrained(torch_dtype=dtype)`` would give each tensor (``_keep_in_fp32_modules`` in
    float32: always for diffusers, for float16 only in transformers) and how to initialise it."""
    keep = set(type(model)._keep_in_fp32_modules or [])
    if is_transformers(model) and dtype != torch.float16:
        keep = set()
    tied = getattr(model, "_tied_weights_keys", None) or {}
    modules = dict(model.named_modules())
    specs = {}
    for name, t in model.state_dict(keep_vars=True).items():
        if name in tied:  # save_pretrained writes only the tensor it is tied to (T5's shared.weight)
            continue
        owner, _, leaf = name.rpartition(".")
        if not t.dtype.is_floating_point:
            specs[name] = (tuple(t.shape), t.dtype, "zeros")
            continue
        want = t.dtype if t.dtype == torch.float64 else torch.float32 if _kept(name, keep) else dtype
        norm = "norm" in type(modules.get(owner)).__name__.lower()
        if leaf in ("bias", "latents_mean") or t.dim() == 0:
            init = "zeros"
        elif leaf in ("gamma", "latents_std") or (norm and leaf == "weight"):
            init = "ones"
        elif t.dim() == 1:
            init = "zeros"
        else:
            # At most 0.02, less for wide inputs, so 24-30 random layers keep float16 activations finite.
            fan_in = math.prod(t.shape[1:])
            init = min(MAX_STD, fan_in ** -0.5)
        specs[name] = (tuple(t.shape), want, init)
    return specs


def header(specs: dict) -> bytes:
    """The safetensors header (JSON, tensors in name order, padded with spaces to 8 bytes)."""
    head, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(specs):
        shape, dtype, _ = specs[name]
        size = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        head[name] = {"dtype": SAFETENSORS_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(head, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8)


def tensor_seed(seed: int, name: str) -> int:
    return (seed * 0x9E3779B1 + zlib.crc32(name.encode())) % (1 << 63)


def write_safetensors(path: str, specs: dict, seed: int) -> int:
    """Writes the file tensor by tensor, each in chunks of CHUNK elements; returns its size."""
    head = header(specs)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for name in sorted(specs):
            shape, dtype, init = specs[name]
            n = math.prod(shape)
            g = torch.Generator().manual_seed(tensor_seed(seed, name))
            for start in range(0, n, CHUNK):
                k = min(CHUNK, n - start)
                if init == "zeros":
                    chunk = torch.zeros(k, dtype=dtype)
                elif init == "ones":
                    chunk = torch.ones(k, dtype=dtype)
                else:
                    chunk = torch.randn(k, generator=g).mul_(init).to(dtype)
                f.write(chunk.view(torch.uint8).numpy().data)
        return f.tell()


def write_config(model, folder: str, dtype: torch.dtype) -> None:
    os.makedirs(folder, exist_ok=True)
    if is_transformers(model):
        config = model.config
        config.architectures = [type(model).__name__]
        config.dtype = dtype
        config.save_pretrained(folder)
    else:
        model.save_config(folder)


def parameter_counts(family: str, layers: int | None = None, tiny_widths: bool = False) -> dict:
    """{component: parameters (tensors save_pretrained writes)}, from the meta-device models."""
    counts = {}
    for part in ("text_encoder", "transformer", "vae"):
        specs = tensor_specs(build(family, part, layers, tiny_widths), torch.float32)
        counts[part] = sum(math.prod(s) for s, _, _ in specs.values())
    return counts


def write_folder(family: str, out: str, dtype: str = "bf16", layers: int | None = None, seed: int = 0,
                 tiny_widths: bool = False, log=print) -> dict:
    """The whole diffusers folder; returns {component: weights file size in bytes}."""
    import diffusers
    if family not in PIPELINES:
        raise ValueError(f"family {family!r}: realsize builds wan or ltx")
    if layers is not None and layers < 1:
        raise ValueError(f"--layers {layers}: give at least 1")
    if os.path.exists(out) and os.listdir(out):
        raise FileExistsError(f"--out {out}: exists and is not empty; name a new folder")
    torch_dtype = DTYPES[dtype]
    sizes = {}
    for part, weights in (("text_encoder", "model.safetensors"), ("transformer", "diffusion_pytorch_model.safetensors"),
                          ("vae", "diffusion_pytorch_model.safetensors")):
        model = build(family, part, layers, tiny_widths)
        folder = os.path.join(out, part)
        write_config(model, folder, torch_dtype)
        specs = tensor_specs(model, torch_dtype)
        del model
        params = sum(math.prod(s) for s, _, _ in specs.values())
        log(f"{part}: {params / 1e9:.3f} B parameters -> {os.path.join(folder, weights)}")
        sizes[part] = write_safetensors(os.path.join(folder, weights), specs, seed)
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    t5_tokenizer.save(os.path.join(out, "tokenizer", "tokenizer.json"))
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    sched = wan.REAL_SCHEDULER_CONFIG if family == "wan" else ltx.REAL_SCHEDULER_CONFIG
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(dict(sched, _diffusers_version=diffusers.__version__), f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(dict(PIPELINES[family], _diffusers_version=diffusers.__version__, _kino_note=NOTE), f, indent=2)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"# {family} ({dtype}, layers {layers or 'real'}, seed {seed})\n\n{NOTE}\n")
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kino_export realsize",
                                 description="Write a random-weight diffusers folder at the real Wan2.1-T2V-1.3B or "
                                             "LTX-Video 2B configuration (stand-in tokenizer), for measuring exports")
    ap.add_argument("family", choices=tuple(PIPELINES))
    ap.add_argument("--out", help="folder to write (new or empty)")
    ap.add_argument("--dtype", choices=tuple(DTYPES), default="bf16", help="storage dtype of the weights (default bf16)")
    ap.add_argument("--layers", type=int, default=None,
                    help="layers of the text encoder and the transformer (default: the real depth)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--count", action="store_true",
                    help="write nothing: print each component's parameter count as JSON (for disk estimates)")
    ap.add_argument("--tiny-widths", action="store_true", help=argparse.SUPPRESS)  # tests: the fixtures' widths
    a = ap.parse_args(argv)
    if a.count:
        print(json.dumps(parameter_counts(a.family, a.layers, a.tiny_widths)))
        return 0
    if not a.out:
        ap.error("--out FOLDER is required (unless --count)")
    try:
        sizes = write_folder(a.family, a.out, a.dtype, a.layers, a.seed, a.tiny_widths)
    except (ValueError, FileExistsError) as e:
        ap.error(str(e))
    print(f"wrote {a.out} ({sum(sizes.values()) / 1e9:.2f} GB of weights)")
    return 0
