"""What the family exporters share: the components a package is made from, and writing a
package folder atomically."""
from __future__ import annotations

import contextlib
import gc
import inspect
import os
import shutil
import tempfile

import torch.nn as nn


class Components:
    """The torch modules and facts a package is made from (real checkpoint or tiny).

    ``text_encoder``, ``transformer`` and ``vae`` are each a module or a function that loads it: a
    loaded part is kept until :meth:`release`, which drops it (when it can be loaded again), so an
    export holds one part at a time."""

    def __init__(self, text_encoder, transformer, vae, scheduler_config: dict, tokenizer_src: str | None,
                 name: str, description: str, tiny: bool, extra_parts: dict | None = None):
        # extra_parts: further parts by name (Wan image-to-video's ``image_encoder``), loaded the same way.
        self._sources = {"text_encoder": text_encoder, "transformer": transformer, "vae": vae, **(extra_parts or {})}
        self._loaded = {p: m.eval() for p, m in self._sources.items() if isinstance(m, nn.Module)}
        self.facts = {}  # {part: what the graphs and the manifest need from it}, kept after release
        self.scheduler_config = scheduler_config
        self.tokenizer_src = tokenizer_src  # a tokenizer.json (or a folder to convert); None: tiny T5 tokenizer
        self.name = name
        self.description = description
        self.tiny = tiny
        self.text_stages = None  # None: as many text-encoder graphs as its size needs (text_stages.plan)
        self.text_plan = None    # (stages, shares_position_bias) once a staged encoder is exported

    def get(self, part: str) -> nn.Module:
        if part not in self._loaded:
            self._loaded[part] = self._sources[part]().eval()
        return self._loaded[part]

    def partial(self, part: str, only) -> nn.Module:
        """The part with just the weights ``only(name)`` accepts read (the rest on the meta device),
        not kept; a part given as a module, or by a loader without an ``only`` parameter, comes
        whole (and is kept until released)."""
        source = self._sources[part]
        if isinstance(source, nn.Module) or "only" not in inspect.signature(source).parameters:
            return self.get(part)  # a loader that reads everything: loaded once and kept as usual
        return source(only=only).eval()

    def release(self, part: str) -> None:
        if not isinstance(self._sources[part], nn.Module) and self._loaded.pop(part, None) is not None:
            gc.collect()

    text_encoder = property(lambda self: self.get("text_encoder"))
    transformer = property(lambda self: self.get("transformer"))
    vae = property(lambda self: self.get("vae"))
    image_encoder = property(lambda self: self.get("image_encoder"))

    def write_tokenizer(self, path: str) -> None:
        if self.tokenizer_src is None:
            from . import t5_tokenizer
            t5_tokenizer.save(path)
        elif os.path.isfile(self.tokenizer_src):
            shutil.copyfile(self.tokenizer_src, path)
        else:
            # A folder with only spiece.model: let transformers convert it to the fast format
            # (the conversion needs the sentencepiece package).
            from transformers import T5TokenizerFast
            try:
                fast = T5TokenizerFast.from_pretrained(self.tokenizer_src, local_files_only=True)
            except Exception as e:
                raise RuntimeError(f"{self.tokenizer_src} has no tokenizer.json and converting spiece.model "
                                   f"failed ({e}); install sentencepiece or add tokenizer.json") from e
            fast.backend_tokenizer.save(path)


def check_layout(folder: str, required: list, what: str) -> None:
    """Fail at once, before any weights load, when ``folder`` lacks part of the diffusers layout.

    ``required``: relative paths, or tuples of alternatives (any one will do). One error names
    everything missing: otherwise from_pretrained reports a missing folder as a failed download
    from huggingface.co (or an invalid repo id), and only after loading the other components."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder (expected a diffusers {what} folder)")
    missing = []
    for alternatives in required:
        alternatives = (alternatives,) if isinstance(alternatives, str) else tuple(alternatives)
        if any(os.path.isfile(os.path.join(folder, a)) for a in alternatives):
            continue
        subdirs = {a.split("/")[0] for a in alternatives if "/" in a}
        if subdirs and not any(os.path.isdir(os.path.join(folder, d)) for d in subdirs):
            missing.append(" or ".join(sorted(d + "/" for d in subdirs)))
        else:
            missing.append(" or ".join(alternatives))
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete diffusers {what} folder: missing {', '.join(missing)}")


def check_package_destination(out: str) -> None:
    """Refuses an ``out`` that is not a new or empty folder or an earlier package (one with a
    kino.json): exporting must never delete a user's files."""
    if not os.path.lexists(out):
        return
    if not os.path.isdir(out) or os.path.islink(out):
        raise FileExistsError(f"--out {out}: exists and is not a folder; name a new folder for the package")
    entries = os.listdir(out)
    if entries and "kino.json" not in entries:
        raise FileExistsError(
            f"--out {out}: the folder holds other files; kino_export writes a package only into a new or empty folder, "
            "or over an earlier package (a folder with a kino.json)"
        )


@contextlib.contextmanager
def package_folder(out: str):
    """Yields a temporary folder beside ``out``; when the block succeeds it replaces ``out``
    (files 0644 and folders 0755, readable by every user of a shared install), when it fails it
    is removed and ``out`` is untouched. ``out`` must be new, empty or an earlier package."""
    check_package_destination(out)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".kino-export-", dir=parent)
    try:
        yield tmp
        # mkdtemp makes the folder private and onnx writes external data 0600.
        for root, dirs, files in os.walk(tmp):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        os.chmod(tmp, 0o755)
        check_package_destination(out)
        old = None
        if os.path.exists(out):
            old = tmp + ".old"
            os.replace(out, old)
        os.replace(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
