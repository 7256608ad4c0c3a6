"""Wan2.1 image-to-video and first-last-frame: the committed tiny packages and parity cases.

1. Each package's manifest is what the writer declares for the tiny components, and its graphs
   have the declared io.
2. The image encoder and denoiser graphs equal the modules called as WanImageToVideoPipeline calls
   them (``encode_image``: the processor then the vision tower's second-to-last hidden states;
   the transformer on ``cat([latents, condition])`` with the image tokens), and the image
   encoder's resize gives the processor's size for another image size.
3. Each committed case regenerates with diffusers from its committed noise and images (no drift),
   and a plain onnxruntime loop following the kino contract (``conditioning.context_channels``:
   the condition built from the given frames, the image tokens) reproduces diffusers' frames.
4. The real Wan2.1-I2V-14B transformer (real width, 1 of 40 layers) and CLIP ViT-H/14 configs,
   exported without weights, have the declared io.

Regenerate the fixtures with ``python -m kino_export.reference.parity_wan_i2v`` (from exporter/).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from kino_export import onnx_export
from kino_export.families import wan_i2v
from kino_export.reference import parity_io
from kino_export.reference import parity_wan_i2v as P
from kino_export.reference.parity_wan import OnnxPackage

FAMILY = wan_i2v.WAN_I2V
KINDS = {"i2v": False, "flf2v": True}


@pytest.fixture(scope="module", params=list(KINDS))
def kind(request):
    flf2v = KINDS[request.param]
    comp = FAMILY.tiny_components(flf2v=flf2v)
    return flf2v, comp, OnnxPackage(P.PACKAGES[flf2v])


def _err(a, b) -> float:
    b = b.numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def test_manifest_and_graphs_are_what_the_writer_declares(kind):
    flf2v, comp, pkg = kind
    assert pkg.manifest == json.loads(json.dumps(FAMILY.manifest(comp, wan_i2v.TEXT_LEN)))
    for g in FAMILY.graphs:
        onnx_export.check_graph(os.path.join(pkg.folder, f"{g}.onnx"), FAMILY.graph_io(comp, g))
    cond = pkg.manifest["conditioning"]
    assert cond["context_channels"] and cond["image_frames"] == (["first", "last"] if flf2v else ["first"])
    assert pkg.manifest["tokenizer"]["max_length"] == 512
    onnx_bytes = sum(os.path.getsize(os.path.join(pkg.folder, f"{g}.onnx")) for g in FAMILY.graphs)
    assert onnx_bytes < 1_000_000, onnx_bytes


def test_graphs_match_the_pipeline_calls(kind):
    flf2v, comp, pkg = kind
    from transformers import CLIPImageProcessor
    m = pkg.manifest
    g = torch.Generator().manual_seed(11)
    errors = {}
    with torch.no_grad():
        # encode_image: the processor on 8-bit images, then the tower's second-to-last states.
        images = (torch.rand(2 if flf2v else 1, 32, 32, 3, generator=g) * 255).round().to(torch.uint8).numpy()
        proc = CLIPImageProcessor(**comp.processor_config)
        pixels = proc(images=list(images), return_tensors="pt")["pixel_values"]
        want = comp.image_encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]
        planar = images.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - 1
        got = pkg.run(m["image_encoder"], {"image": planar})["image_embeds"]
        errors["image_encoder"] = _err(got, want)

        # The transformer as the pipeline's loop calls it: 36 channels, int64 timestep, the text
        # as 512 tokens, the image tokens (FLF2V: two images' worth, as encode_image gives them).
        tokens = FAMILY.facts(comp, "image_encoder")["tokens"]
        n_img = 2 if flf2v else 1
        lat, cond = torch.randn(1, 16, 3, 4, 6, generator=g), torch.randn(1, 20, 3, 4, 6, generator=g)
        text, img = torch.randn(1, 512, 32, generator=g), torch.randn(n_img, tokens, 4, generator=g)
        t = torch.tensor([731])
        want = comp.transformer(hidden_states=torch.cat([lat, cond], 1), timestep=t, encoder_hidden_states=text,
                                encoder_hidden_states_image=img, return_dict=False)[0]
        got = pkg.run(m["denoiser"], {"latents": lat.numpy(), "timestep": t.float().numpy(), "text_embeds": text.numpy(),
                                      "condition": cond.numpy(), "image_embeds": img.reshape(1, -1, 4).numpy()})["velocity"]
        errors["denoiser"] = _err(got, want)
        # A batch of two (kino's guided pair) gives each sample's own result.
        got2 = pkg.run(m["denoiser"], {"latents": np.concatenate([lat.numpy()] * 2), "timestep": np.full(2, 731.0, np.float32),
                                       "text_embeds": np.concatenate([text.numpy()] * 2),
                                       "condition": np.concatenate([cond.numpy()] * 2),
                                       "image_embeds": np.concatenate([img.reshape(1, -1, 4).numpy()] * 2)})["velocity"]
        errors["denoiser batch 2"] = _err(got2[1:], want)
    print("pipeline calls vs onnxruntime max abs:", {k: f"{v:.2e}" for k, v in errors.items()})
    assert all(v < 1e-4 for v in errors.values()), errors


def test_image_encoder_resizes_as_the_processor_does():
    """Images larger than the processor's size are resized in the graph as CLIPImageProcessor
    resizes them (bicubic, filtered as it shrinks): within a fraction of an 8-bit level on average,
    on noise (where a resize without filtering aliases) at the real 480 -> 224 and at 96 -> 32."""
    from transformers import CLIPImageProcessor
    rng = np.random.default_rng(0)
    for side, cfg in ((480, wan_i2v.tiny_processor_config() | {"crop_size": 224, "size": {"shortest_edge": 224}}),
                      (96, wan_i2v.tiny_processor_config())):
        img = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        want = CLIPImageProcessor(**cfg)(images=[img], return_tensors="pt")["pixel_values"]
        graph = wan_i2v.ImageEncoderGraph(torch.nn.Linear(1, 1), wan_i2v.processor_facts(cfg))
        got = graph.pixels(torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1))
        level = 1 / 255 / min(wan_i2v.CLIP_STD)  # one 8-bit level in normalised units
        err = float((got - want).abs().mean())
        print(f"{side} -> {cfg['crop_size']}: mean abs {err:.4f} ({err / level:.2f} levels)")
        assert err < 0.5 * level, err


def test_every_case_is_committed():
    for flf2v, folder in P.PACKAGES.items():
        cases = os.path.join(P.CASES_DIR, os.path.basename(folder))
        assert sorted(os.listdir(cases)) == sorted(c["case"] for c in P.CASES if c["flf2v"] == flf2v)


@pytest.mark.parametrize("name", [c["case"] for c in P.CASES])
def test_committed_case_regenerates_and_onnxruntime_reproduces_it(name):
    case = next(c for c in P.CASES if c["case"] == name)
    folder = P.PACKAGES[case["flf2v"]]
    meta, noise, frames = parity_io.read_case(os.path.join(P.CASES_DIR, os.path.basename(folder), name))
    fresh_meta = {k: v for k, v in P.case_meta(case).items() if k != "generator"}
    assert {k: meta[k] for k in fresh_meta} == fresh_meta
    comp = FAMILY.tiny_components(flf2v=case["flf2v"])
    np.testing.assert_array_equal(noise, P.noise_for(comp, case))
    images = np.fromfile(os.path.join(P.CASES_DIR, os.path.basename(folder), name, "images.u8"), np.uint8)
    np.testing.assert_array_equal(images.reshape(P.images_for(case).shape), P.images_for(case))
    fresh = P.run_pipeline(comp, os.path.join(folder, "tokenizer.json"), case, noise)
    drift = float(np.abs(fresh - frames).max())
    got = P.onnx_generate(OnnxPackage(folder), case, noise, P.images_for(case))
    err = float(np.abs(got - frames).max())
    print(f"{name}: regenerated vs committed {drift:.2e}, onnxruntime loop vs diffusers {err:.2e}")
    assert drift <= 1e-5, drift
    assert err <= 1e-4, err
    assert float(np.abs(frames).max()) > 0.05


def test_real_size_wan_i2v(tmp_path):
    """Wan2.1-I2V-14B's transformer (width 5120 = 40 x 128 heads, image tokens of CLIP's 1280 with
    keys and values of their own; 1 of its 40 layers) and CLIP ViT-H/14 (1 of 32 layers), built on
    the meta device and exported without weights: the io the manifest writer declares."""
    from diffusers import WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel

    class Real:
        tiny, processor_config = False, wan_i2v.tiny_processor_config() | {"crop_size": 224,
                                                                          "size": {"shortest_edge": 224}}
    with torch.device("meta"):
        tr = WanTransformer3DModel(**dict(wan_i2v.REAL_TRANSFORMER_I2V_14B, num_layers=1))
        vision = CLIPVisionModel(CLIPVisionConfig(**dict(wan_i2v.REAL_CLIP_VIT_H, num_hidden_layers=1)))
    facts = {"image_encoder": {"tokens": 257, "dim": 1280}, "transformer": {"images": 1}}
    comp = Real()
    comp.facts, comp.image_encoder, comp.transformer = facts, vision, tr
    for graph in ("image_encoder", "denoiser"):
        io = FAMILY.graph_io(comp, graph)
        module, args, dyn = FAMILY.graph_spec(comp, graph)
        path = onnx_export.export_structure(module, args, str(tmp_path / f"{graph}.onnx"),
                                            [e[1] for e in io["inputs"]], [e[1] for e in io["outputs"]], dyn)
        onnx_export.check_graph(path, io)


def test_each_exporter_refuses_the_others_checkpoints(tmp_path):
    """A text-to-video folder given to ``wan-i2v`` and an image-to-video one given to ``wan`` are
    refused from their configs, before any weights load, naming the command to use."""
    from kino_export.families import wan

    def folder(name: str, transformer: dict) -> str:
        root = tmp_path / name
        files = {"model_index.json": {}, "text_encoder/config.json": {}, "vae/config.json": {},
                 "scheduler/scheduler_config.json": wan.REAL_SCHEDULER_CONFIG, "tokenizer/tokenizer.json": {},
                 "image_encoder/config.json": {}, "image_processor/preprocessor_config.json": wan_i2v.tiny_processor_config(),
                 "transformer/config.json": {"_class_name": "WanTransformer3DModel", **transformer}}
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(json.dumps(content))
        return str(root)

    t2v = folder("t2v", {"in_channels": 16, "out_channels": 16})
    with pytest.raises(ValueError, match="not a Wan2.1 image-to-video transformer.*with `wan`"):
        FAMILY.load_components(t2v, {})
    i2v = folder("i2v", {"in_channels": 36, "out_channels": 16, "image_dim": 1280})
    with pytest.raises(ValueError, match="export it with `wan-i2v`"):
        wan.WAN.load_components(i2v, {})
    bad = folder("crop", {"in_channels": 36, "out_channels": 16, "image_dim": 1280})
    (tmp_path / "crop/image_processor/preprocessor_config.json").write_text(json.dumps({"crop_size": 224, "size": 256}))
    with pytest.raises(ValueError, match="square centre crop"):
        FAMILY.load_components(bad, {})


def test_export_from_a_diffusers_folder_is_the_fixture(tmp_path):
    """The path users run: the tiny first-last-frame pipeline saved by diffusers
    (``save_pretrained``: image_encoder/, image_processor/, transformer/, ...), exported with
    ``python -m kino_export wan-i2v --from``, gives the committed fixture's graphs (same outputs on
    the same inputs) and manifest (apart from the real checkpoint's video defaults)."""
    import subprocess
    import sys

    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor

    from kino_export.families import t5_tokenizer
    comp = FAMILY.tiny_components(flf2v=True)
    t5_tokenizer.save(str(tmp_path / "tokenizer.json"))
    pipe = WanImageToVideoPipeline(
        tokenizer=t5_tokenizer.hf_tokenizer(str(tmp_path / "tokenizer.json")), text_encoder=comp.text_encoder,
        image_encoder=comp.image_encoder, image_processor=CLIPImageProcessor(**comp.processor_config),
        transformer=comp.transformer, vae=comp.vae, scheduler=UniPCMultistepScheduler.from_config(comp.scheduler_config))
    folder, out = tmp_path / "flf2v", tmp_path / "package"
    pipe.save_pretrained(str(folder))
    exporter = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "kino_export", "wan-i2v", "--from", str(folder), "--out", str(out)],
                       cwd=exporter, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    fixture = OnnxPackage(P.PACKAGES[True])
    exported = OnnxPackage(str(out))
    strip = ("name", "description", "video")
    assert {k: v for k, v in exported.manifest.items() if k not in strip} == \
        {k: v for k, v in fixture.manifest.items() if k not in strip}
    g = torch.Generator().manual_seed(5)
    image = (torch.rand(1, 3, 40, 40, generator=g) * 2 - 1).numpy()
    a = exported.run(exported.manifest["image_encoder"], {"image": image})["image_embeds"]
    b = fixture.run(fixture.manifest["image_encoder"], {"image": image})["image_embeds"]
    assert _err(a, b) <= 1e-6
    tokens = fixture.manifest["image_encoder"]["tokens"]
    feed = {"latents": torch.randn(1, 16, 2, 4, 4, generator=g).numpy(), "timestep": np.array([500.0], np.float32),
            "text_embeds": torch.randn(1, 512, 32, generator=g).numpy(),
            "condition": torch.randn(1, 20, 2, 4, 4, generator=g).numpy(),
            "image_embeds": torch.randn(1, 2 * tokens, 4, generator=g).numpy()}
    a = exported.run(exported.manifest["denoiser"], feed)["velocity"]
    b = fixture.run(fixture.manifest["denoiser"], feed)["velocity"]
    assert _err(a, b) <= 1e-6
