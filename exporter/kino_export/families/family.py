"""What every model family gives the exporter, and the one export loop over it.

A family (``wan.Wan``, ``ltx.Ltx``) says how to build its components (``tiny_components``,
``load_components``), what each component's graphs are (``PARTS``, ``graph_io``, ``graph_spec``),
what the graphs and the manifest need to know about a loaded component (``read_facts``) and the
manifest's family-specific blocks (``manifest``). :meth:`Family.export_package` is the same for
all: one component loaded at a time, its graphs exported and checked, the component released
before the next one loads, then kino.json from the facts.
"""
from __future__ import annotations

import argparse
import gc
import os
import warnings

from .. import manifest as kino_manifest
from .. import onnx_export
from ..onnx_export import check_graph
from . import text_stages
from .common import Components, package_folder
from .loading import DTYPES


def _stages(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of graphs (1 or more) or auto")
    return n


class Family:
    name = ""              # the subcommand: python -m kino_export <name>
    family = ""            # the manifest's "family"
    title = ""             # for help texts, e.g. "Wan2.1"
    PARTS: dict = {}       # {component: its graphs}, in export order
    TINY_MAX_LENGTH = 16
    REAL_MAX_LENGTH = 128
    VAE_DTYPE = None       # the VAE's dtype when --vae-dtype is not given (None: --dtype)

    # -- what each family provides -------------------------------------------------------------

    def tiny_components(self, dtypes: dict | None = None) -> Components:
        raise NotImplementedError

    def load_components(self, folder: str, dtypes: dict) -> Components:
        """Components that load from a diffusers folder when first used (checks the layout now)."""
        raise NotImplementedError

    def read_facts(self, part: str, module) -> dict:
        """What the graph specs and the manifest need from a loaded component."""
        raise NotImplementedError

    def graph_io(self, comp: Components, graph: str) -> dict:
        """{"inputs"|"outputs": [(role, name, dtype, dims)]} of one graph."""
        raise NotImplementedError

    def graph_spec(self, comp: Components, graph: str):
        """(wrapper module, example args, dynamic shapes) of one graph."""
        raise NotImplementedError

    def manifest(self, comp: Components, max_length: int) -> dict:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------

    @property
    def graphs(self) -> tuple:
        return tuple(g for gs in self.PARTS.values() for g in gs)

    def facts(self, comp: Components, part: str) -> dict:
        if part not in comp.facts:
            comp.facts[part] = self.read_facts(part, comp.get(part))
        return comp.facts[part]

    def io_names(self, comp: Components, graph: str) -> tuple[list, list]:
        io = self.graph_io(comp, graph)
        return [e[1] for e in io["inputs"]], [e[1] for e in io["outputs"]]

    def export_graphs(self, comp: Components, folder: str, graphs=None, check: bool = True) -> dict:
        """Export the wrapper graphs into ``folder`` and validate them, one component in memory at
        a time; returns {graph: path}."""
        graphs = self.graphs if graphs is None else graphs
        paths = {}
        for part, part_graphs in self.PARTS.items():
            todo = [g for g in part_graphs if g in graphs]
            if not todo:
                continue
            if part == "text_encoder" and self.export_text_stages(comp, folder, paths, check):
                continue
            self.facts(comp, part)
            for g in todo:
                module, args, dyn = self.graph_spec(comp, g)
                i, o = self.io_names(comp, g)
                paths[g] = onnx_export.export(module, args, os.path.join(folder, f"{g}.onnx"), i, o, dyn)
                del module, args
                if check:
                    check_graph(paths[g], self.graph_io(comp, g))
            comp.release(part)
        return paths

    def export_text_stages(self, comp: Components, folder: str, paths: dict, check: bool) -> bool:
        """A text encoder too large for one graph as a chain of stages (``text_stages``), each
        read, exported and released on its own; False when one graph will do."""
        skeleton = comp.partial("text_encoder", lambda name: False)
        stages = text_stages.plan(skeleton, comp.text_stages)
        if len(stages) == 1:
            return False
        shared = text_stages.shares_position_bias(skeleton)
        comp.facts.setdefault("text_encoder", self.read_facts("text_encoder", skeleton))
        del skeleton
        for stage in stages:
            module = comp.partial("text_encoder", text_stages.needs(stage))
            wrapper, args, dyn = text_stages.graph_spec(module, stage)
            io = text_stages.graph_io(stage, shared)
            path = os.path.join(folder, f"{stage.graph}.onnx")
            paths[stage.graph] = onnx_export.export(wrapper, args, path, [e[1] for e in io["inputs"]],
                                                    [e[1] for e in io["outputs"]], dyn)
            del module, wrapper, args
            gc.collect()
            if check:
                check_graph(path, io)
        comp.text_plan = (stages, shared)
        return True

    def package_manifest(self, comp: Components, max_length: int) -> dict:
        """kino.json: the family's, with a staged text encoder's chain when there is one."""
        m = self.manifest(comp, max_length)
        if comp.text_plan is not None:
            m["text_encoder"].update(text_stages.manifest_block(*comp.text_plan))
        return m

    def export_package(self, comp: Components, out: str, max_length: int) -> str:
        """Write the package into a temp folder beside ``out`` and move it into place at the end."""
        with package_folder(out) as tmp:
            comp.write_tokenizer(os.path.join(tmp, "tokenizer.json"))
            self.export_graphs(comp, tmp)
            kino_manifest.write(tmp, self.package_manifest(comp, max_length))
        return out

    # -- command line ----------------------------------------------------------------------------

    def add_arguments(self, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--from", dest="src", help=f"diffusers {self.title} folder")
        ap.add_argument("--out", required=True, help="package folder to write")
        ap.add_argument("--dtype", choices=tuple(DTYPES), default="fp32",
                        help="weights/activations dtype of every component (graph inputs/outputs stay float32)")
        vae_default = f"{self.VAE_DTYPE}, whatever --dtype says" if self.VAE_DTYPE else "--dtype"
        for flag, part, default in (("text-encoder", "text encoder", "--dtype"),
                                    ("transformer", "transformer (denoiser)", "--dtype"), ("vae", "VAE", vae_default)):
            ap.add_argument(f"--{flag}-dtype", choices=tuple(DTYPES), default=None,
                            help=f"dtype of the {part} (default {default})")
        ap.add_argument("--text-encoder-stages", type=_stages, default=None, metavar="N|auto",
                        help="export the text encoder as a chain of N graphs that kino runs one at a time, so a "
                             "large encoder never needs its whole weights in memory (default auto: as many as keep "
                             "each graph's weights under 2 GB; 1 for small encoders)")
        ap.add_argument("--tiny", action="store_true", help="tiny random-weight components instead of --from")
        ap.add_argument("--max-length", type=int, default=None,
                        help=f"tokenizer max_length (default {self.REAL_MAX_LENGTH}; --tiny {self.TINY_MAX_LENGTH})")

    def dtypes(self, a: argparse.Namespace) -> dict:
        """{part: torch dtype} from --dtype and the per-component flags."""
        chosen = {"text_encoder": a.text_encoder_dtype, "transformer": a.transformer_dtype,
                  "vae": a.vae_dtype or self.VAE_DTYPE}
        return {p: DTYPES[d or a.dtype] for p, d in chosen.items()}

    def run(self, a: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
        if a.tiny == bool(a.src):
            ap.error("give exactly one of --from and --tiny")
        dtypes = self.dtypes(a)
        comp = self.tiny_components(dtypes) if a.tiny else self.load_components(a.src, dtypes)
        comp.text_stages = a.text_encoder_stages
        max_length = a.max_length or (self.TINY_MAX_LENGTH if a.tiny else self.REAL_MAX_LENGTH)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.export_package(comp, a.out, max_length)
        total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"wrote {out} ({total / 1e6:.2f} MB)")
        return 0

    def main(self, argv=None) -> int:
        ap = argparse.ArgumentParser(prog=f"python -m kino_export {self.name}",
                                     description=f"{self.title} (diffusers) -> kino model package")
        self.add_arguments(ap)
        return self.run(ap.parse_args(argv), ap)

