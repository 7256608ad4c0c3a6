"""The tiny LTX-Video package and its parity cases, made by diffusers' own ``LTXPipeline``.

    python -m kino_export.reference.parity_ltx        (from exporter/; rewrites both folders)

Writes ``models/fixtures/ltx-tiny/`` (``kino_export ltx --tiny``: random weights from a fixed seed)
and ``tests/fixtures/parity/ltx-tiny/<case>/`` (see parity_io). Each case is ``LTXPipeline`` built
from the very torch modules the ONNX graphs were exported from, called with explicit initial
latents (the committed 5-D noise, packed exactly as ``LTXPipeline._pack_latents`` packs it),
prompt and negative prompt, CFG on, ``frame_rate`` = the manifest's video_coords frame rate,
``decode_timestep`` 0.05 and ``decode_noise_scale`` 0.0 (the decode noise cannot be matched across
random number generators; kino unit-tests the mixing itself).

Schedules: the first cases use the package's scheduler (the real LTX-Video config: dynamic shift,
``shift_terminal`` 0.1, ``LTXPipeline``'s ``sigmas=linspace(1, 1/N, N)`` and ``mu`` from the
latent sequence length F*h*w). The last overrides it (``case.json`` ``scheduler``) with a static
shift 1.0 on the training linspace; ``LTXPipeline`` always passes its own ``sigmas``, so for that
case it gets a FlowMatchEuler whose ``set_timesteps`` ignores them and runs ``set_timesteps(N)``
(what ``sigma_schedule: linspace_train`` means), see :class:`TrainLinspaceEuler`.

Conditioning (kino's native context mode): ``condition_video_32x32x17`` is diffusers'
``LTXConditionPipeline`` continuing from ``n`` given frames (``video=``, ``frame_index`` 0,
``strength`` 1.0, ``image_cond_noise_scale`` 0: kino's own re-noising RNG cannot match torch's).
That pipeline ignores ``latents=`` and draws its initial noise as the generator's first
``randn`` in ``prepare_latents``; :func:`make_noise` makes the same draw (checked against the
latents the pipeline actually starts from). Its schedule is ``linear_quadratic_schedule(N)`` on a
static-shift FlowMatchEuler (case ``scheduler``), its RoPE positions have the causal fix
``max(4f + 1 - 4, 0)`` (case ``manifest``: ``causal_offset`` -3), and the context frames are
committed as ``context.u8`` (RGB24 ``[n, H, W, 3]``). The output is the whole window, the
re-decoded context frames included. The prompts are the pipeline's own encoding too: its
``_get_t5_prompt_embeds`` runs T5 WITH the attention mask (``LTXPipeline``'s without, the package
default ``text_encoder.attend_to_padding: true``), so the case's ``manifest`` also sets
``attend_to_padding: false`` (kino feeds the encoder graph the real mask).

Conditions anywhere (``condition_*`` with ``conditions``): ``LTXConditionPipeline(conditions=[
LTXVideoCondition(image or video, frame_index, strength)])``; each condition's frames are committed
as ``condition<i>.u8``. Away from frame 0 a condition becomes extra tokens ahead of the video's
with RoPE positions shifted by its ``frame_index`` (a clip's latent frames past the second go into
the video at ``frame_index // t + 2``); kino's ``conditioning.context_tokens``. Strength below 1
is used only at frame 0, where the pipeline mixes the condition with the committed noise (away
from it, with a noise draw of its own that kino cannot match).
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import torch

from ..families import ltx
from . import parity_io, schedulers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
PACKAGE = os.path.join(ROOT, "models", "fixtures", "ltx-tiny")
CASES_DIR = os.path.join(ROOT, "tests", "fixtures", "parity", "ltx-tiny")

DECODE_TIMESTEP = 0.05
DECODE_NOISE_SCALE = 0.0
CONTEXT_FILE = "context.u8"

# What LTXConditionPipeline hard-codes, as a case's manifest tells kino (see the module docstring).
COND_SCHEDULER = {"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 1.0,
                  "sigma_schedule": "linear_quadratic"}
COND_MANIFEST = {"text_encoder": {"attend_to_padding": False},
                 "denoiser": {"video_coords": {"scale": [4, 8, 8], "frame_rate": 25.0, "causal_offset": -3}},
                 "conditioning": {"clean_context": True, "context_noise_scale": 0.0, "context_tokens": True}}
# What the conditions-anywhere cases share: the clip, the prompt and the sampler.
COND_CASE = dict(prompt="a yellow square sliding right", negative_prompt="blurry, static", width=32, height=32,
                 frames=17, steps=5, guidance=3.0, scheduler=COND_SCHEDULER, manifest=COND_MANIFEST)

CASES = [
    # LTXPipeline.check_inputs wants width and height divisible by 32; frames.f32 stays < 250 KB.
    dict(case="t2v_32x32x17", prompt="a red ball moving left over the sea", negative_prompt="",
         width=32, height=32, frames=17, steps=5, guidance=3.0, seed=1, scheduler=None),
    dict(case="t2v_64x32x9", prompt="a small cat walking on a street at night, camera pan",
         negative_prompt="blurry, low quality", width=64, height=32, frames=9, steps=4, guidance=4.5,
         seed=2, scheduler=None),
    dict(case="static_shift1_32x64x5", prompt="golden sun rising over the mountains",
         negative_prompt="worst quality", width=32, height=64, frames=5, steps=4, guidance=2.5, seed=3,
         scheduler={"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 1.0,
                    "sigma_schedule": "linspace_train"}),
    # LTXConditionPipeline: 5 context frames (2 latent frames) + 12 new ones.
    dict(case="condition_video_32x32x17", prompt="a yellow square sliding right",
         negative_prompt="blurry, static", width=32, height=32, frames=17, steps=5, guidance=3.0, seed=4,
         scheduler={"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 1.0,
                    "sigma_schedule": "linear_quadratic"},
         manifest={"text_encoder": {"attend_to_padding": False},  # T5 with the mask
                   "denoiser": {"video_coords": {"scale": [4, 8, 8], "frame_rate": 25.0, "causal_offset": -3}},
                   "conditioning": {"clean_context": True, "context_noise_scale": 0.0}},
         context={"file": CONTEXT_FILE, "frames": 5}),
    # LTXConditionPipeline with conditions away from frame 0 (kino: extra tokens ahead of the
    # video's, at their RoPE positions; conditioning.context_tokens): an image mid-clip, first and
    # last frames at once, a clip mid-video (its latent frames past the second in the video
    # itself), and a strength below 1 (mixed with the initial noise, held until the noise level
    # falls below 1 - strength).
    dict(COND_CASE, case="condition_image_mid_32x32x17", seed=5,
         conditions=[dict(frames=1, frame_index=8, strength=1.0, phase=4)]),
    dict(COND_CASE, case="condition_first_last_32x32x17", seed=6,
         conditions=[dict(frames=1, frame_index=0, strength=1.0, phase=0),
                     dict(frames=1, frame_index=16, strength=1.0, phase=8)]),
    dict(COND_CASE, case="condition_video_mid_32x32x17", seed=7,
         conditions=[dict(frames=9, frame_index=8, strength=1.0, phase=2)]),
    dict(COND_CASE, case="condition_strength_32x32x17", seed=8,
         conditions=[dict(frames=5, frame_index=0, strength=0.6, phase=0),
                     dict(frames=1, frame_index=12, strength=1.0, phase=6)]),
]


def _train_linspace_euler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    class TrainLinspaceEuler(FlowMatchEulerDiscreteScheduler):
        """FlowMatchEuler that ignores the ``sigmas`` LTXPipeline passes and spaces its own training
        sigmas (``set_timesteps(N)``): kino's ``sigma_schedule: "linspace_train"``."""

        def set_timesteps(self, num_inference_steps=None, device=None, sigmas=None, mu=None, timesteps=None):
            n = num_inference_steps if num_inference_steps is not None else len(sigmas)
            super().set_timesteps(n, device=device, mu=mu)

    return TrainLinspaceEuler


