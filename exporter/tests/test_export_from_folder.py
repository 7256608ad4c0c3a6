"""The path real users run: ``python -m kino_export wan|ltx --from <diffusers folder> --out <package>``.

The tiny random-weight components of each family are written as a diffusers-layout folder
(``save_pretrained`` for transformer/, vae/, text_encoder/; tokenizer/tokenizer.json;
scheduler/scheduler_config.json; model_index.json), then exported through the command line
(``load_components``, not ``tiny_components``):

1. fp32: the package is the committed models/fixtures/<family>-tiny one: the same kino.json apart
   from name, description and video (a ``--from`` package gets the real checkpoint's video
   defaults, a ``--tiny`` one small ones), the same tokenizer, and every graph of the manifest gives
   the committed graph's outputs on the same random inputs (fed by role, as kino does).
2. fp16: the graphs still take and return float32/int64 (kino's contract) but carry float16
   weights, and one committed parity case generated with onnxruntime alone over the package stays
   close to diffusers' committed frames.
3. The kino binary accepts both packages (``kino models``) and generates from them: every manifest
   value is derived from the checkpoint's config (the tiny LTX VAE compresses time 4x, where a
   hard-coded 161-frame default broke kino's frame limit of 1 + 32*4).
4. An incomplete folder fails at once, naming what is missing, and leaves no output behind.

An export takes ~100 s (Wan) / ~50 s (LTX) of one core, so the four run as parallel processes,
started once for the module; the total is bounded by the Wan exports on two cores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from kino_export import onnx_export
from kino_export.families import ltx, t5_tokenizer, wan
from kino_export.realsize import PIPELINES  # model_index.json of each family's diffusers folder
from kino_export.reference import parity_io
from kino_export.reference import parity_ltx as PL
from kino_export.reference import parity_wan as PW

EXPORTER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(EXPORTER)
FAMILIES = {"wan": wan, "ltx": ltx}
FIXTURES = {"wan": PW.PACKAGE, "ltx": PL.PACKAGE}
MAX_LENGTH = "16"  # the fixtures' (--tiny) max_length
FP16_TOLERANCE = 2e-2
FLOAT16 = onnx.TensorProto.FLOAT16


def write_diffusers_folder(family: str, folder: str) -> None:
    import diffusers
    comp = FAMILIES[family].tiny_components()
    comp.transformer.save_pretrained(os.path.join(folder, "transformer"))
    comp.vae.save_pretrained(os.path.join(folder, "vae"))
    comp.text_encoder.save_pretrained(os.path.join(folder, "text_encoder"))
    os.makedirs(os.path.join(folder, "tokenizer"))
    t5_tokenizer.save(os.path.join(folder, "tokenizer", "tokenizer.json"))
    os.makedirs(os.path.join(folder, "scheduler"))
    with open(os.path.join(folder, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(comp.scheduler_config, f, indent=2)
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(dict(PIPELINES[family], _diffusers_version=diffusers.__version__), f, indent=2)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """{family: diffusers folder}; the folder's name is what --from packages are named after."""
    root = tmp_path_factory.mktemp("diffusers")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for family in FAMILIES:
            out[family] = str(root / family / f"{family}-from-folder")
            write_diffusers_folder(family, out[family])
    return out


