"""Loading checkpoint components in their export dtype, one tensor at a time.

diffusers' ``from_pretrained`` without ``accelerate`` (not in kino's exporter environment) builds
the whole model in float32 with random weights, loads the state dict beside it and casts after:
about three float32 copies of a model that is exported in float16. Here the parameters are
created on the ``meta`` device (no memory, no random init), each tensor of the safetensors files is
read and cast on its own, and the model takes the tensors as its parameters: one copy, in the
target dtype. Buffers the model computes itself (RoPE tables) are built as usual.
"""
from __future__ import annotations

import contextlib
import json
import os
import re

import torch
import torch.nn as nn

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def _kept(name: str, keep: set) -> bool:
    return bool(keep & set(name.split(".")))


def cast(model: nn.Module, dtype: torch.dtype, keep=()) -> nn.Module:
    """``model`` in ``dtype`` except what its class keeps in float32 (``_keep_in_fp32_modules``:
    Wan's RoPE tables, time embedder, modulation tables and norms; UMT5's ``wo``) and the names in
    ``keep``, which is what ``from_pretrained(torch_dtype=...)`` does. Float64 tensors (the RoPE
    tables) stay as they are."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or []) | set(keep)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.dtype in FLOATS and not _kept(name, keep):
            t.data = t.data.to(dtype)
    return model


@contextlib.contextmanager
def meta_parameters():
    """Modules built inside get their parameters on the meta device; buffers stay real."""
    register = nn.Module.register_parameter

    def on_meta(module, name, param):
        register(module, name, param)
        if param is not None and param.device.type != "meta":
            p = module._parameters[name]
            module._parameters[name] = nn.Parameter(p.to("meta"), requires_grad=p.requires_grad)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def _weight_files(folder: str) -> list[str] | None:
    index = os.path.join(folder, "diffusion_pytorch_model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    if os.path.isfile(os.path.join(folder, "diffusion_pytorch_model.safetensors")):
        return ["diffusion_pytorch_model.safetensors"]
    return None


SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                      "BOOL": torch.bool}


def read_safetensors(path: str, only=None):
    """Yields (name, tensor) of a safetensors file, each read into its own memory with plain reads
    (only the names ``only(name)`` accepts, when given). safetensors' own loader maps the whole file
    and hands out views of the mapping: every page read stays in the process's memory until the
    last tensor of the file is gone."""
    import json as _json
    with open(path, "rb") as f:
        header = _json.loads(f.read(int.from_bytes(f.read(8), "little")))
        start = f.tell()
        header.pop("__metadata__", None)
        for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            if only is not None and not only(key):
                continue
            begin, end = info["data_offsets"]
            dtype = SAFETENSORS_DTYPES.get(info["dtype"])
            if dtype is None:
                raise ValueError(f"{path}: tensor {key} has dtype {info['dtype']}, which the exporter does not read")
            buf = bytearray(end - begin)
            f.seek(start + begin)
            f.readinto(buf)
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
            yield key, t.reshape(info["shape"])


def load_diffusers_model(cls, folder: str, dtype: torch.dtype = torch.float32, keep=()):
    """``cls.from_pretrained(folder, torch_dtype=dtype)``, offline, holding one copy of the weights in
    ``dtype`` (float32 for ``cls._keep_in_fp32_modules`` and the names in ``keep``). A folder without
    safetensors weights goes through from_pretrained."""
    files = _weight_files(folder)
    if files is None:
        return cast(cls.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True), dtype, keep)
    with meta_parameters():
        model = cls.from_config(cls.load_config(folder))
    keep_all = set(cls._keep_in_fp32_modules or []) | set(keep)
    expected = dict(model.state_dict(keep_vars=True))
    state = {}
    for name in files:
        for key, t in read_safetensors(os.path.join(folder, name)):
            if key in expected and t.dtype in FLOATS:
                want = expected[key].dtype if expected[key].dtype not in FLOATS else (
                    torch.float32 if _kept(key, keep_all) else dtype)
                t = t.to(want)
            state[key] = t
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    del state
    ignored = cls._keys_to_ignore_on_load_unexpected or []
    unexpected = [k for k in unexpected if not any(re.search(p, k) for p in ignored)]
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit {cls.__name__}: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return cast(model, dtype, keep).eval()  # buffers the model built itself


def load_transformers_model(cls, folder: str, dtype: torch.dtype, only=None):
    """``cls.from_pretrained(folder, dtype=dtype)`` (float32 for ``_keep_in_fp32_modules``), with the
    weights read as in :func:`load_diffusers_model`; a folder without ``model.safetensors`` (or
    with shards) goes through from_pretrained. ``only(name)``: read just those weights; the others
    stay on the meta device (one stage of a staged text encoder)."""
    path = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(path):
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True).eval()
    config = cls.config_class.from_pretrained(folder, local_files_only=True)
    with meta_parameters():
        model = cls(config)
    keep = set(cls._keep_in_fp32_modules or []) if dtype == torch.float16 else set()
    expected = dict(model.state_dict(keep_vars=True))
    state = {}
    for key, t in read_safetensors(path, only):
        if key in expected and t.dtype in FLOATS:
            t = t.to(torch.float32 if _kept(key, keep) else dtype)
        state[key] = t
    model.load_state_dict(state, strict=False, assign=True)
    del state
    model.tie_weights()  # the input embeddings share the checkpoint's "shared.weight"
    missing = [n for n, p in model.named_parameters()
               if p.device.type == "meta" and (only is None or only(n))]
    if missing:
        raise ValueError(f"{folder}: weights do not fit {cls.__name__}: missing {missing[:5]}")
    return cast(model, dtype, keep).eval()  # (meta tensors too: stage sizes read their dtypes)
