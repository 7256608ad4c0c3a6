"""One generation three ways, timed in one run: diffusers in PyTorch, a plain onnxruntime-Python
loop over the package's ONNX graphs, and kino (``kino bench``). Same model weights, same
threads, same steps, same size, same initial noise; prints the ratios.

    python -m kino_export bench [--config medium|tiny] [--threads N] [--steps N] [--runs N]

``medium`` is a random-weight Wan2.1 instance big enough that the model's math dominates
(transformer dim 256, 4 layers, ffn 1024; VAE base dim 8) at 64x64, 17 frames; ``tiny`` is the
parity fixture (models/fixtures/wan-tiny), where per-call overhead dominates. The medium package
is exported once into exporter/runs/bench/ (ignored by git).

What each timing holds: prompt encoding (prompt and negative prompt), every denoising step with
classifier-free guidance (two denoiser runs per step, as WanPipeline does), the scheduler, and
decoding to frames in memory; no file writing. Each is the median of ``--runs`` after a warm-up,
the three interleaved run by run (kino's runs are ``kino bench --runs 1`` each).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import torch

from .families import wan
from .reference import parity_wan

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

MEDIUM_TRANSFORMER = dict(wan.TINY_TRANSFORMER, num_attention_heads=4, attention_head_dim=64, ffn_dim=1024,
                          num_layers=4)
MEDIUM_VAE = dict(wan.TINY_VAE, base_dim=8)


def medium_components() -> wan.Components:
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    torch.manual_seed(wan.TINY_SEED)
    transformer = WanTransformer3DModel(**MEDIUM_TRANSFORMER)
    vae = AutoencoderKLWan(**MEDIUM_VAE)
    return wan.Components(wan.tiny_text_encoder(), transformer, vae, dict(wan.REAL_SCHEDULER_CONFIG), None,
                          name="wan-medium", tiny=True,
                          description="Wan2.1 architecture, random weights, medium size (kino benchmarks)")


def package_for(config: str, comp: wan.Components) -> str:
    if config == "tiny":
        return os.path.join(ROOT, "models", "fixtures", "wan-tiny")
    folder = os.path.join(ROOT, "exporter", "runs", "bench", "wan-medium")
    stamp = os.path.join(folder, "bench-config.json")
    # Re-exported when the config or the exporter changes.
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(HERE, "families", "*.py"))) + [os.path.join(HERE, "onnx_export.py"),
                                                                            os.path.join(HERE, "manifest.py")]:
        with open(path, "rb") as f:
            digest.update(f.read())
    exporter = digest.hexdigest()[:16]
    want = {"transformer": MEDIUM_TRANSFORMER, "vae": MEDIUM_VAE, "seed": wan.TINY_SEED, "exporter": exporter}
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == json.loads(json.dumps(want)):
                return folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wan.export_package(comp, folder, wan.TINY_MAX_LENGTH)
    with open(stamp, "w") as f:
        json.dump(want, f)
    return folder


def timed(fn, runs: int, warm_up: bool = True) -> list[float]:
    if warm_up:
        fn()  # allocations, thread pools, lazy session creation
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def ort_package(folder: str, threads: int) -> parity_wan.OnnxPackage:
    """The package's graphs as onnxruntime sessions with ``threads`` intra-op threads (all
    optimisations on, as kino builds its sessions)."""
    import onnxruntime as ort
    pkg = parity_wan.OnnxPackage(folder)
    m = pkg.manifest
    graphs = [m["text_encoder"], m["denoiser"], m["vae_decoder"]["first"], m["vae_decoder"]["step"]]
    for g in graphs:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        pkg._sessions[g["file"]] = ort.InferenceSession(os.path.join(folder, g["file"]), opts,
                                                        providers=["CPUExecutionProvider"])
    return pkg


def kino_bench(kino: str, folder: str, case: dict, runs: int, threads: int) -> dict:
    cmd = [kino, "bench", "--model", folder, "--prompt", case["prompt"], "--size", f"{case['width']}x{case['height']}",
           "--frames", str(case["frames"]), "--steps", str(case["steps"]), "--guidance", str(case["guidance"]),
           "--threads", str(threads), "--runs", str(runs), "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kino_export bench", description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=("medium", "tiny"), default="medium")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kino", default=os.path.join(ROOT, "target", "release", "kino"))
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    comp = medium_components() if a.config == "medium" else wan.tiny_components()
    folder = package_for(a.config, comp)
    with open(os.path.join(folder, "kino.json")) as f:
        manifest = json.load(f)
    size = 64 if a.config == "medium" else 32
    case = dict(prompt="a red ball moving left over the sea", negative_prompt="blurry, low quality", width=size,
                height=size, frames=17 if a.config == "medium" else 9, steps=a.steps, guidance=5.0, seed=1,
                scheduler=None)
    noise = parity_wan.make_noise(comp, case)
    tok = os.path.join(folder, "tokenizer.json")

    pipe = parity_wan.pipeline(comp, tok, parity_wan.diffusers_scheduler_for(None, comp))

    def run_diffusers():
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], width=size, height=size,
                        num_frames=case["frames"], num_inference_steps=a.steps, guidance_scale=case["guidance"],
                        latents=torch.from_numpy(noise.copy()), max_sequence_length=manifest["tokenizer"]["max_length"],
                        output_type="np").frames

    pkg = ort_package(folder, a.threads)
    run_ort = lambda: parity_wan.onnx_generate(pkg, case, noise)  # noqa: E731
    # This machine is noisy: the three are interleaved run by run, so a slow spell hits all of
    # them, and each kino run is its own `kino bench --runs 1` (load, warm-up, one timed run).
    run_diffusers(), run_ort()
    t_diffusers, t_ort, t_kino, reports = [], [], [], []
    for _ in range(a.runs):
        t_diffusers += timed(run_diffusers, 1, warm_up=False)
        t_ort += timed(run_ort, 1, warm_up=False)
        reports.append(kino_bench(a.kino, folder, case, 1, a.threads))
        t_kino.append(reports[-1]["end_to_end_s"]["median"])
    k = reports[0] | {"outside_ort_pct": statistics.median(r["outside_ort_pct"] for r in reports),
                      "load_cold_s": statistics.median(r["load_cold_s"] for r in reports),
                      "load_warm_s": statistics.median(r["load_warm_s"] for r in reports)}
    d, o, kk = statistics.median(t_diffusers), statistics.median(t_ort), statistics.median(t_kino)
    result = {
        "config": a.config, "threads": a.threads, "steps": a.steps, "runs": a.runs,
        "size": f"{size}x{size}x{case['frames']}",
        "diffusers_s": t_diffusers, "onnxruntime_python_s": t_ort, "kino_s": t_kino,
        "median_s": {"diffusers": d, "onnxruntime_python": o, "kino": kk},
        "kino_over_diffusers": kk / d, "kino_over_onnxruntime_python": kk / o, "diffusers_over_kino": d / kk,
        "kino_outside_ort_pct": k["outside_ort_pct"], "kino_load_cold_s": k["load_cold_s"],
        "kino_load_warm_s": k["load_warm_s"],
    }
    print(f"{a.config} Wan2.1 ({result['size']}, {a.steps} steps, CFG, {a.threads} threads), median of {a.runs}:")
    print(f"  diffusers (PyTorch)        {d:8.3f} s")
    print(f"  onnxruntime-Python loop    {o:8.3f} s")
    print(f"  kino                       {kk:8.3f} s   (outside ONNX Runtime {k['outside_ort_pct']:.2f}%)")
    print(f"  kino / diffusers = {kk / d:.3f} (diffusers is {d / kk:.2f}x kino's time); "
          f"kino / onnxruntime-Python = {kk / o:.3f}")
    print(f"  kino load: cold {k['load_cold_s']:.3f} s, warm {k['load_warm_s']:.3f} s "
          f"(warm/cold {k['load_warm_s'] / k['load_cold_s']:.2f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
