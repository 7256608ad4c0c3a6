"""kino.json, written in one place for every family (docs/model-package.md).

:func:`manifest` assembles the top level in the schema's order; :func:`video` derives the
``video`` block from a model's latent facts so that it always passes kino's checks
(``src/model/validate.rs``: sizes multiples of ``size_multiple``, frame counts on the causal rule
``1 + t*k``, defaults within the limits, the largest latent within 2^28 values).
"""
from __future__ import annotations

import json
import math
import os

SCHEMA_VERSION = 1
# kino's ranges (src/model/validate.rs; kino::limits::MAX_INPUT_SIDE for sizes).
MAX_SIDE = 8192
MAX_FRAMES = 1025
MAX_FPS = 240.0
MAX_LATENT_ELEMENTS = 1 << 28


def frames_valid(frames: int, temporal: int, causal: bool = True) -> bool:
    t = max(1, temporal)
    return frames >= 1 and (frames - 1) % t == 0 if causal else frames >= t and frames % t == 0


def latent_frames(frames: int, temporal: int, causal: bool = True) -> int:
    t = max(1, temporal)
    return 1 + max(frames - 1, 0) // t if causal else frames // t


def frames_at_most(n: int, temporal: int, causal: bool = True) -> int:
    """The largest frame count on the frame rule that is at most ``n`` (at least one window)."""
    t = max(1, temporal)
    if causal:
        return 1 + max(n - 1, 0) // t * t
    return max(n // t, 1) * t


def _multiple_near(x: int, multiple: int, lo: int, hi: int) -> int:
    return min(max(round(x / multiple) * multiple, lo), hi)


def video(*, fps: float, width: int, height: int, frames: int, max_size: int, max_frames: int,
          size_multiple: int, channels: int, spatial: int, temporal: int, min_size: int | None = None,
          min_frames: int = 1, causal: bool = True) -> dict:
    """The ``video`` block, every value snapped into what kino accepts.

    ``width``/``height``/``max_size`` are the model's preferred sizes in pixels (rounded to
    ``size_multiple``); ``frames``/``max_frames`` pixel frame counts (moved down onto the frame rule
    of ``temporal``; the default never below ``min_frames``, a valid count); ``max_size`` is lowered until the largest latent
    (``channels`` x latent frames of ``max_frames`` x ``(max_size / spatial)^2``) fits kino's limit.
    """
    if size_multiple % spatial:
        raise ValueError(f"size_multiple {size_multiple} is not a multiple of the spatial compression {spatial}")
    lo = math.ceil((min_size or size_multiple) / size_multiple) * size_multiple
    max_frames = frames_at_most(min(max_frames, MAX_FRAMES), temporal, causal)
    frames = max(frames_at_most(min(frames, max_frames), temporal, causal),
                 frames_at_most(min(min_frames, max_frames), temporal, causal))
    # The largest latent: channels x latent frames x side^2 <= 2^28, side = max_size / spatial.
    side = math.isqrt(MAX_LATENT_ELEMENTS // (channels * latent_frames(max_frames, temporal, causal)))
    hi = min(max_size, MAX_SIDE, side * spatial) // size_multiple * size_multiple
    if hi < lo:
        raise ValueError(f"no size fits: min_size {lo} > the largest size {hi} kino allows for {channels} latent "
                         f"channels and {max_frames} frames")
    return {"fps": fps,
            "default_width": _multiple_near(width, size_multiple, lo, hi),
            "default_height": _multiple_near(height, size_multiple, lo, hi),
            "default_frames": frames, "size_multiple": size_multiple, "min_size": lo, "max_size": hi,
            "max_frames": max_frames}


def latent(*, channels: int, spatial: int, temporal: int, mean, std, scaling_factor: float,
           causal_first_frame: bool = True) -> dict:
    return {"channels": int(channels), "spatial_compression": int(spatial), "temporal_compression": int(temporal),
            "causal_first_frame": causal_first_frame, "mean": list(mean), "std": list(std),
            "scaling_factor": scaling_factor}


def manifest(*, name: str, family: str, description: str, video: dict, latent: dict, tokenizer: dict,
             text_encoder: dict, denoiser: dict, vae_decoder: dict, vae_encoder: dict | None, scheduler: dict,
             defaults: dict, conditioning: dict, training: dict | None = None) -> dict:
    """The whole kino.json, in the schema's order; checks the numbers the exporter derives."""
    m = {"schema_version": SCHEMA_VERSION, "name": name, "family": family, "description": description,
         "video": video, "latent": latent, "tokenizer": tokenizer, "text_encoder": text_encoder,
         "denoiser": denoiser, "vae_decoder": vae_decoder}
    if vae_encoder is not None:
        m["vae_encoder"] = vae_encoder
    m |= {"scheduler": scheduler, "defaults": defaults, "conditioning": conditioning}
    if training is not None:
        m["training"] = training
    check(m)
    return m


def check(m: dict) -> None:
    """The video and conditioning rules of kino's manifest check, so that an export fails here,
    naming the field, rather than producing a package kino refuses (kino's own check, run on
    every load, stays the authority)."""
    v, lat = m["video"], m["latent"]
    t, s, causal = lat["temporal_compression"], lat["spatial_compression"], lat["causal_first_frame"]

    def fail(field, why):
        raise ValueError(f"kino.json field `{field}`: {why}")

    if not 0 < v["fps"] <= MAX_FPS:
        fail("video.fps", f"{v['fps']} must be within (0, {MAX_FPS}]")
    if not 1 <= v["min_size"] <= v["max_size"] <= MAX_SIDE or v["size_multiple"] % s:
        fail("video.max_size", f"sizes {v['min_size']}..{v['max_size']} (multiple {v['size_multiple']}) must lie "
                               f"in 1..{MAX_SIDE}, the multiple a multiple of {s}")
    for k in ("default_width", "default_height"):
        if not v["min_size"] <= v[k] <= v["max_size"] or v[k] % v["size_multiple"]:
            fail(f"video.{k}", f"{v[k]} must be a multiple of {v['size_multiple']} in {v['min_size']}..{v['max_size']}")
    if not 1 <= v["max_frames"] <= MAX_FRAMES:
        fail("video.max_frames", f"{v['max_frames']} must be within [1, {MAX_FRAMES}]")
    if not 1 <= v["default_frames"] <= v["max_frames"] or not frames_valid(v["default_frames"], t, causal):
        fail("video.default_frames", f"{v['default_frames']} must be at most max_frames ({v['max_frames']}) and on "
                                     f"the frame rule of temporal_compression {t}")
    elements = lat["channels"] * latent_frames(v["max_frames"], t, causal) * (v["max_size"] // s) ** 2
    if elements > MAX_LATENT_ELEMENTS:
        fail("video.max_size", f"the largest latent would hold {elements} values, more than {MAX_LATENT_ELEMENTS}")
    ctx = m["conditioning"].get("context_frames")
    if ctx is not None and not (1 <= ctx <= v["default_frames"] and latent_frames(ctx, t, causal)
                                < latent_frames(v["default_frames"], t, causal)):
        fail("conditioning.context_frames", f"{ctx} frames leave no new frames in a window of "
                                            f"video.default_frames {v['default_frames']}")


def write(folder: str, m: dict) -> None:
    with open(os.path.join(folder, "kino.json"), "w") as fh:
        json.dump(m, fh, indent=2)
        fh.write("\n")