class Exports:
    """The four ``python -m kino_export <family> --from ... --out ...`` runs, in parallel processes."""

    def __init__(self, sources: dict, root, families):
        self.procs = {}
        for family in families:
            for dtype in ("fp32", "fp16"):
                parent = root / f"{family}-{dtype}"
                parent.mkdir()
                out = str(parent / "package")
                log = open(parent / "log.txt", "w+")
                cmd = [sys.executable, "-m", "kino_export", family, "--from", sources[family], "--out", out,
                       "--max-length", MAX_LENGTH, "--dtype", dtype]
                env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
                proc = subprocess.Popen(cmd, cwd=EXPORTER, env=env, stdout=log, stderr=subprocess.STDOUT)
                self.procs[family, dtype] = (proc, out, log)

    def package(self, family: str, dtype: str) -> str:
        proc, out, log = self.procs[family, dtype]
        rc = proc.wait(timeout=900)
        log.seek(0)
        text = log.read()
        assert rc == 0, f"kino_export {family} --dtype {dtype} failed ({rc}):\n{text[-4000:]}"
        assert f"wrote {out}" in text
        leftovers = [n for n in os.listdir(os.path.dirname(out)) if n.startswith(".kino-export-")]
        assert not leftovers, leftovers
        return out

    def close(self):
        for proc, _, log in self.procs.values():
            if proc.poll() is None:  # a test was deselected or failed early
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def exports(sources, tmp_path_factory, request):
    # Only the families of the selected tests (-k): an export is minutes of CPU.
    families = [f for f in FAMILIES if any("exports" in getattr(item, "fixturenames", ()) and
                                           getattr(item, "callspec", None) and item.callspec.params.get("family") == f
                                           for item in request.session.items)]
    ex = Exports(sources, tmp_path_factory.mktemp("packages"), families)
    yield ex
    ex.close()


def manifest_of(folder: str) -> dict:
    with open(os.path.join(folder, "kino.json")) as f:
        return json.load(f)


def graph_files(folder: str) -> list[str]:
    return sorted(f for f in os.listdir(folder) if f.endswith(".onnx"))


def manifest_graphs(m: dict) -> dict:
    """{path: graph object} of every graph the manifest names (objects with a "file")."""
    out = {}

    def walk(node, path):
        if isinstance(node, dict):
            if "file" in node and "inputs" in node:
                out[path] = node
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
    walk(m, "")
    return out


