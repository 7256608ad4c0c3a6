"""Export a trained demo checkpoint to a kino model package (``kino.json`` + ONNX + tokenizer).

    python -m kino_export demo export --run exporter/runs/demo --out models/kino-shapes
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

import torch
import torch.nn as nn
from torch.export import Dim

from .. import manifest as kino_manifest
from .. import onnx_export
from ..families.common import package_folder
from ..onnx_export import tensor
from . import world
from .nets import DiT, CausalVideoAutoencoder, TextEncoder
from .tokenizer import build_tokenizer

F32, I64 = "float32", "int64"


# Wrapper graphs: the exact signatures of the kino component contract (docs/model-package.md).

class TextEncoderGraph(nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids, attention_mask):
        return self.te(input_ids, attention_mask)


class DenoiserGraph(nn.Module):
    def __init__(self, dit):
        super().__init__()
        self.dit = dit

    def forward(self, latents, timestep, text_embeds, text_mask):
        return self.dit(latents, timestep, text_embeds, text_mask)


class DecoderFirstGraph(nn.Module):
    """First latent frame -> first pixel frame; the latent frame is the cache for the next step."""

    def __init__(self, ae):
        super().__init__()
        self.ae = ae

    def forward(self, latents):
        return self.ae.decode_first(latents), latents + 0.0


class DecoderStepGraph(nn.Module):
    def __init__(self, ae):
        super().__init__()
        self.ae = ae

    def forward(self, latents, cache_in_0):
        return self.ae.decode_step(cache_in_0, latents), latents + 0.0


class EncoderGraph(nn.Module):
    def __init__(self, ae):
        super().__init__()
        self.ae = ae

    def forward(self, frames):
        return self.ae.encode(frames)


def load_checkpoint(path: str):
    ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = ck["config"]
    ae = CausalVideoAutoencoder(cfg["latent_channels"])
    ae.load_state_dict(ck["ae"])
    te = TextEncoder(len(world.SPECIAL) + len(world.WORDS), cfg["text_dim"])
    te.load_state_dict(ck["te"])
    dit = DiT(cfg["latent_channels"], cfg["patch"], cfg["dit_dim"], cfg["dit_layers"], cfg["dit_heads"], cfg["text_dim"])
    dit.load_state_dict(ck["dit"])
    return ck, ae.eval(), te.eval(), dit.eval()


def load_autoencoder(folder: str) -> CausalVideoAutoencoder:
    """The video autoencoder of an exported package, rebuilt from its ONNX graphs: every conv
    weight is an initializer under its torch name (``ae.dec_step.0.weight``), so the shipped
    decoder can be refined without the training run it came from. Strict loading catches a
    missing or extra weight."""
    import onnx
    from onnx import numpy_helper

    from .train import CONFIG

    state = {}
    for name in ("vae_encoder.onnx", "vae_decoder_first.onnx", "vae_decoder_step.onnx"):
        for init in onnx.load(os.path.join(folder, name)).graph.initializer:
            if init.name.startswith("ae."):
                state[init.name[3:]] = torch.from_numpy(numpy_helper.to_array(init).copy())
    ae = CausalVideoAutoencoder(CONFIG["latent_channels"])
    ae.load_state_dict(state)
    ae.set_decoder_padding(decoder_padding(folder))
    return ae.eval()


def read_manifest(folder: str) -> dict:
    """A package's ``kino.json``, as a dict."""
    with open(os.path.join(folder, "kino.json")) as f:
        return json.load(f)


def copy_package_files(src: str, dst: str, replaced: tuple[str, ...]) -> None:
    """Copy a package's files into ``dst`` byte for byte, except ``kino.json`` and the
    ``replaced`` graphs that a refinement stage writes anew."""
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if os.path.isfile(path) and name != "kino.json" and name not in replaced:
            shutil.copy2(path, os.path.join(dst, name))


def decoder_padding(folder: str) -> str:
    """How the package's decoder pads its convolutions: the manifest's training record says
    (packages from before the record pad with zeros)."""
    return read_manifest(folder).get("training", {}).get("decoder_padding", "zeros")


def state_from_graph(module: nn.Module, path: str, prefix: str) -> dict:
    """A module's weights read back from its exported graph. Most initializers keep their torch
    names (``dit.blocks.0.ada.bias``); a linear layer's weight is stored transposed for MatMul
    under a generated name: those are matched to the remaining weights by transposed shape, in
    graph order (the order the layers run, which is the order the module lists them, shape by
    shape). A count that does not match raises; the caller checks the result numerically."""
    import onnx
    from onnx import numpy_helper

    inits = onnx.load(path).graph.initializer
    named = {i.name[len(prefix):]: i for i in inits if i.name.startswith(prefix)}
    anonymous = [i for i in inits if not i.name.startswith(prefix)]
    state, wanted = {}, {}
    for name, p in module.state_dict().items():
        if name in named:
            state[name] = torch.from_numpy(numpy_helper.to_array(named[name]).copy())
        elif p.dim() == 2:
            wanted.setdefault(tuple(p.shape[::-1]), []).append(name)
        else:
            raise ValueError(f"{path}: no initializer for {prefix}{name}")
    for shape, names in wanted.items():
        found = [i for i in anonymous if tuple(i.dims) == shape]
        if len(found) != len(names):
            raise ValueError(f"{path}: {len(names)} weights of shape {shape[::-1]} but {len(found)} candidates")
        for name, init in zip(names, found):
            state[name] = torch.from_numpy(numpy_helper.to_array(init).T.copy())
    return state


