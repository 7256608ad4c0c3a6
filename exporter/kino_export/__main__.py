"""``python -m kino_export <command>``: see ``--help``."""
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: python -m kino_export demo {train,continue,refine,refine-package,export,eval} [options]\n"
             "       python -m kino_export wan --from <diffusers folder> --out <package> [options]\n"
             "       python -m kino_export ltx --from <diffusers folder> --out <package> [options]\n"
             "       python -m kino_export bench [--config medium|tiny] [--threads N] [--steps N]\n"
             "       run a subcommand with --help for its options")
    if argv and argv[0] == "bench":
        from .bench import main as run
        return run(argv[1:]) or 0
    if argv and argv[0] in ("wan", "ltx"):
        if argv[0] == "wan":
            from .families.wan import main as run
        else:
            from .families.ltx import main as run
        return run(argv[1:]) or 0
    if len(argv) < 2 or argv[0] not in ("demo",):
        print(usage, file=sys.stderr)
        return 2
    group, cmd, rest = argv[0], argv[1], argv[2:]
    if group == "demo":
        if cmd == "train":
            from .demo.train import main as run
        elif cmd == "continue":
            from .demo.train import continue_main as run
        elif cmd == "refine":
            from .demo.train import refine_main as run
        elif cmd == "refine-package":
            from .demo.train import refine_package_main as run
        elif cmd == "export":
            from .demo.export import main as run
        elif cmd == "eval":
            from .demo.evaluate import main as run
        else:
            print(usage, file=sys.stderr)
            return 2
        return run(rest) or 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
