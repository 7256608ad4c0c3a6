"""The tiny Wan2.1 package and its parity cases, made by diffusers' own ``WanPipeline``.

    python -m kino_export.reference.parity_wan        (from exporter/; rewrites both folders)

Writes ``models/fixtures/wan-tiny/`` (``kino_export wan --tiny``: random weights from a fixed seed)
and ``tests/fixtures/parity/wan-tiny/<case>/`` (see parity_io). Each case is ``WanPipeline`` built
from the very torch modules the ONNX graphs were exported from, called with explicit 5-D initial
latents (the committed noise), prompt and negative prompt, CFG on, ``max_sequence_length`` = the
manifest's ``max_length``.

Schedules: the first cases use the package's scheduler (the real Wan2.1 config: UniPC bh2, order 2,
flow_shift 3.0). The last overrides it (``case.json`` ``scheduler``) with FlowMatchEuler shift 5.0;
``WanPipeline`` only ever calls ``set_timesteps(N)``, so the override is the diffusers scheduler
``schedulers.diffusers_scheduler`` maps that kino config to.

:func:`onnx_generate` is the same generation with nothing but onnxruntime over the package's graphs,
following the kino contract step by step (what the Rust engine does); the tests compare the two.
"""
from __future__ import annotations

import json
import os
import re
import sys
import warnings

import numpy as np
import torch

from ..families import wan
from . import parity_io, schedulers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
PACKAGE = os.path.join(ROOT, "models", "fixtures", "wan-tiny")
CASES_DIR = os.path.join(ROOT, "tests", "fixtures", "parity", "wan-tiny")
# The VAE encoder alone (extend/animate feed it clip frames): diffusers' encode, posterior mode.
ENCODE_DIR = os.path.join(ROOT, "tests", "fixtures", "parity", "wan-tiny-vae", "encode_32x32x9")

CASES = [
    # WanPipeline wants width and height divisible by 16 and 4k+1 frames; frames.f32 stays < 250 KB.
    # The first prompt's extra spaces exercise the whitespace cleaning; the last one is longer than
    # max_length (16 tokens) and exercises truncation (</s> kept).
    dict(case="t2v_32x32x9", prompt="  a red ball   moving left over\tthe sea ", negative_prompt="",
         width=32, height=32, frames=9, steps=5, guidance=5.0, seed=1, scheduler=None),
    dict(case="t2v_48x32x5", prompt="a small cat walking on a street at night, camera pan",
         negative_prompt="blurry, low quality", width=48, height=32, frames=5, steps=4, guidance=4.0, seed=2,
         scheduler=None),
    dict(case="euler_shift5_32x48x13",
         prompt="golden sun rising over the mountains, clouds moving slowly, wide shot, beautiful morning light",
         negative_prompt="worst quality, static", width=32, height=48, frames=13, steps=4, guidance=3.5, seed=3,
         scheduler={"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 5.0,
                    "sigma_schedule": "linspace_train"}),
]


def diffusers_scheduler_for(case_scheduler: dict | None, comp: wan.Components):
    """The scheduler object handed to WanPipeline for a case (it calls set_timesteps(N) itself)."""
    from diffusers import UniPCMultistepScheduler
    if case_scheduler is None:
        return UniPCMultistepScheduler.from_config(comp.scheduler_config)  # the checkpoint's own config
    base = schedulers.diffusers_scheduler(case_scheduler, 1, 0)
    return type(base).from_config(base.config)


def pipeline(comp: wan.Components, tokenizer_path: str, scheduler):
    from diffusers import WanPipeline
    from ..families import t5_tokenizer
    pipe = WanPipeline(tokenizer=t5_tokenizer.hf_tokenizer(tokenizer_path), text_encoder=comp.text_encoder,
                       vae=comp.vae, scheduler=scheduler, transformer=comp.transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def noise_shape(comp: wan.Components, case: dict) -> tuple:
    s, t = int(comp.vae.config.scale_factor_spatial), int(comp.vae.config.scale_factor_temporal)
    return (1, comp.transformer.config.in_channels, (case["frames"] - 1) // t + 1,
            case["height"] // s, case["width"] // s)


def make_noise(comp: wan.Components, case: dict) -> np.ndarray:
    g = torch.Generator().manual_seed(case["seed"])
    return torch.randn(noise_shape(comp, case), generator=g, dtype=torch.float32).numpy()


def run_pipeline(comp: wan.Components, manifest: dict, tokenizer_path: str, case: dict, noise: np.ndarray):
    """diffusers' frames [1,3,F,H,W] in [-1,1] for a case from its 5-D noise, and the sigmas it used."""
    pipe = pipeline(comp, tokenizer_path, diffusers_scheduler_for(case.get("scheduler"), comp))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], width=case["width"],
                     height=case["height"], num_frames=case["frames"], num_inference_steps=case["steps"],
                     guidance_scale=case["guidance"], latents=torch.from_numpy(noise.copy()),
                     max_sequence_length=manifest["tokenizer"]["max_length"], output_type="np").frames
    return parity_io.frames_from_np_output(np.asarray(video)), pipe.scheduler.sigmas.numpy().copy()


