"""Every command that writes, against every kind of target it must not replace: a device, a
FIFO, a socket, a folder, a read-only file, and the command's own input (named as it is, by a
symbolic link, or by a hard link). Each is refused with one `error:` line, and the target,
the inputs and the folder are left exactly as they were (no temporary file behind).

A writable regular file, a new name and a link to a regular file are written: atomically,
keeping the mode of the file replaced.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from tests.test_corpus import invoke

RATINGS = "user,item,rating\n" + "".join(
    f"u{u},i{(u * 3 + j) % 7},{1 + (u + j) % 5}\n" for u in range(10) for j in range(4)
)

# (name, command line, the input the command reads that a write must not replace, the
# target's suffix). "{T}" is the target, "{d}" the case's folder.
WRITERS = [
    ("train-m", ["train", "{d}/data.csv", "-m", "{T}", "-q", "--algo", "baseline"], "data.csv",
     ""),
    ("tune-m", ["tune", "{d}/data.csv", "--algo", "baseline", "--trials", "1", "--folds", "2",
                "--no-halving", "-m", "{T}", "-q"], "data.csv", ""),
    ("tune-o", ["tune", "{d}/data.csv", "--algo", "baseline", "--trials", "1", "--folds", "2",
                "--no-halving", "-o", "{T}", "-q"], "data.csv", ".csv"),
    ("update-save-as", ["update", "{d}/new.csv", "-m", "{d}/model", "--base", "{d}/data.csv",
                        "--save-as", "{T}", "-q"], "new.csv", ""),
    ("update-o", ["update", "{d}/new.csv", "-m", "{d}/model", "--base", "{d}/data.csv",
                  "--save-as", "{d}/updated", "-o", "{T}", "-q"], "new.csv", ".csv"),
    ("predict-o", ["predict", "-m", "{d}/model", "--user", "u1", "--item", "i1", "-o", "{T}"],
     "model", ".csv"),
    ("predict-pairs-o", ["predict", "{d}/pairs.csv", "-m", "{d}/model", "-o", "{T}"],
     "pairs.csv", ".csv"),
    ("recommend-o", ["recommend", "-m", "{d}/model", "--user", "u1", "-o", "{T}", "-q"],
     "model", ".csv"),
    ("recommend-history-o", ["recommend", "-m", "{d}/model", "--history", "{d}/new.csv",
                             "-o", "{T}", "-q"], "new.csv", ".csv"),
    ("similar-o", ["similar", "-m", "{d}/model", "--item", "i1", "-o", "{T}", "-q"], "model",
     ".csv"),
    ("describe-o", ["describe", "{d}/data.csv", "-o", "{T}"], "data.csv", ".csv"),
    ("inspect-o", ["inspect", "-m", "{d}/model", "-o", "{T}"], "model", ".json"),
    ("export-o", ["export", "-m", "{d}/model", "-o", "{T}"], "model", ".csv"),
    ("evaluate-o", ["evaluate", "{d}/data.csv", "--algo", "baseline", "--folds", "2", "-o",
                    "{T}", "-q"], "data.csv", ".csv"),
    ("stability-o", ["stability", "{d}/data.csv", "--algo", "svd", "--ranks", "1,2", "--seeds",
                     "2", "--no-cv", "-o", "{T}", "-q"], "data.csv", ".csv"),
]  # fmt: skip

KINDS = ["device", "fifo", "socket", "folder", "read-only", "input", "link-to-input",
         "hard-link-to-input"]  # fmt: skip


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("model")
    (folder / "data.csv").write_text(RATINGS)
    code, _, err = invoke(["train", str(folder / "data.csv"), "-m", str(folder / "model"), "-q",
                           "-k", "2", "--epochs", "3"])  # fmt: skip
    assert code == 0, err
    return (folder / "model").read_bytes()


def _folder(tmp_path: Path, model_bytes: bytes) -> Path:
    (tmp_path / "data.csv").write_text(RATINGS)
    (tmp_path / "new.csv").write_text("user,item,rating\nnew1,i1,5\nnew1,i2,3\nu1,i3,4\n")
    (tmp_path / "pairs.csv").write_text("u1,i1\nu2,i2\n")
    (tmp_path / "model").write_bytes(model_bytes)
    return tmp_path


def _make(kind: str, target: Path, source: Path) -> None:
    if kind == "device":
        if os.geteuid() != 0:  # only root makes device nodes; a user may not replace /dev/null
            target.symlink_to("/dev/null")
            return
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        server.close()
    elif kind == "folder":
        target.mkdir()
    elif kind == "read-only":
        target.write_bytes(source.read_bytes())
        target.chmod(0o444)
    elif kind == "link-to-input":
        target.symlink_to(source)
    elif kind == "hard-link-to-input":
        os.link(source, target)


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in folder.iterdir():
        info = p.lstat()
        body = p.read_bytes() if stat.S_ISREG(info.st_mode) else None
        out[p.name] = (stat.S_IFMT(info.st_mode), info.st_mode & 0o777, info.st_ino, body)
    return out


@pytest.mark.parametrize("writer", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_link_to_a_pipe_is_refused_as_the_pipe_it_is(tmp_path, model_bytes, writer):
    """/dev/stdout on a pipe links to /proc/self/fd/1, whose name resolves to none
    ("pipe:[N]"): judged by the name it failed to write to a folder of /proc; judged by what
    it is, a pipe, refused before any work, and -o is told of -o -."""
    _name, args, _source, suffix = writer
    folder = _folder(tmp_path, model_bytes)
    read, write = os.pipe()
    try:
        target = folder / f"target{suffix}"
        target.symlink_to(f"/proc/self/fd/{write}")
        line = [a.replace("{T}", str(target)).replace("{d}", str(folder)) for a in args]
        code, out, err = invoke(line)
    finally:
        os.close(read)
        os.close(write)
    lines = err.splitlines()
    assert code == 1 and out == "" and len(lines) == 2, err
    assert lines[0].endswith("is a FIFO (named pipe), not a regular file; refusing to replace it")
    assert ("(-o - writes to stdout)" in lines[1]) == ("-o" in args), err


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_write_never_replaces_what_it_must_not(tmp_path, model_bytes, writer, kind):
    _name, args, source, suffix = writer
    folder = _folder(tmp_path, model_bytes)
    target = folder / source if kind == "input" else folder / f"target{suffix}"
    _make(kind, target, folder / source)
    before = _snapshot(folder)
    line = [a.replace("{T}", str(target)).replace("{d}", str(folder)) for a in args]
    code, out, err = invoke(line)
    lines = [ln for ln in err.splitlines() if ln]
    assert code in (1, 2), (code, out, err)
    assert lines and lines[0].startswith("error: ") and len(lines) <= 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert _snapshot(folder) == before
    if kind == "device" and os.geteuid() == 0:
        assert stat.S_ISCHR(target.lstat().st_mode)


@pytest.mark.parametrize("writer", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_write_replaces_a_regular_file_keeping_its_mode(tmp_path, model_bytes, writer):
    _name, args, _source, suffix = writer
    folder = _folder(tmp_path, model_bytes)
    target = folder / f"target{suffix}"
    if not suffix:  # a model path: an older model there
        target.write_bytes(model_bytes)
    else:
        target.write_text("old\n")
    target.chmod(0o640)
    link = folder / f"link{suffix}"
    link.symlink_to(target)
    line = [a.replace("{T}", str(link)).replace("{d}", str(folder)) for a in args]
    code, _out, err = invoke(line)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays a link
    assert target.lstat().st_mode & 0o777 == 0o640
    assert target.read_bytes() not in (b"old\n", model_bytes)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_split_refuses_a_special_file_among_its_outputs(tmp_path, model_bytes):
    folder = _folder(tmp_path, model_bytes)
    os.mkfifo(folder / "data.test.csv")
    before = _snapshot(folder)
    code, _, err = invoke(["split", str(folder / "data.csv"), "-o", str(folder)])
    assert code == 1 and "data.test.csv" in err and "FIFO" in err, err
    assert _snapshot(folder) == before  # not even the train file was written


def test_a_split_that_runs_out_of_space_leaves_every_file_and_folder_as_it_was(
    tmp_path, model_bytes, monkeypatch
):
    """The fifth of six files finds the disk full: the earlier split's files stay whole and
    unmixed with the new one's (before, the first four were replaced), no temporary file is
    left, and a folder the run made is removed again."""
    import errno

    from recfactor.io.rows import RawRows

    folder = _folder(tmp_path, model_bytes)
    code, _, err = invoke(["split", str(folder / "data.csv"), "-o", str(folder), "--folds", "3",
                           "--split-seed", "1"])  # fmt: skip
    assert code == 0, err
    before = _snapshot(folder)
    written, calls = RawRows.write, []

    def fills_at_the_fifth(self, index, path):
        calls.append(path)
        written(self, index, path)
        if len(calls) % 6 == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(RawRows, "write", fills_at_the_fifth)
    code, _, err = invoke(["split", str(folder / "data.csv"), "-o", str(folder), "--folds", "3"])
    assert code == 1 and "No space left on device" in err, err
    assert _snapshot(folder) == before
    made = tmp_path / "new" / "splits"
    code, _, err = invoke(["split", str(folder / "data.csv"), "-o", str(made), "--folds", "3"])
    assert code == 1 and not (tmp_path / "new").exists(), err


def test_plots_are_png_files_and_never_land_beside_a_folder(tmp_path, model_bytes):
    pytest.importorskip("matplotlib")
    folder = _folder(tmp_path, model_bytes)
    (folder / "plots").mkdir()
    base = ["evaluate", str(folder / "data.csv"), "--algo", "baseline", "--folds", "2", "-q"]
    code, _, err = invoke([*base, "--plot", str(folder / "plots")])
    assert code == 1 and "is a folder" in err, err
    code, _, err = invoke([*base, "--plot", str(folder / "picture.jpg")])
    assert code == 2 and ".png" in err, err
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv", "model", "new.csv",
                                                        "pairs.csv", "plots"]  # fmt: skip
    code, _, err = invoke([*base, "--plot", str(folder / "plots" / "eval.png")])
    assert code == 0, err
    assert (folder / "plots" / "eval.png").read_bytes().startswith(b"\x89PNG")


def test_export_follows_every_commands_output_rules(tmp_path, model_bytes):
    folder = _folder(tmp_path, model_bytes)
    model = str(folder / "model")
    code, out, _ = invoke(["export", "-m", model, "-o", "-"])
    assert code == 0 and out.startswith("item,bias,f0") and not (folder / "-").exists()
    code, _, err = invoke(["export", "-m", model, "-o", str(folder / "items.txt")])
    assert code == 2 and "suffix" in err, err
    code, _, err = invoke(["export", "-m", model, "-o", str(folder / "items.pq")])
    assert code == 0, err
    import pyarrow.parquet as pq

    assert pq.read_table(folder / "items.pq").column_names[:2] == ["item", "bias"]


@pytest.mark.parametrize(
    "args",
    [
        ["train", "/dev/zero", "-m", "{d}/new.model", "-q"],
        ["predict", "-m", "/dev/zero", "--user", "u1", "--item", "i1"],
        ["predict", "-m", "{d}/fifo", "--user", "u1", "--item", "i1"],
        ["recommend", "-m", "{d}/model", "--user", "u1", "--items", "/dev/zero"],
        ["recommend", "-m", "{d}/model", "--history", "/dev/zero"],
        ["tune", "{d}/data.csv", "--space-file", "/dev/zero", "-q"],
        ["tune", "{d}/data.csv", "--space-file", "{d}/fifo", "-q"],
    ],
    ids=["data", "model", "model-fifo", "items", "history", "space-file", "space-file-fifo"],
)
def test_a_device_or_fifo_where_a_file_is_read_is_refused_not_read_for_ever(
    tmp_path, model_bytes, args
):
    """/dev/zero never ends and a FIFO without a writer never starts: where recfactor reads a
    file (data, a model, titles, a space), either is refused at once."""
    folder = _folder(tmp_path, model_bytes)
    os.mkfifo(folder / "fifo")
    code, _, err = invoke([a.replace("{d}", str(folder)) for a in args])
    assert code == 1 and err.startswith("error: ") and "internal error" not in err, err


def test_two_outputs_of_one_command_to_one_file_are_refused_before_any_work(tmp_path):
    (tmp_path / "data.csv").write_text(RATINGS)
    (tmp_path / "link.csv").symlink_to(tmp_path / "same.csv")
    base = ["tune", str(tmp_path / "data.csv"), "--algo", "baseline", "--trials", "1", "-q"]
    for output in ("same.csv", "link.csv"):
        code, _, err = invoke([*base, "-m", str(tmp_path / "same.csv"), "-o",
                               str(tmp_path / output)])  # fmt: skip
        assert code == 2 and "is also this command's -m" in err, err
        assert not (tmp_path / "same.csv").exists()


def test_stdin_redirected_from_a_file_is_an_input_too(tmp_path):
    """`recfactor describe - -o d.csv < d.csv` would replace the data it read."""
    import subprocess
    import sys

    data = tmp_path / "d.csv"
    data.write_text(RATINGS)
    with data.open("rb") as stdin:
        done = subprocess.run([sys.executable, "-m", "recfactor", "describe", "-", "-o",
                               str(data)], stdin=stdin, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and "is this command's input (<stdin>)" in done.stderr
    assert data.read_text() == RATINGS
