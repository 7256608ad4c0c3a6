"""``python -m kino_export <command>``: see ``--help``."""
import argparse
import importlib
import sys

# Commands with their own parser, handed the rest of the command line: (module, function, help).
DEMO = {
    "train": ("kino_export.demo.train", "main", "train the demo model (stages 1-4)"),
    "continue": ("kino_export.demo.train", "continue_main", "continue a training run"),
    "refine": ("kino_export.demo.train", "refine_main", "refine the decoder of a training run"),
    "refine-package": ("kino_export.demo.train", "refine_package_main", "refine the decoder of an exported package"),
    "refine-context": ("kino_export.demo.refine_context", "main",
                       "teach an exported package's DiT context anywhere (both ends, keyframes)"),
    "export": ("kino_export.demo.export", "main", "export a trained demo checkpoint to a package"),
    "eval": ("kino_export.demo.evaluate", "main", "score a package's adherence with the kino binary"),
    "conditioned": ("kino_export.demo.conditioned", "main", "score conditioning at the start, end, both ends and keyframes"),
    "stills": ("kino_export.demo.stills", "main", "score kino animate on stills from outside the world"),
    "extend": ("kino_export.demo.extend", "main", "score kino extend forwards or backwards, and its seams"),
    "joins": ("kino_export.demo.joins", "main", "score kino bridge and kino generate --loop, and their seams"),
}
BENCH = ("kino_export.bench", "main", "time kino vs diffusers vs onnxruntime-Python")
REALSIZE = ("kino_export.realsize", "main", "random-weight diffusers folder at the real Wan2.1 / LTX-Video size")


def _forward(sub, name: str, target: tuple) -> None:
    module, function, help_text = target
    # add_help=False: --help goes on to the command's own parser.
    p = sub.add_parser(name, help=help_text, add_help=False)
    p.set_defaults(forward=(module, function))


def parser() -> argparse.ArgumentParser:
    from .families.ltx import LTX
    from .families.wan import WAN
    from .families.wan_i2v import WAN_I2V
    ap = argparse.ArgumentParser(prog="python -m kino_export",
                                 description="Export diffusers checkpoints and kino's demo model to kino model "
                                             "packages; train the demo model. Run a command with --help for its "
                                             "options.")
    sub = ap.add_subparsers(dest="command", required=True)
    for family in (WAN, WAN_I2V, LTX):
        p = sub.add_parser(family.name, help=f"{family.title} (diffusers folder, or --tiny) -> kino package",
                           description=f"{family.title} (diffusers) -> kino model package")
        family.add_arguments(p)
        p.set_defaults(family=family, family_parser=p)
    demo = sub.add_parser("demo", help="kino's demo model: train, export, evaluate")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    for name, target in DEMO.items():
        _forward(demo_sub, name, target)
    _forward(sub, "bench", BENCH)
    _forward(sub, "realsize", REALSIZE)
    return ap


def main(argv=None) -> int:
    ap = parser()
    a, rest = ap.parse_known_args(sys.argv[1:] if argv is None else argv)
    if getattr(a, "forward", None):
        module, function = a.forward
        return getattr(importlib.import_module(module), function)(rest) or 0
    if rest:
        a.family_parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return a.family.run(a, a.family_parser)


if __name__ == "__main__":
    sys.exit(main())