# ---------------------------------------------------------------------------------------------
# The same generation with onnxruntime only, following the kino package contract.


def _session(path: str):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


class OnnxPackage:
    """A package's graphs behind their manifest roles (what kino's loader does)."""

    def __init__(self, folder: str):
        self.folder = folder
        with open(os.path.join(folder, "kino.json")) as f:
            self.manifest = json.load(f)
        self._sessions = {}

    def run(self, graph: dict, inputs: dict) -> dict:
        """Run a manifest graph object with inputs by role; returns outputs by role."""
        if graph["file"] not in self._sessions:
            self._sessions[graph["file"]] = _session(os.path.join(self.folder, graph["file"]))
        sess = self._sessions[graph["file"]]
        feed = {graph["inputs"][role]["name"]: value for role, value in inputs.items()}
        roles = list(graph["outputs"])
        out = sess.run([graph["outputs"][r]["name"] for r in roles], feed)
        return dict(zip(roles, out))


def encode_prompt(pkg: OnnxPackage, text: str) -> np.ndarray:
    """Clean, tokenize (pad to max_length), encode, zero the rows past the prompt's length."""
    from tokenizers import Tokenizer
    m = pkg.manifest
    spec = m["tokenizer"]
    if spec["clean"] == "whitespace":
        text = re.sub(r"\s+", " ", text).strip()
    tok = Tokenizer.from_file(os.path.join(pkg.folder, spec["file"]))
    n = spec["max_length"]
    tok.enable_truncation(max_length=n)
    pad_id = tok.token_to_id("<pad>")
    if spec["padding"] == "max_length":
        tok.enable_padding(length=n, pad_id=pad_id, pad_token="<pad>")
    enc = tok.encode(text)
    ids = np.array([enc.ids], dtype=np.int64)
    mask = np.array([enc.attention_mask], dtype=np.int64)
    te = m["text_encoder"]
    embeds = pkg.run(te, {"input_ids": ids, "attention_mask": mask})["text_embeds"]
    if te.get("zero_past_length"):
        embeds = embeds * mask[..., None].astype(np.float32)
    return embeds


def decode_chunks(pkg: OnnxPackage, vae: dict, latents: np.ndarray) -> np.ndarray:
    """A causal_chunks decoder over [B,C,f,h,w]: first graph on the first latent frame(s), then
    step graphs, caches threaded by index."""
    n_first, n_step = vae["first_latent_frames"], vae["step_latent_frames"]
    n_cache = len(vae["caches"])
    out = pkg.run(vae["first"], {"latents": latents[:, :, :n_first]})
    frames = [out["frames"]]
    caches = [out[f"cache_out_{i}"] for i in range(n_cache)]
    for k in range(n_first, latents.shape[2], n_step):
        feed = {"latents": latents[:, :, k:k + n_step]} | {f"cache_in_{i}": c for i, c in enumerate(caches)}
        out = pkg.run(vae["step"], feed)
        frames.append(out["frames"])
        caches = [out[f"cache_out_{i}"] for i in range(n_cache)]
    return np.concatenate(frames, axis=2)


def encode_chunks(pkg: OnnxPackage, vae: dict, frames: np.ndarray, temporal: int) -> np.ndarray:
    """A causal_chunks encoder over [B,3,F,H,W] (F = 1 + t*k): 1 frame, then t at a time."""
    n_cache = len(vae["caches"])
    out = pkg.run(vae["first"], {"frames": frames[:, :, :1]})
    latents = [out["latents"]]
    caches = [out[f"cache_out_{i}"] for i in range(n_cache)]
    for k in range(1, frames.shape[2], temporal):
        feed = {"frames": frames[:, :, k:k + temporal]} | {f"cache_in_{i}": c for i, c in enumerate(caches)}
        out = pkg.run(vae["step"], feed)
        latents.append(out["latents"])
        caches = [out[f"cache_out_{i}"] for i in range(n_cache)]
    return np.concatenate(latents, axis=2)


