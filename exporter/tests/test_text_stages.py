"""A text encoder exported as a chain of stages (``--text-encoder-stages``, families/text_stages.py)
gives the one-graph encoder's embeddings, run the way kino runs the chain (values passed by role).

1. Wan (UMT5, a bias in every block) read from a diffusers-layout folder one stage at a time
   (``load_transformers_model(only=...)`` leaves the other weights on the meta device): the chain
   equals the committed one-graph fixture and the committed staged fixture
   (tests/fixtures/text-stages/wan-tiny, which kino's Rust tests run; regenerate it with
   ``python -m kino_export wan --tiny --text-encoder-stages 2 --out DIR`` and copy the two
   text-encoder graphs and kino.json's ``text_encoder`` block).
2. LTX (T5, whose block-0 position bias travels between stages) with a byte budget small enough
   that the embedding gets a stage of its own: three graphs, the same embeddings.
3. The plan: explicit counts split the blocks evenly; an encoder within the budget stays one graph.
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kino_export.families import ltx, text_stages, wan
from kino_export.families.common import Components
from kino_export.families.loading import load_transformers_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGED_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "text-stages", "wan-tiny")


def run_chain(folder: str, block: dict, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    values = {"input_ids": ids, "attention_mask": mask}
    for graph in [block] + block.get("stages", []):
        session = ort.InferenceSession(os.path.join(folder, graph["file"]), providers=["CPUExecutionProvider"])
        feeds = {t["name"]: values[role] for role, t in graph["inputs"].items()}
        outputs = session.run([t["name"] for t in graph["outputs"].values()], feeds)
        values.update(zip(graph["outputs"].keys(), outputs))
    return values["text_embeds"]


def tokens(vocab: int = 30):
    rng = np.random.default_rng(7)
    ids = rng.integers(3, vocab, (2, 16)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    return ids, mask


def committed(name: str) -> tuple[str, dict]:
    folder = os.path.join(ROOT, "models", "fixtures", f"{name}-tiny")
    with open(os.path.join(folder, "kino.json")) as f:
        return folder, json.load(f)["text_encoder"]


def text_only(source, name: str) -> Components:
    return Components(source, None, None, {}, None, name=name, description="", tiny=True)


def test_wan_stages_read_one_at_a_time_equal_the_one_graph_encoder(tmp_path):
    from transformers import UMT5EncoderModel
    src = tmp_path / "text_encoder"
    wan.tiny_text_encoder().save_pretrained(src)
    loaded = []

    def load(only=None):
        m = load_transformers_model(UMT5EncoderModel, str(src), torch.float32, only)
        loaded.append(sum(p.device.type != "meta" for p in m.parameters()))
        return m

    comp = text_only(load, "wan-staged")
    comp.text_stages = 2
    out = tmp_path / "pkg"
    paths = wan.WAN.export_graphs(comp, str(out), graphs=["text_encoder"])
    assert sorted(paths) == ["text_encoder", "text_encoder_1"]
    stages, shared = comp.text_plan
    assert not shared and [(s.start, s.end) for s in stages] == [(0, 1), (1, 2)]
    # the plan's skeleton read nothing; each stage read only its share of the weights
    total = sum(1 for _ in wan.tiny_text_encoder().parameters())
    assert loaded[0] == 0 and all(0 < n < total for n in loaded[1:]), loaded

    block = text_stages.manifest_block(stages, shared)
    ids, mask = tokens()
    want = run_chain(*committed("wan"), ids, mask)
    got = run_chain(str(out), block, ids, mask)
    assert np.abs(got - want).max() <= 1e-6
    with open(os.path.join(STAGED_FIXTURE, "text_encoder.json")) as f:
        fixture = json.load(f)
    assert {k: fixture[k] for k in ("file", "inputs", "outputs", "stages")} == block
    assert np.abs(run_chain(STAGED_FIXTURE, fixture, ids, mask) - want).max() <= 1e-6


def test_ltx_position_bias_crosses_stages_and_the_embedding_can_stand_alone(tmp_path, monkeypatch):
    t5 = ltx.tiny_text_encoder().eval()
    embed = t5.encoder.embed_tokens.weight
    block_bytes = sum(p.numel() * p.element_size() for n, p in t5.named_parameters() if n.startswith("encoder.block.0."))
    monkeypatch.setattr(text_stages, "STAGE_BYTES", max(embed.numel() * embed.element_size(), block_bytes))
    comp = text_only(t5, "ltx-staged")
    paths = ltx.LTX.export_graphs(comp, str(tmp_path), graphs=["text_encoder"])
    stages, shared = comp.text_plan
    assert shared and [(s.start, s.end) for s in stages] == [(0, 0), (0, 1), (1, 2)]
    assert len(paths) == 3
    block = text_stages.manifest_block(stages, shared)
    assert list(block["stages"][0]["outputs"]) == ["hidden_states", "position_bias"]
    assert "position_bias" in block["stages"][1]["inputs"]
    ids, mask = tokens()
    want = run_chain(*committed("ltx"), ids, mask)
    assert np.abs(run_chain(str(tmp_path), block, ids, mask) - want).max() <= 1e-6


@pytest.mark.parametrize("count,bounds", [(1, [(0, 2)]), (2, [(0, 1), (1, 2)]), (5, [(0, 1), (1, 2)])])
def test_plan_splits_blocks_evenly_and_small_encoders_stay_one_graph(count, bounds):
    te = wan.tiny_text_encoder()
    assert [(s.start, s.end) for s in text_stages.plan(te, count)] == bounds
    auto = text_stages.plan(te, None)
    assert len(auto) == 1 and auto[0].first and auto[0].last and auto[0].graph == "text_encoder"
