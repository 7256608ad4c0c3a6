"""A large T5-style text encoder (UMT5-XXL, T5-XXL) exported as a chain of graphs.

UMT5-XXL has 5.7 B parameters: 11 GB in fp16, and ONNX Runtime on CPU holds fp16 weights as fp32,
so one graph would need 23 GB to run. Split into stages of a few blocks each, kino loads one stage,
runs it and drops it before the next (``text_encoder.stages`` in kino.json, docs/model-package.md),
and the exporter reads only one stage's weights at a time.

The chain passes values by role: the first graph takes ``input_ids`` and ``attention_mask``, every
later one ``hidden_states`` (float32) and ``attention_mask``; the last one outputs ``text_embeds``
(after the final norm). T5 computes its relative position bias in block 0 and shares it with the
later blocks: the stage holding block 0 outputs it (``position_bias``, float32 ``[1, heads, L, L]``)
and the later stages take it in. UMT5 has a bias in every block, so nothing else travels.

Every stage runs the blocks exactly as ``UMT5Stack`` / ``T5Stack.forward`` do (the same bidirectional
mask, the same positional call); hidden states cross graph boundaries as float32, which is exact
for fp16 and fp32 models.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..onnx_export import EXTERNAL_DATA_BYTES

F32, I64 = "float32", "int64"
# Weights of one stage in the export dtype: each stage stays one protobuf file, and needs about
# twice this once ONNX Runtime holds fp16 weights as fp32.
STAGE_BYTES = EXTERNAL_DATA_BYTES


@dataclass(frozen=True)
class Stage:
    index: int
    start: int   # first block
    end: int     # one past the last block
    first: bool  # holds the token embedding
    last: bool   # holds the final norm

    @property
    def graph(self) -> str:
        return "text_encoder" if self.index == 0 else f"text_encoder_{self.index}"


def _stack(model: nn.Module) -> nn.Module:
    return model.encoder


def shares_position_bias(model: nn.Module) -> bool:
    """T5: only block 0 has a relative attention bias, the others reuse its output."""
    blocks = _stack(model).block
    return len(blocks) > 1 and not blocks[1].layer[0].SelfAttention.has_relative_attention_bias


def _bytes(model: nn.Module, prefix: str) -> int:
    return sum(t.numel() * t.element_size() for n, t in model.named_parameters() if n.startswith(prefix))


def plan(model: nn.Module, stages: int | None) -> list[Stage]:
    """The stages of ``model`` (its parameters may be on the meta device): ``stages`` groups of
    blocks of nearly equal count, or (None) as few as keep each stage's weights within
    :data:`STAGE_BYTES`; one stage means the one-graph export."""
    n = len(_stack(model).block)
    if stages is not None:
        stages = max(1, min(stages, n))
        bounds = [round(i * n / stages) for i in range(stages + 1)]
    else:
        sizes = [_bytes(model, f"encoder.block.{i}.") for i in range(n)]
        w = _stack(model).embed_tokens.weight  # tied to shared.weight: counted once
        embed = w.numel() * w.element_size()
        if embed + sum(sizes) <= STAGE_BYTES:
            bounds = [0, n]
        else:
            bounds, used = [0], embed
            for i, size in enumerate(sizes):
                if used + size > STAGE_BYTES and (i > bounds[-1] or used > 0):
                    bounds.append(i)
                    used = 0
                used += size
            bounds.append(n)
    k = len(bounds) - 1
    return [Stage(i, bounds[i], bounds[i + 1], i == 0, i == k - 1) for i in range(k)]


def needs(stage: Stage):
    """The checkpoint keys a stage reads (``load_transformers_model(only=...)``)."""
    blocks = tuple(f"encoder.block.{i}." for i in range(stage.start, stage.end))

    def wanted(key: str) -> bool:
        if key.startswith(blocks):
            return True
        if stage.first and (key.startswith("shared.") or key.startswith("encoder.embed_tokens.")):
            return True
        return stage.last and key.startswith("encoder.final_layer_norm.")
    return wanted


class TextStageGraph(nn.Module):
    """Blocks ``[start, end)`` of the encoder, as the stack runs them."""

    def __init__(self, model: nn.Module, stage: Stage):
        super().__init__()
        stack = _stack(model)
        self.config = stack.config
        self.stage = stage
        self.shared_bias = shares_position_bias(model)
        self.embed = stack.embed_tokens if stage.first else None
        self.blocks = nn.ModuleList(stack.block[stage.start:stage.end])
        self.norm = stack.final_layer_norm if stage.last else None
        # the dtype hidden states have inside the stack: the embedding's (block weights like `wo`
        # may be kept in float32)
        self.dtype = stack.block[stage.start].layer[0].SelfAttention.q.weight.dtype if stage.end > stage.start \
            else stack.embed_tokens.weight.dtype
        # the stage that runs block 0 outputs T5's shared bias unless it is the last stage
        self.bias_out = self.shared_bias and stage.start == 0 < stage.end and not stage.last
        self.bias_in = self.shared_bias and stage.start > 0

    def forward(self, x, attention_mask, position_bias=None):
        from transformers.masking_utils import create_bidirectional_mask
        hidden = self.embed(x) if self.embed is not None else x.to(self.dtype)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        bias = position_bias.to(hidden.dtype) if position_bias is not None else None
        for block in self.blocks:
            if self.shared_bias:
                hidden, bias, _ = block(hidden, mask, bias, None, None, None)
            else:
                hidden = block(hidden, mask, None)
        if self.norm is not None:
            hidden = self.norm(hidden)
        if self.bias_out:
            return hidden.float(), bias.float()
        return hidden.float()


def graph_io(stage: Stage, shared_bias: bool) -> dict:
    """{"inputs"|"outputs": [(role, name, dtype, dims)]} of one stage (as ``*_graphs.graph_io``)."""
    tokens = ["batch", "text_len"]
    hidden = ("hidden_states", "hidden_states", F32, ["batch", "text_len", None])
    # (a graph cannot name an output as one of its inputs: the role is the same, the name not)
    hidden_out = ("hidden_states", "hidden_states_out", F32, ["batch", "text_len", None])
    bias = ("position_bias", "position_bias", F32, [1, None, "text_len", "text_len"])
    first_in = ("input_ids", "input_ids", I64, tokens) if stage.first else hidden
    inputs = [first_in, ("attention_mask", "attention_mask", I64, tokens)]
    if shared_bias and stage.start > 0:
        inputs.append(bias)
    if stage.last:
        outputs = [("text_embeds", "text_embeds", F32, ["batch", "text_len", None])]
    else:
        outputs = [hidden_out] + ([bias] if shared_bias and stage.start == 0 < stage.end else [])
    return {"inputs": inputs, "outputs": outputs}


def graph_spec(model: nn.Module, stage: Stage):
    """(wrapper, example args, dynamic shapes) of one stage, as ``text_encoder_spec``."""
    from torch.export import Dim
    b, n = Dim("batch", min=1, max=16), Dim("text_len", min=1, max=1024)
    module = TextStageGraph(model, stage)
    mask = torch.ones(2, 5, dtype=torch.int64)
    mask[1, 3:] = 0  # a padded row: tracing must not treat the mask as all ones
    if stage.first:
        x = torch.randint(3, 20, (2, 5), dtype=torch.int64)
    else:
        x = torch.randn(2, 5, int(module.config.d_model))
    args, dyn = (x, mask), [{0: b, 1: n}, {0: b, 1: n}]
    if module.bias_in:
        args += (torch.randn(1, int(module.config.num_heads), 5, 5),)
        dyn.append({2: n, 3: n})
    return module, args, tuple(dyn)


def manifest_block(stages: list[Stage], shared_bias: bool) -> dict:
    """The ``file``/``inputs``/``outputs``/``stages`` keys of kino.json's ``text_encoder``."""
    from ..onnx_export import roles

    def graph(s: Stage) -> dict:
        io = graph_io(s, shared_bias)
        return {"file": f"{s.graph}.onnx", "inputs": roles(io["inputs"]), "outputs": roles(io["outputs"])}
    block = graph(stages[0])
    block["stages"] = [graph(s) for s in stages[1:]]
    return block
