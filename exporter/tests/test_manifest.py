"""kino.json from one builder: every value derived from the model and within kino's checks; the
components of an export loaded one at a time; the command line's subcommands.

The packages exported from diffusers folders are checked by the kino binary itself in
test_export_from_folder.py (``kino models`` and a one-step generation)."""
from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from kino_export import manifest as M
from kino_export.__main__ import main as cli
from kino_export.families import ltx, wan
from kino_export.families.common import Components
from kino_export.reference import parity_ltx

RULE_CASES = [(c, s, t, causal) for c in (8, 16, 128) for s in (4, 8, 32) for t in (1, 2, 4, 8) for causal in (True, False)]


@pytest.mark.parametrize("channels,spatial,temporal,causal", RULE_CASES)
def test_video_block_always_passes_kinos_rules(channels, spatial, temporal, causal):
    """Real-checkpoint preferences (LTX's 704x480, 161 of 257 frames; odd sizes) for any latent
    shape: the block is snapped onto kino's rules, never refused."""
    for width, height, frames, max_size, max_frames in ((704, 480, 161, 1280, 257), (833, 479, 82, 9000, 2000),
                                                        (8, 8, 1, 64, 1)):
        v = M.video(fps=25.0, width=width, height=height, frames=frames, max_size=max_size, max_frames=max_frames,
                    size_multiple=spatial * 2, channels=channels, spatial=spatial, temporal=temporal, causal=causal)
        lat = M.latent(channels=channels, spatial=spatial, temporal=temporal, mean=[0.0] * channels,
                       std=[1.0] * channels, scaling_factor=1.0, causal_first_frame=causal)
        M.check({"video": v, "latent": lat, "conditioning": {}})
        one_window = 1 if causal else temporal  # the fewest frames the rule allows
        assert v["default_frames"] <= v["max_frames"] <= max(min(max_frames, M.MAX_FRAMES), one_window)
        assert M.frames_valid(v["default_frames"], temporal, causal) and M.frames_valid(v["max_frames"], temporal, causal)


def test_ltx_windows_follow_the_vaes_temporal_compression():
    """LTX's windows are latent frames: 161 / 257 frames with the released 8x VAE, 81 / 129 with a
    4x one (a hard-coded 161 over a max of 129 was refused by kino)."""
    shape = dict(fps=25.0, width=704, height=480, max_size=1280, size_multiple=32, channels=128, spatial=32)
    for t, default, most in ((8, 161, 257), (4, 81, 129)):
        v = M.video(frames=1 + 20 * t, max_frames=1 + 32 * t, temporal=t, min_frames=1 + 2 * t, **shape)
        assert (v["default_frames"], v["max_frames"]) == (default, most)
        assert (v["default_width"], v["default_height"], v["max_size"]) == (704, 480, 1280)


def test_largest_latent_is_kept_within_kinos_limit():
    v = M.video(fps=16.0, width=832, height=480, frames=81, max_size=8192, max_frames=1025, size_multiple=16,
                channels=1024, spatial=8, temporal=4)
    side = v["max_size"] // 8
    assert 1024 * M.latent_frames(v["max_frames"], 4) * side * side <= M.MAX_LATENT_ELEMENTS
    assert v["max_size"] % 16 == 0 and v["default_width"] <= v["max_size"]


def test_a_manifest_kino_would_refuse_is_not_written():
    v = M.video(fps=25.0, width=32, height=32, frames=9, max_size=256, max_frames=33, size_multiple=8, channels=8,
                spatial=8, temporal=4)
    lat = M.latent(channels=8, spatial=8, temporal=4, mean=[0.0] * 8, std=[1.0] * 8, scaling_factor=1.0)
    with pytest.raises(ValueError, match="conditioning.context_frames"):
        M.check({"video": v, "latent": lat, "conditioning": {"context_frames": 9}})
    with pytest.raises(ValueError, match="video.default_frames"):
        M.check({"video": dict(v, default_frames=161), "latent": lat, "conditioning": {}})