def diffusers_scheduler_for(manifest_scheduler: dict, case_scheduler: dict | None, comp: ltx.Components):
    """The scheduler object handed to LTXPipeline for a case."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    if case_scheduler is None:
        # The checkpoint's own config: LTXPipeline computes sigmas and mu itself.
        return FlowMatchEulerDiscreteScheduler.from_config(comp.scheduler_config)
    cfg = dict(schedulers.DEFAULTS, **case_scheduler)
    base = schedulers.diffusers_scheduler(case_scheduler, 1, 1024)  # only for its config
    if cfg["sigma_schedule"] == "linspace_train":
        return _train_linspace_euler().from_config(base.config)
    return FlowMatchEulerDiscreteScheduler.from_config(base.config)


def pipeline(comp: ltx.Components, tokenizer_path: str, scheduler, cls=None):
    from diffusers import LTXPipeline
    from ..families import t5_tokenizer
    pipe = (cls or LTXPipeline)(scheduler=scheduler, vae=comp.vae, text_encoder=comp.text_encoder,
                                tokenizer=t5_tokenizer.hf_tokenizer(tokenizer_path), transformer=comp.transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def noise_shape(comp: ltx.Components, case: dict) -> tuple:
    s, t = comp.vae.spatial_compression_ratio, comp.vae.temporal_compression_ratio
    return (1, comp.transformer.config.in_channels, (case["frames"] - 1) // t + 1,
            case["height"] // s, case["width"] // s)


def merged_manifest(manifest: dict, case: dict) -> dict:
    """The package's kino.json with the case's ``manifest`` fields merged in, key by key (as
    tests/parity.rs does), and its ``scheduler`` in place of the package's."""
    def merge(base, patch):
        if isinstance(base, dict) and isinstance(patch, dict):
            out = dict(base)
            for k, v in patch.items():
                out[k] = merge(base.get(k), v)
            return out
        return patch
    m = merge(manifest, case.get("manifest") or {})
    if case.get("scheduler"):
        m = dict(m, scheduler=case["scheduler"])
    return m


