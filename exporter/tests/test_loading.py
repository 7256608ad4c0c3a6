"""Reading checkpoints tensor by tensor: the same tensors as safetensors' own loader, in every
dtype a checkpoint holds, each in its own memory (no view of a mapped file)."""
from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from kino_export.families.loading import read_safetensors


def test_read_safetensors_equals_the_safetensors_loader(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {"a.weight": torch.randn(3, 5, generator=g), "b.half": torch.randn(7, generator=g).half(),
               "c.bf16": torch.randn(2, 2, 2, generator=g).bfloat16(), "d.f64": torch.randn(4, generator=g).double(),
               "e.ids": torch.arange(6).reshape(2, 3), "f.mask": torch.tensor([True, False, True]),
               "g.empty": torch.zeros(0, 3), "h.scalar": torch.tensor(2.5)}
    path = str(tmp_path / "w.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    want = load_file(path)
    got = dict(read_safetensors(path))
    assert sorted(got) == sorted(want)
    for k, t in got.items():
        assert t.dtype == want[k].dtype and t.shape == want[k].shape, k
        assert torch.equal(t, want[k]), k