def load_text_and_denoiser(folder: str) -> tuple[TextEncoder, DiT]:
    """The text encoder and DiT of an exported package, rebuilt from its graphs, so that a
    refinement stage can start from the shipped weights."""
    from .train import CONFIG

    cfg = CONFIG
    te = TextEncoder(len(world.SPECIAL) + len(world.WORDS), cfg["text_dim"])
    te.load_state_dict(state_from_graph(te, os.path.join(folder, "text_encoder.onnx"), "te."))
    dit = DiT(cfg["latent_channels"], cfg["patch"], cfg["dit_dim"], cfg["dit_layers"], cfg["dit_heads"], cfg["text_dim"])
    dit.load_state_dict(state_from_graph(dit, os.path.join(folder, "denoiser.onnx"), "dit."))
    return te.eval(), dit.eval()


def export_text_and_denoiser(te: TextEncoder, dit: DiT, folder: str) -> None:
    """Write the text encoder and denoiser graphs (the package contract's names) into ``folder``."""
    from .train import CONFIG

    c, p, text_dim = CONFIG["latent_channels"], CONFIG["patch"], CONFIG["text_dim"]
    b, n = Dim("batch", min=1, max=64), Dim("text_len", min=1, max=world.MAX_TOKENS)
    f = Dim("latent_frames", min=1, max=64)
    gh, gw = Dim("patch_rows", min=1, max=64), Dim("patch_cols", min=1, max=64)
    ids = torch.ones(2, 4, dtype=torch.int64)
    onnx_export.export(TextEncoderGraph(te), (ids, torch.ones_like(ids)), os.path.join(folder, "text_encoder.onnx"),
                       ["input_ids", "attention_mask"], ["text_embeds"],
                       {"input_ids": {0: b, 1: n}, "attention_mask": {0: b, 1: n}})
    lat = torch.randn(2, c, 2, 2 * p, 2 * p)
    onnx_export.export(DenoiserGraph(dit), (lat, torch.rand(2, 2) * 1000, torch.randn(2, 4, text_dim),
                                            torch.ones(2, 4, dtype=torch.int64)),
                       os.path.join(folder, "denoiser.onnx"), ["latents", "timestep", "text_embeds", "text_mask"],
                       ["velocity"],
                       {"latents": {0: b, 2: f, 3: p * gh, 4: p * gw}, "timestep": {0: b, 1: f},
                        "text_embeds": {0: b, 1: n}, "text_mask": {0: b, 1: n}})


def export_decoder(ae: CausalVideoAutoencoder, folder: str) -> None:
    """Write the two decoder graphs (the package contract's ``vae_decoder``) into ``folder``."""
    b = Dim("batch", min=1, max=64)
    lh, lw = Dim("latent_h", min=1, max=256), Dim("latent_w", min=1, max=256)
    one = torch.randn(2, ae.c, 1, 4, 4)
    onnx_export.export(DecoderFirstGraph(ae), (one,), os.path.join(folder, "vae_decoder_first.onnx"),
                       ["latents"], ["frames", "cache_out_0"], {"latents": {0: b, 3: lh, 4: lw}})
    onnx_export.export(DecoderStepGraph(ae), (one, torch.randn_like(one)), os.path.join(folder, "vae_decoder_step.onnx"),
                       ["latents", "cache_in_0"], ["frames", "cache_out_0"],
                       {"latents": {0: b, 3: lh, 4: lw}, "cache_in_0": {0: b, 3: lh, 4: lw}})


def export_encoder(ae: CausalVideoAutoencoder, folder: str) -> None:
    """Write the encoder graph (the package contract's ``vae_encoder``) into ``folder``."""
    b = Dim("batch", min=1, max=64)
    lh, lw = Dim("latent_h", min=1, max=256), Dim("latent_w", min=1, max=256)
    k = Dim("groups", min=1, max=64)
    frames = torch.rand(2, 3, 9, 16, 16) * 2 - 1
    onnx_export.export(EncoderGraph(ae), (frames,), os.path.join(folder, "vae_encoder.onnx"), ["frames"], ["latents"],
                       {"frames": {0: b, 2: 4 * k + 1, 3: 4 * lh, 4: 4 * lw}})


