"""Output paths are checked before any model runs (a file, a path under a file, a folder that cannot be written), and
what the package writes gets the permissions the user's umask gives a new file, not mkstemp's private 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nlp_underspec import cli, evaluation
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.io import atomic_write_json, atomic_write_text, staged_output
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from cli_errors import cli_fails  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


_fails = cli_fails  # the shared form (tests/cli_errors.py)


@pytest.fixture
def no_inference(monkeypatch):
    """Any prediction is a failure of the test: the output path must be refused first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model ran before the output path was checked")

    monkeypatch.setattr(evaluation, "predict_test", refuse)
    monkeypatch.setattr(evaluation, "predict_tests", refuse)


@pytest.fixture
def read_only(monkeypatch):
    """Factory: make ``folder`` unwritable as os.access sees it (the tests run as root, where chmod would not do)."""
    real = os.access
    denied = []
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) in denied and mode & os.W_OK
                        else real(path, mode, **kw))
    return denied.append


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- before any model


@pytest.mark.bad_input
def test_evaluate_out_under_a_file(tiny_checkpoint, a_file, no_inference, capsys):
    out = a_file / "results"
    assert _fails(["evaluate", tiny_checkpoint("mlm"), "--tests", "calibration", "--out", out], capsys) == (
        f"Output path {out} cannot be created: {a_file} is a file, not a folder. Choose another --out.")


@pytest.mark.bad_input
def test_evaluate_out_not_writable(tiny_checkpoint, tmp_path, no_inference, read_only, capsys):
    read_only(tmp_path / "locked")
    (tmp_path / "locked").mkdir()
    out = tmp_path / "locked" / "deeper" / "results"
    assert _fails(["evaluate", tiny_checkpoint("mlm"), "--tests", "calibration", "--out", out], capsys) == (
        f"Output path {out} cannot be written: {tmp_path / 'locked'} is not writable by you. Choose another --out.")


@pytest.mark.bad_input
def test_score_out_that_is_a_file(tmp_path, a_file, capsys):
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    assert _fails(["score", "--predictions", family, "--out", a_file], capsys) == (
        f"Output path {a_file} is a file, not a folder. Choose a folder for --out.")


@pytest.mark.bad_input
def test_run_out_under_a_file_or_unwritable(a_file, tmp_path, read_only, capsys):
    recipe = REPO / "recipes" / "tiny.yaml"
    assert _fails(["run", recipe, "--out", a_file / "tiny"], capsys) == (
        f"Output path {a_file / 'tiny'} cannot be created: {a_file} is a file, not a folder. Choose another --out.")
    out = tmp_path / "runs"
    out.mkdir()
    read_only(out)
    assert _fails(["run", recipe, "--out", out], capsys) == (
        f"Output path {out} cannot be written: {out} is not writable by you. Choose another --out.")
    assert list(out.iterdir()) == []


@pytest.mark.bad_input
def test_pretrain_out_under_a_file(a_file, capsys):
    assert _fails(["pretrain", REPO / "recipes" / "tiny.yaml", "--pretrain-seed", "0", "--out", a_file / "p00"],
                  capsys) == (f"Output path {a_file / 'p00'} cannot be created: {a_file} is a file, not a folder. "
                              "Choose another --out.")


@pytest.mark.bad_input
def test_analyze_in_a_folder_that_cannot_take_analysis_json(tmp_path, read_only, capsys):
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    read_only(family)
    assert _fails(["analyze", family], capsys) == (
        f"Output path {family / 'analysis.json'} cannot be written: {family} is not writable by you. Pass --no-write "
        "to print the table without writing analysis.json.")
    assert cli.main(["analyze", str(family), "--no-write", "--nboot", "20"]) == 0


@pytest.mark.bad_input
def test_compare_out_that_is_a_folder(tmp_path, capsys):
    """Refused before the families are read (and long before a bootstrap would finish)."""
    assert _fails(["compare", tmp_path / "base", tmp_path / "expt", "--out", tmp_path], capsys) == (
        f"Output path {tmp_path} is a folder, not a file. Pass a file path for --out (e.g. comparison.json).")


# ---------------------------------------------------------------------------------------------- permissions


@pytest.fixture
def umask():
    """Factory: set the process umask for one test."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                          (0o002, 0o664, 0o775)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, file_mode, folder_mode):
    umask(mask)
    assert _mode(atomic_write_text(tmp_path / "a.txt", "x")) == file_mode
    assert _mode(atomic_write_json(tmp_path / "deep" / "b.json", {"a": 1})) == file_mode
    with staged_output(tmp_path / "out") as stage:
        atomic_write_text(stage / "c.txt", "y")
    assert _mode(tmp_path / "out") == folder_mode and _mode(tmp_path / "out" / "c.txt") == file_mode


def test_a_results_folder_follows_the_umask(tmp_path, umask):
    umask(0o022)
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    assert cli.main(["score", "--predictions", str(family), "--out", str(tmp_path / "out"), "--n-boot", "20"]) == 0
    modes = {path.relative_to(tmp_path / "out").as_posix(): _mode(path) for path in (tmp_path / "out").rglob("*")}
    assert modes and all(mode == (0o755 if (tmp_path / "out" / name).is_dir() else 0o644)
                         for name, mode in modes.items()), modes
    assert _mode(tmp_path / "out") == 0o755


# ---------------------------------------------------------------------------------------------- unusual paths


@pytest.mark.bad_input
@pytest.mark.parametrize("command", ["evaluate", "pretrain"])
def test_an_out_with_a_newline_is_refused_up_front(tiny_checkpoint, tmp_path, no_inference, capsys, command):
    """pretrain trained into such a folder, and the sweep's tables broke on it later."""
    out = tmp_path / "new\nline"
    argv = (["evaluate", tiny_checkpoint("mlm"), "--tests", "calibration"] if command == "evaluate" else
            ["pretrain", REPO / "recipes" / "tiny.yaml", "--pretrain-seed", "0"])
    assert _fails([*argv, "--out", out], capsys) == (
        f"--out {str(out)!r} has a newline or tab in it, which the tab-separated tables the toolkit writes "
        "(run_info.tsv, a sweep's tables) cannot hold. Rename it, or choose another path.")
    assert not out.exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("length, deeper, allowed, why", [
    (300, False, 230, " (255, less 25 for the names of the files staged beside it)"),
    (240, False, 230, " (255, less 25 for the names of the files staged beside it)"),  # fits, but its staging name not
    (300, True, 255, "")])
