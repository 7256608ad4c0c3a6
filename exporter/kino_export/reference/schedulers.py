"""Reference schedules and trajectories from diffusers, for kino's scheduler tests.

Writes ``tests/fixtures/scheduler/<case>.json``, one file per case. Each case is a kino
``scheduler`` config (the manifest object), a step count and an image sequence length; this
script turns it into the diffusers call sequence the kino engine mirrors, records the sigmas and
timesteps diffusers computes, and runs a short deterministic trajectory:

    x_0[i]        = float32(1.5 * sin(0.7 * i + 0.2))                  (16 values, shape [1, 4, 4])
    v(x, step)[i] = float32(0.3) * x[i] + float32(0.1 * cos(step + i))   (a fake "model")
    x_{k+1}       = scheduler.step(v(x_k, k), timesteps[k], x_k)

The Rust tests (``src/scheduler``) rebuild the same schedule from the config and compare.

Mapping from a kino config to diffusers (diffusers 0.42.1):

* ``kind: flow_match_euler`` -> ``FlowMatchEulerDiscreteScheduler(num_train_timesteps, shift,
  use_dynamic_shifting, base_shift, max_shift, base_image_seq_len, max_image_seq_len,
  time_shift_type, shift_terminal)``.
* ``kind: unipc_flow`` -> ``UniPCMultistepScheduler(prediction_type="flow_prediction",
  use_flow_sigmas=True, predict_x0=True, flow_shift=shift, solver_order, solver_type,
  lower_order_final, final_sigmas_type, disable_corrector, use_dynamic_shifting,
  time_shift_type, shift_terminal)`` (Wan's scheduler config).
* ``sigma_schedule: linspace_train`` -> ``set_timesteps(N[, mu=mu])`` (Wan, the kino demo).
  ``sigma_schedule: linspace_1_to_1_over_n`` -> ``set_timesteps(sigmas=np.linspace(1.0, 1/N, N)
  [, mu=mu])`` (what ``LTXPipeline`` passes). ``sigma_schedule: linear_quadratic`` ->
  ``set_timesteps(timesteps=linear_quadratic_schedule(N) * 1000)`` (``LTXConditionPipeline``).
* ``mu = calculate_shift(image_seq_len, base_image_seq_len, max_image_seq_len, base_shift,
  max_shift)`` (``pipelines/ltx/pipeline_ltx.py``), passed only with ``use_dynamic_shifting``.

Run: ``python -m kino_export.reference.schedulers [--out tests/fixtures/scheduler]`` (from exporter/)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

SHAPE = (1, 4, 4)

LTX = dict(kind="flow_match_euler", use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
           base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
           sigma_schedule="linspace_1_to_1_over_n")
WAN = dict(kind="unipc_flow", solver_order=2, solver_type="bh2", lower_order_final=True)

# (name, what it stands for, kino config, steps, image_seq_len)
CASES = [
    ("euler_demo_shift1_20", "kino demo: FlowMatchEuler, static shift 1.0",
     dict(kind="flow_match_euler", shift=1.0), 20, 0),
    ("euler_demo_shift3_20", "kino demo with shift 3.0 (sigma_min shifted twice)",
     dict(kind="flow_match_euler", shift=3.0), 20, 0),
    ("euler_ltx_seq6144_8", "LTX-Video T2V, 768x512x121 (seq 6144), 8 steps", LTX, 8, 6144),
    ("euler_ltx_seq6144_40", "LTX-Video T2V, 768x512x121 (seq 6144), 40 steps", LTX, 40, 6144),
    ("euler_dynamic_linear_train_20", "dynamic linear time shift on the training linspace",
     dict(kind="flow_match_euler", use_dynamic_shifting=True, time_shift_type="linear",
          base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096), 20, 2048),
    ("euler_dynamic_linear_1overn_terminal_12", "dynamic linear shift, LTX sigmas, shift_terminal 0.05",
     dict(LTX, time_shift_type="linear", shift_terminal=0.05), 12, 3000),
    ("euler_dynamic_exp_train_terminal_12", "dynamic exponential shift on the training linspace, shift_terminal 0.1",
     dict(LTX, sigma_schedule="linspace_train"), 12, 6144),
    ("euler_static_1overn_shift2_10", "static shift 2.0 on linspace(1, 1/N, N) (float32 path)",
     dict(kind="flow_match_euler", shift=2.0, sigma_schedule="linspace_1_to_1_over_n"), 10, 0),
    ("euler_linear_quadratic_8", "LTXConditionPipeline: linear-quadratic timesteps, static shift 1.0",
     dict(kind="flow_match_euler", sigma_schedule="linear_quadratic"), 8, 0),
    ("euler_linear_quadratic_shift2_terminal_15", "linear-quadratic timesteps kept as given; sigmas shifted 2.0, shift_terminal 0.1",
     dict(kind="flow_match_euler", sigma_schedule="linear_quadratic", shift=2.0, shift_terminal=0.1), 15, 0),
    ("unipc_wan_shift3_10", "Wan UniPC bh2 order 2, flow_shift 3.0 (480p)", dict(WAN, shift=3.0), 10, 0),
    ("unipc_wan_shift3_30", "Wan UniPC bh2 order 2, flow_shift 3.0 (480p)", dict(WAN, shift=3.0), 30, 0),
    ("unipc_wan_shift3_50", "Wan UniPC bh2 order 2, flow_shift 3.0 (480p)", dict(WAN, shift=3.0), 50, 0),
    ("unipc_wan_shift5_10", "Wan UniPC bh2 order 2, flow_shift 5.0 (720p)", dict(WAN, shift=5.0), 10, 0),
    ("unipc_wan_shift5_30", "Wan UniPC bh2 order 2, flow_shift 5.0 (720p)", dict(WAN, shift=5.0), 30, 0),
    ("unipc_wan_shift5_50", "Wan UniPC bh2 order 2, flow_shift 5.0 (720p)", dict(WAN, shift=5.0), 50, 0),
    ("unipc_order1_shift3_10", "UniPC order 1", dict(WAN, shift=3.0, solver_order=1), 10, 0),
    ("unipc_order3_shift3_20", "UniPC bh2 order 3", dict(WAN, shift=3.0, solver_order=3), 20, 0),
    ("unipc_order3_bh1_sigma_min_20", "UniPC bh1 order 3, final sigma = sigma_min",
     dict(WAN, shift=3.0, solver_order=3, solver_type="bh1", final_sigmas_type="sigma_min"), 20, 0),
    ("unipc_bh1_zero_10", "UniPC bh1, final sigma 0: diffusers' last step is NaN (0 * inf); null here",
     dict(WAN, shift=5.0, solver_type="bh1"), 10, 0),
    ("unipc_disable_corrector_12", "UniPC with the corrector disabled after steps 0 and 5",
     dict(WAN, shift=3.0, disable_corrector=[0, 5]), 12, 0),
    ("unipc_no_lower_order_final_sigma_min_10", "UniPC order 2 to the end, final sigma = sigma_min",
     dict(WAN, shift=3.0, lower_order_final=False, final_sigmas_type="sigma_min"), 10, 0),
    ("unipc_dynamic_exp_1overn_terminal_8", "UniPC with LTX-style sigmas, dynamic shift, shift_terminal 0.1",
     dict(WAN, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
          max_image_seq_len=4096, shift_terminal=0.1, sigma_schedule="linspace_1_to_1_over_n"), 8, 6144),
]

# kino defaults (src/scheduler/mod.rs), for fields a case leaves out.
DEFAULTS = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, base_shift=0.5,
                max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
                time_shift_type="exponential", shift_terminal=None, sigma_schedule="linspace_train",
                solver_order=2, solver_type="bh2", lower_order_final=True, final_sigmas_type="zero",
                disable_corrector=[])


def calculate_shift(image_seq_len, base_seq_len, max_seq_len, base_shift, max_shift):
    # Same as diffusers.pipelines.ltx.pipeline_ltx.calculate_shift.
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def diffusers_scheduler(cfg: dict, steps: int, image_seq_len: int):
    """The diffusers scheduler a kino config stands for, after ``set_timesteps``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    c = dict(DEFAULTS, **cfg)
    common = dict(num_train_timesteps=c["num_train_timesteps"], use_dynamic_shifting=c["use_dynamic_shifting"],
                  time_shift_type=c["time_shift_type"], shift_terminal=c["shift_terminal"])
    if c["kind"] == "flow_match_euler":
        sched = FlowMatchEulerDiscreteScheduler(
            shift=c["shift"], base_shift=c["base_shift"], max_shift=c["max_shift"],
            base_image_seq_len=c["base_image_seq_len"], max_image_seq_len=c["max_image_seq_len"], **common)
    elif c["kind"] == "unipc_flow":
        sched = UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, predict_x0=True, flow_shift=c["shift"],
            solver_order=c["solver_order"], solver_type=c["solver_type"], lower_order_final=c["lower_order_final"],
            final_sigmas_type=c["final_sigmas_type"], disable_corrector=list(c["disable_corrector"]), **common)
    else:
        raise ValueError(c["kind"])
    kwargs = {}
    if c["use_dynamic_shifting"]:
        kwargs["mu"] = calculate_shift(image_seq_len, c["base_image_seq_len"], c["max_image_seq_len"],
                                       c["base_shift"], c["max_shift"])
    if c["sigma_schedule"] == "linspace_train":
        sched.set_timesteps(steps, **kwargs)
    elif c["sigma_schedule"] == "linspace_1_to_1_over_n":
        sched.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), **kwargs)
    elif c["sigma_schedule"] == "linear_quadratic":
        # What LTXConditionPipeline does when no timesteps are given.
        from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule
        sched.set_timesteps(timesteps=linear_quadratic_schedule(steps) * 1000, **kwargs)
    else:
        raise ValueError(c["sigma_schedule"])
    sched.set_begin_index(0)
    return sched