def export_package(ck, ae, te, dit, out: str, name: str = "kino-shapes") -> str:
    """Write the package into a temp folder beside ``out`` and move it into place at the end."""
    cfg = ck["config"]
    c = cfg["latent_channels"]
    with package_folder(out) as tmp:
        build_tokenizer().save(os.path.join(tmp, "tokenizer.json"))
        export_text_and_denoiser(te, dit, tmp)
        export_decoder(ae, tmp)
        export_encoder(ae, tmp)

        latent_dec = {"latents": tensor("latents", F32)}
        manifest = kino_manifest.manifest(
            name=name, family="kino-demo",
            description="kino's demo model: one coloured shape moving on a dark background "
                        "(prompts like \"a red circle moving left\"). Trained by kino_export demo train.",
            # Trained at 64x64 only (the world is a 64 px torus): the one size it can draw; and on
            # windows of up to 17 frames: one window of 25 or 33 lost its motion after frame 17
            # (direction 18% in frames 16-31), so longer clips are made window by window.
            video=kino_manifest.video(fps=world.FPS, width=world.SIZE, height=world.SIZE, frames=world.FRAMES,
                                      max_size=world.SIZE, max_frames=world.FRAMES, size_multiple=16, min_size=world.SIZE,
                                      channels=c, spatial=ae.S, temporal=ae.T),
            latent=kino_manifest.latent(channels=c, spatial=ae.S, temporal=ae.T,
                                        mean=[round(x, 7) for x in ck["latent_mean"]],
                                        std=[round(x, 7) for x in ck["latent_std"]], scaling_factor=1.0),
            tokenizer={"file": "tokenizer.json", "max_length": world.MAX_TOKENS, "padding": "longest",
                       "clean": "whitespace", "unknown_words": "drop"},
            text_encoder={"file": "text_encoder.onnx", "text_dim": cfg["text_dim"], "zero_past_length": False,
                          "inputs": {"input_ids": tensor("input_ids", I64),
                                     "attention_mask": tensor("attention_mask", I64)},
                          "outputs": {"text_embeds": tensor("text_embeds", F32)}},
            denoiser={"file": "denoiser.onnx", "timestep_shape": "per_frame", "text_dim": cfg["text_dim"],
                      "max_batch": 64,
                      "inputs": {"latents": tensor("latents", F32), "timestep": tensor("timestep", F32),
                                 "text_embeds": tensor("text_embeds", F32), "text_mask": tensor("text_mask", I64)},
                      "outputs": {"velocity": tensor("velocity", F32)}},
            vae_decoder={"kind": "causal_chunks", "first_latent_frames": 1, "step_latent_frames": 1,
                         "caches": ["previous_latent"],
                         "first": {"file": "vae_decoder_first.onnx", "inputs": latent_dec,
                                   "outputs": {"frames": tensor("frames", F32),
                                               "cache_out_0": tensor("cache_out_0", F32)}},
                         "step": {"file": "vae_decoder_step.onnx",
                                  "inputs": latent_dec | {"cache_in_0": tensor("cache_in_0", F32)},
                                  "outputs": {"frames": tensor("frames", F32),
                                              "cache_out_0": tensor("cache_out_0", F32)}}},
            vae_encoder={"kind": "whole_clip", "file": "vae_encoder.onnx",
                         "inputs": {"frames": tensor("frames", F32)},
                         "outputs": {"latents": tensor("latents", F32)}},
            # Stochastic steps from text and in a long clip's later windows (direction 96.0%
            # against 86.5% over four seeds); beside the user's frames fresh noise roughened the
            # seams (docs/demo-model.md).
            scheduler={"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 1.0,
                       "stochastic_sampling": True, "stochastic_given_frames": False},
            # Guidance 2 from text: with stochastic steps, clean frames and the prompt followed
            # (4 drew a second copy of the object in a tenth of the frames); 4 beside given
            # frames, where 2 roughened the seam of extending backwards (docs/demo-model.md).
            defaults={"steps": 20, "guidance": 2.0, "guidance_given_frames": 4.0, "negative_prompt": "", "candidates": 8},
            conditioning={"clean_context": True, "text": True, "context_frames": 9},
            training={"seed": ck["seed"], "train_seconds": round(ck["train_seconds"]),
                      "sampled_adherence": ck["scores"]},
        )
        kino_manifest.write(tmp, manifest)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kino_export demo export")
    ap.add_argument("--run", default="exporter/runs/demo", help="training run folder (checkpoint.pt)")
    ap.add_argument("--out", default="models/kino-shapes")
    ap.add_argument("--name", default="kino-shapes")
    a = ap.parse_args(argv)
    ck, ae, te, dit = load_checkpoint(os.path.join(a.run, "checkpoint.pt"))
    out = export_package(ck, ae, te, dit, a.out, a.name)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