def test_components_load_one_at_a_time_and_the_manifest_is_unchanged(tmp_path):
    """A checkpoint's components (loaded on first use, as ``--from`` does) are held one at a time
    through an export and released after; the manifest is the committed tiny package's."""
    held, loads = [], []
    comp = None

    def loader(part, build):
        def load():
            loads.append(part)
            held.append(sorted(comp._loaded))  # what else is in memory while this part loads
            return build()
        return load

    comp = Components(loader("text_encoder", ltx.tiny_text_encoder), loader("transformer", ltx.tiny_transformer),
                      loader("vae", lambda: ltx.cast(ltx.tiny_vae(), torch.float32, ltx.Ltx.VAE_KEEP)),
                      dict(ltx.REAL_SCHEDULER_CONFIG), None, name="ltx-tiny", tiny=True, description="")
    ltx.LTX.export_graphs(comp, str(tmp_path), graphs=("text_encoder", "vae_decoder"))
    assert sorted(os.listdir(tmp_path)) == ["text_encoder.onnx", "vae_decoder.onnx"]
    assert loads == ["text_encoder", "vae"] and held == [[], []] and not comp._loaded
    m = ltx.build_manifest(comp, ltx.TINY_MAX_LENGTH)  # the transformer's facts: loaded alone, for the manifest
    assert loads == ["text_encoder", "vae", "transformer"] and held[-1] == []
    with open(os.path.join(parity_ltx.PACKAGE, "kino.json")) as f:
        want = json.load(f)
    assert json.loads(json.dumps(m)) == dict(want, description="")


@pytest.mark.parametrize("family,vae_default", [(wan.WAN, torch.float32), (ltx.LTX, torch.float16)])
def test_per_component_dtypes(family, vae_default):
    ap = argparse.ArgumentParser()
    family.add_arguments(ap)
    f16, f32 = torch.float16, torch.float32
    a = ap.parse_args(["--out", "x", "--dtype", "fp16"])
    assert family.dtypes(a) == {"text_encoder": f16, "transformer": f16, "vae": vae_default}
    a = ap.parse_args(["--out", "x", "--dtype", "fp16", "--text-encoder-dtype", "fp32", "--vae-dtype", "fp16"])
    assert family.dtypes(a) == {"text_encoder": f32, "transformer": f16, "vae": f16}
    comp = family.tiny_components(family.dtypes(a))
    assert {next(m.parameters()).dtype for m in (comp.text_encoder, comp.vae)} == {f32, f16}
    assert comp.transformer.proj_out.weight.dtype == f16


def test_command_line_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("wan", "ltx", "demo", "bench"))
    with pytest.raises(SystemExit) as e:
        cli(["ltx", "--help"])
    assert e.value.code == 0 and "--text-encoder-dtype" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # the demo commands keep their own parsers
        cli(["demo", "export", "--help"])
    assert e.value.code == 0 and "--run" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli(["wan", "--out", "x"])
    assert e.value.code == 2 and "exactly one of --from and --tiny" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["wan", "--tiny", "--out", "x", "--bogus"])
    assert e.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_stochastic_sampling_is_carried_where_kino_implements_it():
    """diffusers' ``stochastic_sampling`` on FlowMatchEulerDiscreteScheduler (LTX-Video's distilled
    configs) goes into the manifest; UniPC has no such option, and a config claiming it is refused."""
    euler = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 1.0, "stochastic_sampling": True}
    assert ltx.kino_scheduler(euler)["stochastic_sampling"] is True
    assert wan.kino_scheduler(euler)["stochastic_sampling"] is True
    assert "stochastic_sampling" not in ltx.kino_scheduler(dict(euler, stochastic_sampling=False))
    unipc = {"_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction", "use_flow_sigmas": True,
             "predict_x0": True, "stochastic_sampling": True}
    with pytest.raises(ValueError, match="stochastic_sampling"):
        wan.kino_scheduler(unipc)