def make_context(case: dict) -> np.ndarray:
    """The frames a conditioning case continues from: uint8 RGB ``[n, H, W, 3]``, a smooth
    gradient with a square moving right and down (deterministic, no RNG)."""
    return make_frames(case["context"]["frames"], case["height"], case["width"])


def make_condition(case: dict, cond: dict) -> np.ndarray:
    """A condition's frames: :func:`make_frames` from frame ``phase`` of the motion on."""
    return make_frames(cond["frames"], case["height"], case["width"], cond["phase"])


def make_frames(n: int, H: int, W: int, phase: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.empty((n, H, W, 3), np.uint8)
    for j in range(n):
        i = j + phase
        r = 30 + 180 * x / (W - 1)
        g = 40 + 150 * y / (H - 1)
        b = 128 + 60 * np.sin(0.2 * (x + y) + 0.5 * i)
        frame = np.stack([r, g, b], -1)
        x0, y0 = 3 + 3 * i, 8 + i
        frame[y0:y0 + 9, x0:x0 + 9] = (235, 225, 40)
        out[j] = np.round(frame).astype(np.uint8)
    return out


def run_pipeline(comp: ltx.Components, manifest: dict, tokenizer_path: str, case: dict, noise: np.ndarray,
                 context: np.ndarray | None = None):
    """diffusers' frames [1,3,F,H,W] in [-1,1] for a case from its 5-D noise, and the sigmas it used."""
    from diffusers import LTXPipeline
    if case.get("context"):
        return run_condition_pipeline(comp, manifest, tokenizer_path, case, noise, context)
    if case.get("conditions"):
        return run_conditions_pipeline(comp, manifest, tokenizer_path, case, noise, context)
    sched = diffusers_scheduler_for(manifest["scheduler"], case.get("scheduler"), comp)
    pipe = pipeline(comp, tokenizer_path, sched)
    tr = comp.transformer.config
    packed = LTXPipeline._pack_latents(torch.from_numpy(noise), tr.patch_size, tr.patch_size_t)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], width=case["width"],
                     height=case["height"], num_frames=case["frames"], num_inference_steps=case["steps"],
                     guidance_scale=case["guidance"], latents=packed,
                     frame_rate=int(manifest["denoiser"]["video_coords"]["frame_rate"]),
                     max_sequence_length=manifest["tokenizer"]["max_length"],
                     decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE,
                     generator=torch.Generator().manual_seed(0), output_type="np").frames
    return parity_io.frames_from_np_output(np.asarray(video)), pipe.scheduler.sigmas.numpy().copy()