def onnx_generate(pkg: OnnxPackage, case: dict, noise: np.ndarray) -> np.ndarray:
    """Frames [1,3,F,H,W] in [-1,1] from the case's noise with the package's ONNX graphs."""
    m = pkg.manifest
    cfg = case.get("scheduler") or m["scheduler"]
    lat = m["latent"]
    seq = int(np.prod(noise.shape[2:]))  # only used by dynamic shifting, which Wan does not use
    sched = schedulers.diffusers_scheduler(cfg, case["steps"], seq)
    pos = encode_prompt(pkg, case["prompt"])
    neg = encode_prompt(pkg, case["negative_prompt"])
    x = torch.from_numpy(noise.copy())
    den = m["denoiser"]
    for t in sched.timesteps:
        ts = np.full((x.shape[0],), float(t), dtype=np.float32)
        xin = x.numpy()
        # Conditional and unconditional passes run separately, as WanPipeline does (kino batches
        # them, max_batch 2: the parity tests show the two agree).
        v_c = pkg.run(den, {"latents": xin, "timestep": ts, "text_embeds": pos})["velocity"]
        v_u = pkg.run(den, {"latents": xin, "timestep": ts, "text_embeds": neg})["velocity"]
        v = torch.from_numpy(v_u) + case["guidance"] * (torch.from_numpy(v_c) - torch.from_numpy(v_u))
        x = sched.step(v, t, x, return_dict=False)[0]
    mean = np.asarray(lat["mean"], np.float32).reshape(1, -1, 1, 1, 1)
    std = np.asarray(lat["std"], np.float32).reshape(1, -1, 1, 1, 1)
    z = x.numpy() * std / np.float32(lat["scaling_factor"]) + mean
    return decode_chunks(pkg, m["vae_decoder"], z)


# ---------------------------------------------------------------------------------------------


def case_meta(case: dict) -> dict:
    import diffusers
    meta = {k: case[k] for k in ("prompt", "negative_prompt", "width", "height", "frames", "steps", "guidance",
                                 "seed", "scheduler")}
    meta["generator"] = (f"python -m kino_export.reference.parity_wan (diffusers {diffusers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}): WanPipeline, explicit 5-D latents")
    return meta


def encode_reference(comp) -> tuple[np.ndarray, np.ndarray]:
    """A smooth deterministic 9-frame clip in [-1, 1] and ``vae.encode(clip).latent_dist.mode()``."""
    f, h, w = 9, 32, 32
    t, y, x = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
    clip = np.stack([np.sin(0.3 * x + 0.5 * t), np.cos(0.2 * y - 0.4 * t), np.sin(0.1 * (x + y) + 0.3 * t)])
    clip = (0.9 * clip[None]).astype(np.float32)
    with torch.no_grad():
        latents = comp.vae.encode(torch.from_numpy(clip)).latent_dist.mode().numpy()
    return clip, latents


def write_encode_reference(comp, folder: str) -> None:
    import diffusers
    clip, latents = encode_reference(comp)
    os.makedirs(folder, exist_ok=True)
    clip.astype("<f4").tofile(os.path.join(folder, "frames.f32"))
    latents.astype("<f4").tofile(os.path.join(folder, "latents.f32"))
    with open(os.path.join(folder, "case.json"), "w") as fh:
        json.dump({"frames_shape": list(clip.shape), "latents_shape": list(latents.shape),
                   "generator": f"python -m kino_export.reference.parity_wan (diffusers {diffusers.__version__}): "
                                "AutoencoderKLWan.encode(frames).latent_dist.mode()"}, fh, indent=2, sort_keys=True)
        fh.write("\n")
    print(f"{folder}: frames {list(clip.shape)} latents {list(latents.shape)}")


def main(argv=None) -> int:
    a, comp, manifest, tok = parity_io.generator_setup(argv, __doc__.split("\n")[0], wan, PACKAGE, CASES_DIR)
    pkg = OnnxPackage(a.package)
    # Beside the cases folder (the committed ENCODE_DIR for the default --cases).
    write_encode_reference(comp, os.path.join(os.path.dirname(os.path.abspath(a.cases)), *ENCODE_DIR.split(os.sep)[-2:]))
    for case in CASES:
        noise = make_noise(comp, case)
        frames, sigmas = run_pipeline(comp, manifest, tok, case, noise)
        folder = os.path.join(a.cases, case["case"])
        parity_io.write_case(folder, case_meta(case), noise, frames)
        err = float(np.abs(onnx_generate(pkg, case, noise) - frames).max())
        print(f"{folder}: noise {list(noise.shape)} frames {list(frames.shape)} "
              f"sigmas {np.round(sigmas, 4).tolist()} onnx-vs-diffusers max abs {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
