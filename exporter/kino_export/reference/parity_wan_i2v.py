"""The tiny Wan2.1 image-to-video and first-last-frame packages and their parity cases, made by
diffusers' own ``WanImageToVideoPipeline``.

    python -m kino_export.reference.parity_wan_i2v        (from exporter/; rewrites the folders)

Writes ``models/fixtures/wan-i2v-tiny/`` and ``models/fixtures/wan-flf2v-tiny/`` (``kino_export
wan-i2v --tiny [--flf2v]``) and one case for each under ``tests/fixtures/parity/<package>/<case>/``:
parity_io's files plus ``images.u8``, the given images (``[n, H, W, 3]`` 8-bit RGB), whose frames
``case.json`` lists under ``image_frames``. The pipeline is built from the very torch modules the
graphs were exported from and called with the images (at the video's size, which the processors
leave as they are), explicit 16-channel initial latents, CFG on and 512 text tokens.

:func:`onnx_generate` is the same generation with onnxruntime over the package's graphs,
following the kino contract (``conditioning.context_channels``) step by step: what the engine does.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import torch

from ..families import wan_i2v
from . import parity_io, schedulers
from .parity_wan import OnnxPackage, decode_chunks, encode_chunks, encode_prompt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
PACKAGES = {False: os.path.join(ROOT, "models", "fixtures", "wan-i2v-tiny"),
            True: os.path.join(ROOT, "models", "fixtures", "wan-flf2v-tiny")}
CASES_DIR = os.path.join(ROOT, "tests", "fixtures", "parity")

CASES = [
    dict(case="i2v_32x32x9", flf2v=False, prompt="a red ball rolls across the table", negative_prompt="blurry",
         width=32, height=32, frames=9, steps=4, guidance=5.0, seed=4),
    dict(case="flf2v_32x32x13", flf2v=True, prompt="the ball flies from the left to the right",
         negative_prompt="", width=32, height=32, frames=13, steps=4, guidance=4.0, seed=5),
]


def images_for(case: dict) -> np.ndarray:
    """Deterministic 8-bit RGB images ``[n, H, W, 3]``: a bright disc on a gradient, the last one
    with the disc elsewhere."""
    h, w = case["height"], case["width"]
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for cx in ([0.3, 0.7] if case["flf2v"] else [0.4]):
        disc = ((x - cx * w) ** 2 + (y - 0.5 * h) ** 2) < (0.2 * w) ** 2
        img = np.stack([40 + 150 * x / w, 60 + 100 * y / h, 90 + 0 * x], -1)
        img[disc] = [230, 40, 30]
        out.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return np.stack(out)


def image_frames(case: dict) -> list[int]:
    return [0, case["frames"] - 1] if case["flf2v"] else [0]


def noise_for(comp, case: dict) -> np.ndarray:
    s, t = int(comp.vae.config.scale_factor_spatial), int(comp.vae.config.scale_factor_temporal)
    shape = (1, int(comp.transformer.config.out_channels), (case["frames"] - 1) // t + 1,
             case["height"] // s, case["width"] // s)
    g = torch.Generator().manual_seed(case["seed"])
    return torch.randn(shape, generator=g, dtype=torch.float32).numpy()


def _without_ftfy() -> None:
    """diffusers' I2V pipeline calls ``ftfy.fix_text`` without checking that ftfy is installed (its
    T2V pipeline checks); the environment has no ftfy, and on the cases' ASCII prompts fix_text
    returns its input, so the module gets that identity."""
    import types

    from diffusers.pipelines.wan import pipeline_wan_i2v
    if not hasattr(pipeline_wan_i2v, "ftfy"):
        pipeline_wan_i2v.ftfy = types.SimpleNamespace(fix_text=lambda text: text)


def run_pipeline(comp, tokenizer_path: str, case: dict, noise: np.ndarray) -> np.ndarray:
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
    from PIL import Image
    from transformers import CLIPImageProcessor

    from ..families import t5_tokenizer
    _without_ftfy()
    pipe = WanImageToVideoPipeline(
        tokenizer=t5_tokenizer.hf_tokenizer(tokenizer_path), text_encoder=comp.text_encoder,
        image_encoder=comp.image_encoder, image_processor=CLIPImageProcessor(**comp.processor_config),
        transformer=comp.transformer, vae=comp.vae,
        scheduler=UniPCMultistepScheduler.from_config(comp.scheduler_config))
    pipe.set_progress_bar_config(disable=True)
    imgs = [Image.fromarray(a) for a in images_for(case)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = pipe(image=imgs[0], last_image=imgs[1] if case["flf2v"] else None, prompt=case["prompt"],
                     negative_prompt=case["negative_prompt"], width=case["width"], height=case["height"],
                     num_frames=case["frames"], num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                     latents=torch.from_numpy(noise.copy()), max_sequence_length=wan_i2v.TEXT_LEN,
                     output_type="np").frames
    return parity_io.frames_from_np_output(np.asarray(video))


# ---------------------------------------------------------------------------------------------
# The same generation with onnxruntime only, following the kino package contract.


def condition(pkg: OnnxPackage, given: dict, frames: int, height: int, width: int) -> np.ndarray:
    """``[1, t + C, f, h, w]``: the mask of given pixel frames (t channels per latent frame, the
    causal first frame's repeated) and the normalised latents of the window's frames, the given
    ones in place and zeros elsewhere. ``given``: {pixel frame: image [3, H, W] in [-1, 1]}."""
    m = pkg.manifest
    lat = m["latent"]
    t = lat["temporal_compression"]
    video = np.zeros((1, 3, frames, height, width), np.float32)
    for k, img in given.items():
        video[0, :, k] = img
    z = encode_chunks(pkg, m["vae_encoder"], video, t)
    mean = np.asarray(lat["mean"], np.float32).reshape(1, -1, 1, 1, 1)
    std = np.asarray(lat["std"], np.float32).reshape(1, -1, 1, 1, 1)
    z = (z - mean) * np.float32(lat["scaling_factor"]) / std
    f, h, w = z.shape[2:]
    given_frame = [k in given for k in range(frames)]
    mask = np.zeros((1, t, f, h, w), np.float32)
    for j in range(f):
        for i in range(t):
            mask[0, i, j] = given_frame[0] if j == 0 else given_frame[1 + t * (j - 1) + i]
    return np.concatenate([mask, z], axis=1)


def image_embeds(pkg: OnnxPackage, images: list) -> np.ndarray:
    """Each image's tokens (``image_encoder`` on the image's centre square), one after another."""
    out = []
    for img in images:
        h, w = img.shape[1:]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append(pkg.run(pkg.manifest["image_encoder"], {"image": img[None, :, y:y + s, x:x + s]})["image_embeds"])
    return np.concatenate(out, axis=1)


def onnx_generate(pkg: OnnxPackage, case: dict, noise: np.ndarray, images: np.ndarray) -> np.ndarray:
    m = pkg.manifest
    lat = m["latent"]
    planar = [(a.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5) - 1) for a in images]
    given = dict(zip(image_frames(case), planar))
    cond = condition(pkg, given, case["frames"], case["height"], case["width"])
    emb = image_embeds(pkg, planar)
    sched = schedulers.diffusers_scheduler(m["scheduler"], case["steps"], int(np.prod(noise.shape[2:])))
    pos = encode_prompt(pkg, case["prompt"])
    neg = encode_prompt(pkg, case["negative_prompt"])
    x = torch.from_numpy(noise.copy())
    den = m["denoiser"]
    for t in sched.timesteps:
        ts = np.full((1,), float(t), dtype=np.float32)
        feed = {"latents": x.numpy(), "timestep": ts, "condition": cond, "image_embeds": emb}
        v_c = pkg.run(den, feed | {"text_embeds": pos})["velocity"]
        v_u = pkg.run(den, feed | {"text_embeds": neg})["velocity"]
        v = torch.from_numpy(v_u) + case["guidance"] * (torch.from_numpy(v_c) - torch.from_numpy(v_u))
        x = sched.step(v, t, x, return_dict=False)[0]
    mean = np.asarray(lat["mean"], np.float32).reshape(1, -1, 1, 1, 1)
    std = np.asarray(lat["std"], np.float32).reshape(1, -1, 1, 1, 1)
    return decode_chunks(pkg, m["vae_decoder"], x.numpy() * std / np.float32(lat["scaling_factor"]) + mean)


def case_meta(case: dict) -> dict:
    import diffusers
    meta = {k: case[k] for k in ("prompt", "negative_prompt", "width", "height", "frames", "steps", "guidance",
                                 "seed")}
    meta["scheduler"] = None
    meta["image_frames"] = image_frames(case)
    meta["generator"] = (f"python -m kino_export.reference.parity_wan_i2v (diffusers {diffusers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}): WanImageToVideoPipeline, explicit 5-D latents")
    return meta


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-export", action="store_true", help="keep the packages, rewrite only the cases")
    a = ap.parse_args(argv)
    for case in CASES:
        flf2v = case["flf2v"]
        comp = wan_i2v.WAN_I2V.tiny_components(flf2v=flf2v)
        folder = PACKAGES[flf2v]
        if not a.skip_export:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wan_i2v.WAN_I2V.export_package(comp, folder, wan_i2v.TEXT_LEN)
            print(f"wrote {folder}")
        pkg = OnnxPackage(folder)
        noise = noise_for(comp, case)
        images = images_for(case)
        frames = run_pipeline(comp, os.path.join(folder, "tokenizer.json"), case, noise)
        out = os.path.join(CASES_DIR, os.path.basename(folder), case["case"])
        parity_io.write_case(out, case_meta(case), noise, frames)
        np.ascontiguousarray(images).tofile(os.path.join(out, "images.u8"))
        err = float(np.abs(onnx_generate(pkg, case, noise, images) - frames).max())
        print(f"{out}: noise {list(noise.shape)} frames {list(frames.shape)} onnx-vs-diffusers max abs {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