def run_condition_pipeline(comp: ltx.Components, manifest: dict, tokenizer_path: str, case: dict,
                           noise: np.ndarray, context: np.ndarray):
    """LTXConditionPipeline continuing from ``context`` (uint8 [n, H, W, 3]); ``noise`` must be the
    generator's first draw (:func:`make_noise`), which is checked against the latents the
    pipeline starts from."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from PIL import Image
    cfg = dict(schedulers.DEFAULTS, **case["scheduler"])
    assert cfg["sigma_schedule"] == "linear_quadratic" and not cfg["use_dynamic_shifting"], cfg
    # LTXConditionPipeline passes timesteps=linear_quadratic_schedule(N) * 1000 itself.
    base = schedulers.diffusers_scheduler(case["scheduler"], case["steps"], 1024)
    pipe = pipeline(comp, tokenizer_path, FlowMatchEulerDiscreteScheduler.from_config(base.config),
                    cls=LTXConditionPipeline)
    m = merged_manifest(manifest, case)
    vc, cond = m["denoiser"]["video_coords"], m["conditioning"]
    # What the pipeline hard-codes, as the case's manifest tells kino.
    t = comp.vae.temporal_compression_ratio
    assert vc["scale"] == [t, comp.vae.spatial_compression_ratio, comp.vae.spatial_compression_ratio], vc
    assert vc["causal_offset"] == 1 - t and cond["clean_context"] and cond["context_noise_scale"] == 0.0
    assert m["text_encoder"]["attend_to_padding"] is False  # _get_t5_prompt_embeds passes the mask to T5

    k = (context.shape[0] - 1) // t + 1
    started = {}
    prepare = pipe.prepare_latents

    def spy(*args, **kwargs):
        out = prepare(*args, **kwargs)
        started["latents"], started["mask"] = out[0].clone(), out[1].clone()
        return out

    pipe.prepare_latents = spy
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = pipe(video=[[Image.fromarray(f) for f in context]], frame_index=0, strength=1.0,
                     image_cond_noise_scale=0.0, denoise_strength=1.0, prompt=case["prompt"],
                     negative_prompt=case["negative_prompt"], width=case["width"],
                     height=case["height"], num_frames=case["frames"], num_inference_steps=case["steps"],
                     guidance_scale=case["guidance"], frame_rate=int(vc["frame_rate"]),
                     max_sequence_length=manifest["tokenizer"]["max_length"],
                     decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE,
                     generator=torch.Generator().manual_seed(case["seed"]), output_type="np").frames
    # The pipeline started from `noise` outside the context frames, and conditions on exactly
    # the first k latent frames' tokens.
    _, C, F, h, w = noise.shape
    start = LTXConditionPipeline._unpack_latents(started["latents"], F, h, w, 1, 1).numpy()
    np.testing.assert_array_equal(start[:, :, k:], noise[:, :, k:])
    mask = started["mask"].reshape(1, F, h * w).numpy()
    assert (mask[:, :k] == 1.0).all() and (mask[:, k:] == 0.0).all()
    return parity_io.frames_from_np_output(np.asarray(video)), pipe.scheduler.sigmas.numpy().copy()


def run_conditions_pipeline(comp: ltx.Components, manifest: dict, tokenizer_path: str, case: dict,
                            noise: np.ndarray, conditions: list[np.ndarray]):
    """LTXConditionPipeline with ``conditions=[LTXVideoCondition(...)]`` (an image where a
    condition has one frame, else a video); ``noise`` must be the generator's first draw, which
    is checked, as is every extra token's strength (kino draws its own noise for tokens held
    below strength 1, so the cases keep those at 1)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from diffusers.pipelines.ltx import pipeline_ltx_condition
    from PIL import Image
    base = schedulers.diffusers_scheduler(case["scheduler"], case["steps"], 1024)
    pipe = pipeline(comp, tokenizer_path, FlowMatchEulerDiscreteScheduler.from_config(base.config),
                    cls=LTXConditionPipeline)
    m = merged_manifest(manifest, case)
    vc = m["denoiser"]["video_coords"]
    t = comp.vae.temporal_compression_ratio
    assert vc["causal_offset"] == 1 - t and m["conditioning"]["context_tokens"]
    specs = case["conditions"]
    items = []
    for spec, frames in zip(specs, conditions):
        pics = [Image.fromarray(f) for f in frames]
        kind = dict(image=pics[0]) if len(pics) == 1 else dict(video=pics)
        items.append(pipeline_ltx_condition.LTXVideoCondition(frame_index=spec["frame_index"],
                                                             strength=spec["strength"], **kind))
    started, draws = {}, []
    prepare, randn = pipe.prepare_latents, pipeline_ltx_condition.randn_tensor

    def spy(*args, **kwargs):
        out = prepare(*args, **kwargs)
        started["mask"], started["extra"] = out[1].clone(), out[3]
        return out

    def spy_randn(*args, **kwargs):
        out = randn(*args, **kwargs)
        draws.append(out.clone())  # the pipeline writes into its latents in place
        return out

    pipe.prepare_latents = spy
    pipeline_ltx_condition.randn_tensor = spy_randn
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            video = pipe(conditions=items, image_cond_noise_scale=0.0, denoise_strength=1.0,
                         prompt=case["prompt"], negative_prompt=case["negative_prompt"], width=case["width"],
                         height=case["height"], num_frames=case["frames"], num_inference_steps=case["steps"],
                         guidance_scale=case["guidance"], frame_rate=int(vc["frame_rate"]),
                         max_sequence_length=manifest["tokenizer"]["max_length"],
                         decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE,
                         generator=torch.Generator().manual_seed(case["seed"]), output_type="np").frames
    finally:
        pipeline_ltx_condition.randn_tensor = randn
    np.testing.assert_array_equal(draws[0].numpy(), noise)
    mask = started["mask"].numpy()
    assert set(np.unique(mask[:, :started["extra"]])) <= {1.0}, "extra tokens below strength 1"
    return parity_io.frames_from_np_output(np.asarray(video)), pipe.scheduler.sigmas.numpy().copy()


