"""The committed scheduler fixtures (tests/fixtures/scheduler) are what diffusers computes today.

The Rust scheduler tests compare against these files; if diffusers or the case list changes,
this test fails until `python -m kino_export.reference.schedulers` is re-run and committed.
"""
import json
import math
import os

from kino_export.reference import schedulers

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "scheduler")


def close(a, b, rel=1e-6):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-7)


def test_every_case_is_committed_and_up_to_date():
    names = {name for name, *_ in schedulers.CASES}
    committed = {f[:-5] for f in os.listdir(FIXTURES) if f.endswith(".json")}
    assert committed == names, f"stale or missing fixtures: {sorted(committed ^ names)}"
    for name, about, cfg, steps, seq in schedulers.CASES:
        with open(os.path.join(FIXTURES, f"{name}.json")) as f:
            stored = json.load(f)
        fresh = schedulers.run_case(name, about, cfg, steps, seq)
        assert stored["config"] == fresh["config"], name
        for key in ("sigmas", "timesteps", "x0"):
            assert len(stored[key]) == len(fresh[key]), (name, key)
            assert all(close(a, b) for a, b in zip(stored[key], fresh[key])), (name, key)
        assert len(stored["trajectory"]) == len(fresh["trajectory"]), name
        for k, (a, b) in enumerate(zip(stored["trajectory"], fresh["trajectory"])):
            assert all(close(x, y, 1e-5) for x, y in zip(a, b)), (name, k)