def test_an_out_whose_name_is_too_long_is_refused_up_front(tiny_checkpoint, tmp_path, no_inference, capsys, length,
                                                           deeper, allowed, why):
    """OSError 36 with a traceback, from pathlib's own checks."""
    name = "x" * length
    out = tmp_path / name / "results" if deeper else tmp_path / name
    shown = f"{str(out)[:60]}..."
    assert _fails(["evaluate", tiny_checkpoint("mlm"), "--tests", "calibration", "--out", out], capsys) == (
        f"Output path {shown} has a name of {length} characters ('{'x' * 20}...'), more than the {allowed} this "
        f"filesystem allows there{why}. Choose another --out.")
    assert not [path for path in tmp_path.iterdir() if "xxx" in path.name]


@pytest.mark.bad_input
def test_an_out_that_is_a_dangling_link_is_refused_up_front(tiny_checkpoint, tmp_path, no_inference, capsys):
    """The final swap failed with NotADirectoryError after every model had run."""
    out = tmp_path / "dangling"
    out.symlink_to(tmp_path / "gone")
    assert _fails(["evaluate", tiny_checkpoint("mlm"), "--tests", "calibration", "--out", out], capsys) == (
        f"Output path {out} is a symbolic link to {tmp_path / 'gone'}, which does not exist. Choose another --out.")
    assert out.is_symlink() and not (tmp_path / "gone").exists()


def test_a_linked_out_replaces_the_folder_it_points_to(tmp_path):
    """--overwrite through a link to an earlier results folder left a stray .<link>.old-<pid> link behind; now the
    folder the link points to gets the new results, and the link stays as it was."""
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    results = tmp_path / "results"
    assert cli.main(["score", "--predictions", str(family), "--out", str(results), "--n-boot", "20"]) == 0
    link = tmp_path / "latest"
    link.symlink_to(results)
    assert cli.main(["score", "--predictions", str(family), "--out", str(link), "--n-boot", "30",
                     "--overwrite"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(results)
    assert '"n_boot": 30' in (results / "summary.json").read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["family", "latest", "results"]


# ---------------------------------------------------------------------------------------------- standard output


class _FailingStdout:
    """A stdout whose writes fail as ``error`` does (a full disk, a reader that went away)."""

    def __init__(self, error: OSError):
        self.error = error

    def write(self, text):
        raise self.error

    def flush(self):
        pass


@pytest.mark.bad_input
def test_a_full_stdout_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    """`analyze --no-write >/dev/full` gave an OSError traceback."""
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", _FailingStdout(OSError(28, "No space left on device")))
    assert cli.main(["analyze", str(family), "--no-write", "--nboot", "20"]) == 2
    assert capsys.readouterr().err == (
        f"error: {cli.STDOUT_FAILED.format(reason='No space left on device')}\n")
    assert cli.STDOUT_FAILED.format(reason="No space left on device") == (
        "Cannot write the results to standard output (No space left on device): they are incomplete. Send the output "
        "somewhere with room (another file or disk, a pipe) and run the command again.")
    assert not (family / "analysis.json").exists()


def test_a_closed_pipe_stops_quietly_with_141(tmp_path, monkeypatch, capsys):
    """`analyze ... | head`: the reader has seen enough; the shell's SIGPIPE status, no message, no traceback."""
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", _FailingStdout(BrokenPipeError(32, "Broken pipe")))
    assert cli.main(["analyze", str(family), "--no-write", "--nboot", "20"]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.bad_input
def test_a_closed_stdout_is_refused_before_the_command_runs(tmp_path, monkeypatch, capsys):
    """`analyze --no-write >&-` exited 0 with the table lost (Python's stdout is None when fd 1 is closed)."""
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", None)
    assert cli.main(["analyze", str(family), "--nboot", "20"]) == 2
    assert capsys.readouterr().err == (
        "error: Standard output is closed, so the command's results would be lost. Run it with its output going to a "
        "terminal, a file or a pipe (not `>&-`).\n")
    assert not (family / "analysis.json").exists()


@pytest.mark.bad_input
def test_a_closed_stdout_in_a_real_process(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "nlp_underspec", "status",
                           str(tmp_path / "none")], env=env, capture_output=False, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr == f"error: {cli.STDOUT_CLOSED}\n"


@pytest.mark.bad_input
def test_a_deleted_current_folder_is_named(tmp_path, monkeypatch, capsys):
    """`cd gone && rmdir ../gone && score --out rel_out` gave a FileNotFoundError traceback from os.path.abspath."""
    family = write_demo_family(tmp_path / "family", pretrain_seeds=[0, 1], finetune_seeds=[0])
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    capsys.readouterr()
    assert cli.main(["score", "--predictions", str(family), "--out", "rel_out"]) == 2
    assert capsys.readouterr().err == (
        "error: The current folder no longer exists (it was deleted or moved while you were in it), so relative paths "
        "mean nothing. cd into an existing folder and run the command again.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["family"]
