"""Writing a package never deletes a user's files, and leaves files every user can read."""

import os
import stat

import pytest

from kino_export.families.common import package_folder


def _write(folder, name="kino.json", text="{}"):
    with open(os.path.join(folder, name), "w") as fh:
        fh.write(text)


def test_new_empty_and_earlier_packages_are_written_readable(tmp_path):
    out = tmp_path / "pkg"
    with package_folder(str(out)) as tmp:
        _write(tmp)
        _write(tmp, "denoiser.onnx.data", "x")
        os.chmod(os.path.join(tmp, "denoiser.onnx.data"), 0o600)
    for name in ("kino.json", "denoiser.onnx.data"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    # An earlier package is replaced whole.
    with package_folder(str(out)) as tmp:
        _write(tmp, text='{"v": 2}')
    assert sorted(os.listdir(out)) == ["kino.json"]
    assert (out / "kino.json").read_text() == '{"v": 2}'
    # An empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    with package_folder(str(empty)) as tmp:
        _write(tmp)
    assert (empty / "kino.json").is_file()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".kino-export-")]


def test_a_folder_of_other_files_is_refused_before_any_work(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    ran = []
    with pytest.raises(FileExistsError, match="holds other files"):
        with package_folder(str(mine)):
            ran.append(True)
    assert not ran
    assert (mine / "notes.txt").read_text() == "the user's"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        with package_folder(str(a_file)):
            pass
    assert a_file.read_text() == "x"