def make_noise(comp: ltx.Components, case: dict) -> np.ndarray:
    # LTXConditionPipeline.prepare_latents: randn_tensor(shape, generator) is the generator's first
    # draw, which is this call.
    g = torch.Generator().manual_seed(case["seed"])
    return torch.randn(noise_shape(comp, case), generator=g, dtype=torch.float32).numpy()


def case_meta(case: dict) -> dict:
    import diffusers
    meta = {k: case[k] for k in ("prompt", "negative_prompt", "width", "height", "frames", "steps", "guidance",
                                 "seed", "scheduler")}
    meta.update(decode_timestep=DECODE_TIMESTEP, decode_noise_scale=DECODE_NOISE_SCALE)
    how = "LTXPipeline, explicit packed latents"
    if case.get("context"):
        meta.update(manifest=case["manifest"], context=case["context"], frame_index=0, strength=1.0,
                    image_cond_noise_scale=0.0)
        how = ("LTXConditionPipeline(video=context frames, frame_index=0, strength=1.0, image_cond_noise_scale=0), "
               "noise = the generator's first draw")
    if case.get("conditions"):
        meta.update(manifest=case["manifest"], image_cond_noise_scale=0.0,
                    conditions=[dict(file=f"condition{i}.u8", frames=c["frames"], frame_index=c["frame_index"],
                                     strength=c["strength"]) for i, c in enumerate(case["conditions"])])
        how = ("LTXConditionPipeline(conditions=[LTXVideoCondition(image or video, frame_index, strength)], "
               "image_cond_noise_scale=0), noise = the generator's first draw")
    meta["generator"] = (f"python -m kino_export.reference.parity_ltx (diffusers {diffusers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}): {how}")
    return meta


def read_conditions(folder: str, meta: dict) -> list[np.ndarray]:
    """A case's condition frames, uint8 RGB ``[n, H, W, 3]`` each (none for other cases)."""
    return [np.fromfile(os.path.join(folder, c["file"]), dtype=np.uint8).reshape(c["frames"], meta["height"],
                                                                                  meta["width"], 3)
            for c in meta.get("conditions", [])]


def read_context(folder: str, meta: dict) -> np.ndarray | None:
    c = meta.get("context")
    if not c:
        return None
    raw = np.fromfile(os.path.join(folder, c["file"]), dtype=np.uint8)
    return raw.reshape(c["frames"], meta["height"], meta["width"], 3)


def main(argv=None) -> int:
    a, comp, manifest, tok = parity_io.generator_setup(argv, __doc__.split("\n")[0], ltx, PACKAGE, CASES_DIR)
    for case in CASES:
        noise = make_noise(comp, case)
        context = make_context(case) if case.get("context") else None
        conditions = [make_condition(case, c) for c in case.get("conditions", [])]
        frames, sigmas = run_pipeline(comp, manifest, tok, case, noise, context if context is not None else conditions)
        folder = os.path.join(a.cases, case["case"])
        parity_io.write_case(folder, case_meta(case), noise, frames)
        if context is not None:
            np.ascontiguousarray(context, np.uint8).tofile(os.path.join(folder, case["context"]["file"]))
        for i, c in enumerate(conditions):
            np.ascontiguousarray(c, np.uint8).tofile(os.path.join(folder, f"condition{i}.u8"))
        print(f"{folder}: noise {list(noise.shape)} frames {list(frames.shape)} sigmas {np.round(sigmas, 4).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