def x0() -> torch.Tensor:
    n = int(np.prod(SHAPE))
    return torch.tensor([1.5 * math.sin(0.7 * i + 0.2) for i in range(n)], dtype=torch.float32).reshape(SHAPE)


def fake_model(x: torch.Tensor, step: int) -> torch.Tensor:
    c = torch.tensor([0.1 * math.cos(step + i) for i in range(x.numel())], dtype=torch.float32).reshape(x.shape)
    return 0.3 * x + c


def f32_list(t) -> list:
    """float32 values as their shortest decimal (None for NaN/inf), so the JSON stays small."""
    out = []
    for v in np.asarray(t, dtype=np.float32).reshape(-1):
        out.append(float(str(v)) if np.isfinite(v) else None)
    return out


def run_case(name, about, cfg, steps, seq):
    sched = diffusers_scheduler(cfg, steps, seq)
    x = x0()
    start = f32_list(x)
    traj = []
    for k, t in enumerate(sched.timesteps):
        x = sched.step(fake_model(x, k), t, x, return_dict=False)[0]
        traj.append(f32_list(x))
    return {
        "case": name,
        "about": about,
        "config": cfg,
        "steps": steps,
        "image_seq_len": seq,
        "sigmas": f32_list(sched.sigmas),
        "timesteps": f32_list(sched.timesteps.to(torch.float64)),
        "shape": list(SHAPE),
        "x0": start,
        "trajectory": traj,
    }


def main(argv=None) -> int:
    import diffusers

    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "..", "tests", "fixtures", "scheduler"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name, about, cfg, steps, seq in CASES:
        case = run_case(name, about, cfg, steps, seq)
        case["generator"] = f"exporter/kino_export/reference/schedulers.py (diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]})"
        path = os.path.join(args.out, f"{name}.json")
        with open(path, "w") as f:
            json.dump(case, f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: sigmas[:4]={case['sigmas'][:4]} final={case['trajectory'][-1][:2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