def graph_inputs(family: str, fixture: PW.OnnxPackage) -> dict:
    """{manifest path: [inputs by role, ...]}: random inputs for every graph of the package, at
    shapes other than the export examples (step graphs get the caches the fixture's first graph
    leaves for a random chunk)."""
    m = fixture.manifest
    g = torch.Generator().manual_seed(2024)

    def randn(*shape):
        return torch.randn(shape, generator=g).numpy()

    def frames(*shape):
        return (torch.rand(shape, generator=g) * 2 - 1).numpy()

    ids = torch.randint(3, t5_tokenizer.vocab_size(), (2, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:], ids[0, 6:] = 0, 0
    text = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    c = m["latent"]["channels"]
    d = m["text_encoder"]["text_dim"]
    if family == "wan":
        feeds = {"text_encoder": [text],
                 "denoiser": [{"latents": randn(1, c, 3, 4, 6), "timestep": np.array([437.5], np.float32),
                               "text_embeds": randn(1, 7, d)},
                              {"latents": randn(2, c, 1, 8, 2), "timestep": np.array([999.0, 3.0], np.float32),
                               "text_embeds": randn(2, 16, d)}]}
        for part, x_first, x_step in (("vae_decoder", randn(2, c, 1, 4, 6), randn(2, c, 1, 4, 6)),
                                      ("vae_encoder", frames(2, 3, 1, 32, 48), frames(2, 3, 4, 32, 48))):
            role = "latents" if part == "vae_decoder" else "frames"
            out = fixture.run(m[part]["first"], {role: x_first})
            caches = {f"cache_in_{i}": out[f"cache_out_{i}"] for i in range(len(m[part]["caches"]))}
            feeds[f"{part}.first"] = [{role: x_first}]
            feeds[f"{part}.step"] = [{role: x_step} | caches]
        return feeds
    B, F, h, w = 2, 3, 4, 5
    t_tok = np.full((B, F, h * w), 731.5, np.float32)
    t_tok[:, 0] = 0.0  # clean context tokens
    return {"text_encoder": [text],
            "denoiser": [{"latents": randn(B, c, F, h, w), "timestep": t_tok.reshape(B, -1),
                          "text_embeds": randn(B, 11, d), "text_mask": mask.numpy(),
                          "video_coords": ltx.video_coords(F, h, w, m["denoiser"]["video_coords"], batch=B)}],
            "vae_decoder": [{"latents": randn(1, c, 3, 4, 5), "timestep": np.array([0.05], np.float32)}],
            "vae_encoder": [{"frames": frames(1, 3, 9, 32, 40)}]}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fp32_export_equals_the_committed_fixture(family, sources, exports):
    out = exports.package(family, "fp32")
    fixture_dir = FIXTURES[family]
    got, want = manifest_of(out), manifest_of(fixture_dir)
    per_package = ("name", "description", "video")
    assert {k: v for k, v in got.items() if k not in per_package} == \
        {k: v for k, v in want.items() if k not in per_package}
    assert got["name"] == os.path.basename(sources[family])
    # video: the real checkpoint's defaults, but the same model-derived sizes and frame rate.
    assert {k: got["video"][k] for k in ("fps", "size_multiple", "min_size")} == \
        {k: want["video"][k] for k in ("fps", "size_multiple", "min_size")}
    with open(os.path.join(out, "tokenizer.json"), "rb") as a, \
            open(os.path.join(fixture_dir, "tokenizer.json"), "rb") as b:
        assert a.read() == b.read()

    graphs = manifest_graphs(got)
    assert sorted(g["file"] for g in graphs.values()) == graph_files(out) == graph_files(fixture_dir)
    pkg, fixture = PW.OnnxPackage(out), PW.OnnxPackage(fixture_dir)
    feeds = graph_inputs(family, fixture)
    assert sorted(feeds) == sorted(graphs)
    errors = {}
    for path, graph in graphs.items():
        assert onnx_export.io_spec(os.path.join(out, graph["file"])) == \
            onnx_export.io_spec(os.path.join(fixture_dir, graph["file"]))
        for inputs in feeds[path]:
            assert set(inputs) == set(graph["inputs"]), path
            a, b = pkg.run(graph, inputs), fixture.run(manifest_graphs(want)[path], inputs)
            assert set(a) == set(b) == set(graph["outputs"])
            for role in a:
                assert a[role].shape == b[role].shape, (path, role)
                errors[f"{path}:{role}"] = max(errors.get(f"{path}:{role}", 0.0), float(np.abs(a[role] - b[role]).max()))
    print(f"{family} --from fp32 vs committed fixture, max abs {max(errors.values()):.2e}")
    assert all(e <= 1e-5 for e in errors.values()), errors


def fp16_generate(family: str, out: str) -> tuple[str, float]:
    """One committed parity case, generated by the repo's plain onnxruntime loop over ``out``."""
    if family == "wan":
        case = PW.CASES[0]["case"]
        meta, noise, frames = parity_io.read_case(os.path.join(PW.CASES_DIR, case))
        got = PW.onnx_generate(PW.OnnxPackage(out), meta, noise)
    else:
        from test_parity_ltx import ort_generate  # tests/ is on sys.path (pytest's rootdir import mode)
        case = PL.CASES[0]["case"]
        meta, noise, frames = parity_io.read_case(os.path.join(PL.CASES_DIR, case))
        assert not meta.get("context")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sessions = {g: ort.InferenceSession(os.path.join(out, f"{g}.onnx"), opts, providers=["CPUExecutionProvider"])
                    for g in ltx.GRAPHS}
        # ort_generate tokenizes with the committed package's tokenizer.json: the same file (checked).
        got = ort_generate(manifest_of(out), sessions, meta, noise)
    assert got.shape == frames.shape
    return case, float(np.abs(got - frames).max())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fp16_export_keeps_the_contract_and_generates(family, exports):
    out = exports.package(family, "fp16")
    fixture_dir = FIXTURES[family]
    m = manifest_of(out)
    ref = manifest_of(exports.package(family, "fp32"))
    # The latent statistics stay float32 even where the VAE is exported in float16 (LTX).
    assert m == ref
    with open(os.path.join(out, "tokenizer.json"), "rb") as a, \
            open(os.path.join(fixture_dir, "tokenizer.json"), "rb") as b:
        assert a.read() == b.read()

    assert graph_files(out) == graph_files(fixture_dir)
    for name in graph_files(out):
        path = os.path.join(out, name)
        spec = onnx_export.io_spec(path)
        assert {t for side in spec.values() for t, _ in side.values()} <= {"float32", "int64"}, (name, spec)
        assert spec == onnx_export.io_spec(os.path.join(fixture_dir, name)), name
        halves = sum(t.data_type == FLOAT16 for t in onnx.load(path).graph.initializer)
        # --dtype fp16 casts the text encoder and transformer; Wan's VAE stays float32 (diffusers'
        # advice), LTX's is cast too.
        if name.startswith(("text_encoder", "denoiser")) or family == "ltx":
            assert halves > 0, f"{name}: no float16 weights"
        else:
            assert halves == 0, f"{name}: {halves} float16 weights"

    case, err = fp16_generate(family, out)
    print(f"{family} --from --dtype fp16, {case}: onnxruntime loop vs diffusers (fp32) max abs {err:.2e}")
    assert err <= FP16_TOLERANCE, err


@pytest.mark.parametrize("family", list(FAMILIES))
def test_kino_accepts_and_runs_the_exported_package(family, exports, tmp_path, kino_bin):
    out = exports.package(family, "fp32")
    m = manifest_of(out)
    v, t = m["video"], m["latent"]["temporal_compression"]
    assert (v["default_frames"] - 1) % t == 0 and v["default_frames"] <= v["max_frames"]
    kino = kino_bin
    env = dict(os.environ, KINO_MODELS_PATH=os.path.dirname(out))
    listed = subprocess.run([kino, "models"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in (listed.stdout + listed.stderr).splitlines() if out in ln)
    assert "broken" not in line and f"{v['default_width']}x{v['default_height']}, {v['default_frames']} frames" in line, line
    frames = 1 + t  # two latent frames, two steps (the fewest LTX's shift_terminal schedule allows): seconds
    size = f"{v['min_size'] * 2}x{v['min_size'] * 2}"
    run = subprocess.run([kino, "generate", "--model", out, "--steps", "2", "--frames", str(frames), "--size", size,
                          "--seed", "1", "--threads", "1", "-q", "-o", f"{tmp_path / 'frames'}/", "a red circle"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    pngs = sorted(f for f in os.listdir(tmp_path / "frames") if f.endswith(".png"))
    assert pngs == [f"{i:05d}.png" for i in range(frames)], pngs


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("missing", ["transformer", "scheduler/scheduler_config.json"])
def test_incomplete_folder_fails_and_writes_nothing(family, missing, sources, tmp_path):
    src = str(tmp_path / "incomplete")
    shutil.copytree(sources[family], src)
    target = os.path.join(src, missing)
    shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    out_parent = tmp_path / "out"
    out_parent.mkdir()
    out = str(out_parent / "package")
    argv = ["--from", src, "--out", out, "--max-length", MAX_LENGTH]
    with pytest.raises(FileNotFoundError) as e:
        FAMILIES[family].main(argv)
    msg = str(e.value)
    assert "missing" in msg and (missing + "/" if missing == "transformer" else missing) in msg, msg
    assert src in msg and "huggingface" not in msg.lower(), msg
    assert os.listdir(out_parent) == []  # no package, no .kino-export-* temp folder

    # A package already at --out stays as it was.
    os.makedirs(out)
    with open(os.path.join(out, "kino.json"), "w") as f:
        f.write("{}")
    with pytest.raises(FileNotFoundError):
        FAMILIES[family].main(argv)
    assert os.listdir(out_parent) == ["package"] and os.listdir(out) == ["kino.json"]
    with open(os.path.join(out, "kino.json")) as f:
        assert f.read() == "{}"
