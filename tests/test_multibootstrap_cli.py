"""``nlp-underspec multibootstrap``: MultiBERTs-style files in (a run TSV, preds.npy, labels.npy), the numbers of
``report_ci(multibootstrap(...))`` out, with a built-in score or a function of the user's own file; every bad input
one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nlp_underspec.analysis import bootstrap as mb
from nlp_underspec.analysis import multibootstrap, report_ci
from nlp_underspec.cli import main
from nlp_underspec.commands import multibootstrap as cmd
from nlp_underspec.errors import EXIT_USAGE
from nlp_underspec.stress import accuracy

USER_FILE = '''import numpy as np


def batched_acc(y_true, y_pred):
    return np.mean(y_true == y_pred, axis=-1)


def scalar_acc(y_true, y_pred):
    return float(np.mean(y_true == y_pred))


NOT_A_FUNCTION = 3
'''


def _family(tmp_path, *, flags=("false", "true")):
    rng = np.random.default_rng(0)
    run_info = pd.DataFrame({"seed": [s for _ in range(2) for s in range(4) for _ in range(2)],
                             "intervention": [flag for flag in flags for _ in range(8)]})
    labels = rng.integers(0, 2, size=40)
    skill = np.repeat([0.7, 0.8], 8)[:, None]
    preds = np.where(rng.random((16, 40)) < skill, labels, 1 - labels)
    run_info.to_csv(tmp_path / "run_info.tsv", sep="\t", index=False)
    np.save(tmp_path / "preds.npy", preds)
    np.save(tmp_path / "labels.npy", labels)
    (tmp_path / "score.py").write_text(USER_FILE)
    python_info = run_info.assign(intervention=run_info["intervention"].isin(["true", "True", "1"]))
    return python_info, preds, labels


def _argv(tmp_path, score_fn="builtin:accuracy", *extra):
    return ["multibootstrap", "--run-info", str(tmp_path / "run_info.tsv"), "--preds", str(tmp_path / "preds.npy"),
            "--labels", str(tmp_path / "labels.npy"), "--score-fn", score_fn, "--nboot", "200", *extra]


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("spec, fn, batched", [
    ("builtin:accuracy", accuracy, "built-in"),
    ("score.py:batched_acc", lambda y, p: np.mean(y == p, axis=-1), "detected"),
    ("score.py:scalar_acc", lambda y, p: float(np.mean(y == p)), "no (row by row)"),
])
@pytest.mark.parametrize("paired", [False, True])
def test_json_equals_report_ci_of_the_python_call(tmp_path, capsys, monkeypatch, spec, fn, batched, paired):
    run_info, preds, labels = _family(tmp_path)
    monkeypatch.chdir(tmp_path)  # FILE.py relative to the current folder, as a user types it
    out = tmp_path / "mb.json"
    code, stdout, err = _run(_argv(tmp_path, spec, "--seed", "7", "--out", str(out), *(["--paired"] * paired)),
                             capsys)
    assert (code, err) == (0, "")
    document = json.loads(out.read_text())
    expected = report_ci(multibootstrap(run_info, preds, labels, fn, paired_seeds=paired, nboot=200, rng=7))
    assert document["summary"] == expected
    assert document["settings"] == {"paired": paired, "nboot": 200, "seed": 7, "workers": None}
    assert document["inputs"]["preds_shape"] == [16, 40] and document["inputs"]["labels_shape"] == [40]
    assert document["score_fn"]["batched"] == batched
    assert document["score_fn"]["path"] == (None if spec.startswith("builtin") else str(tmp_path / "score.py"))
    lines = stdout.splitlines()
    assert lines[0].startswith(f"Multi-Bootstrap ({'paired' if paired else 'unpaired'}, nboot 200, seed 7) of {spec}")
    assert [line.split()[0] for line in lines[4:7]] == ["baseline", "intervention", "delta"]
    assert lines[-1] == f"wrote {out}"


def test_intervention_spellings_and_worker_processes(tmp_path, capsys):
    run_info, preds, labels = _family(tmp_path, flags=("0", "True"))
    code, _, err = _run(_argv(tmp_path, f"{tmp_path / 'score.py'}:scalar_acc", "--workers", "2", "--nboot", "20",
                              "--out", str(tmp_path / "mb.json")), capsys)
    assert (code, err) == (0, "")
    expected = report_ci(multibootstrap(run_info, preds, labels, accuracy, nboot=20, rng=42))
    assert json.loads((tmp_path / "mb.json").read_text())["summary"] == expected


# ------------------------------------------------------------------------------------ bad input
def _error(tmp_path, capsys, argv) -> str:
    code, out, err = _run(argv, capsys)
    assert (code, out) == (EXIT_USAGE, "")
    assert len(err.splitlines()) == 1
    return err.strip().removeprefix("error: ")


@pytest.mark.bad_input
def test_missing_files(tmp_path, capsys):
    _family(tmp_path)
    for flag, name in (("--run-info", "run_info.tsv"), ("--preds", "preds.npy"), ("--labels", "labels.npy")):
        (tmp_path / name).rename(tmp_path / "gone")
        assert _error(tmp_path, capsys, _argv(tmp_path)) == cmd.INPUT_MISSING.format(
            flag=flag, path=tmp_path / name, what=cmd.WHAT[flag])
        (tmp_path / "gone").rename(tmp_path / name)


@pytest.mark.bad_input
def test_npy_files_are_never_unpickled(tmp_path, capsys):
    _family(tmp_path)
    np.save(tmp_path / "preds.npy", np.array([[{"a": 1}]] * 16, dtype=object), allow_pickle=True)
    assert _error(tmp_path, capsys, _argv(tmp_path)) == cmd.NPY_PICKLED.format(flag="--preds",
                                                                               path=tmp_path / "preds.npy")
    (tmp_path / "labels.npy").write_text("1,0,1\n")
    np.save(tmp_path / "preds.npy", np.zeros((16, 40), dtype=int))
    assert _error(tmp_path, capsys, _argv(tmp_path)) == cmd.NOT_NPY.format(flag="--labels",
                                                                           path=tmp_path / "labels.npy")


@pytest.mark.bad_input
def test_shapes_reuse_the_library_messages(tmp_path, capsys):
    _, preds, labels = _family(tmp_path)
    np.save(tmp_path / "preds.npy", preds[0])
    assert _error(tmp_path, capsys, _argv(tmp_path)) == mb.PREDS_NOT_2D.format(shape=(40,))
    np.save(tmp_path / "preds.npy", preds)
    np.save(tmp_path / "labels.npy", labels[:-3])
    assert _error(tmp_path, capsys, _argv(tmp_path)) == mb.LABELS_MISMATCH.format(n_labels=37, n_examples=40)


@pytest.mark.bad_input
def test_run_table_column_and_flag(tmp_path, capsys):
    run_info, _, _ = _family(tmp_path)
    run_info.drop(columns="intervention").to_csv(tmp_path / "run_info.tsv", sep="\t", index=False)
    assert _error(tmp_path, capsys, _argv(tmp_path)) == mb.MISSING_RUN_COLUMN.format(
        column="intervention", found="seed", hint=mb.INTERVENTION_HINT)
    run_info.assign(intervention=["false"] * 8 + ["yes"] + ["true"] * 7).to_csv(
        tmp_path / "run_info.tsv", sep="\t", index=False)
    assert _error(tmp_path, capsys, _argv(tmp_path)) == mb.BAD_INTERVENTION.format(value="yes", row=8)


@pytest.mark.bad_input
def test_score_fn_syntax_and_unknown_builtin(tmp_path, capsys):
    _family(tmp_path)
    builtins = "accuracy, mean_squared_error, pearson_r, spearman_r"
    for spec in ("accuracy", "builtin:", "score.txt:acc", ":acc", "score.py:not-a-name"):
        assert _error(tmp_path, capsys, _argv(tmp_path, spec)) == cmd.SCORE_FN_SYNTAX.format(builtins=builtins,
                                                                                             value=spec)
    assert _error(tmp_path, capsys, _argv(tmp_path, "builtin:acuracy")) == (
        f"Unknown built-in score function 'acuracy'. Did you mean 'accuracy'? Available: {builtins}."
        " Or pass FILE.py:NAME for a function of your own.")


@pytest.mark.bad_input
def test_user_file_missing_broken_unnamed_or_not_callable(tmp_path, capsys):
    _family(tmp_path)
    path = tmp_path / "score.py"
    assert _error(tmp_path, capsys, _argv(tmp_path, f"{tmp_path / 'nope.py'}:acc")) == (
        cmd.SCORE_FILE_MISSING.format(path=tmp_path / "nope.py"))
    assert _error(tmp_path, capsys, _argv(tmp_path, f"{path}:acc")) == cmd.SCORE_NAME_MISSING.format(
        path=path, name="acc", found="batched_acc, scalar_acc")
    assert _error(tmp_path, capsys, _argv(tmp_path, f"{path}:NOT_A_FUNCTION")) == cmd.SCORE_NOT_CALLABLE.format(
        path=path, name="NOT_A_FUNCTION", kind="int")
    path.write_text("import numpy_that_is_not_there\n")
    assert _error(tmp_path, capsys, _argv(tmp_path, f"{path}:acc")) == cmd.SCORE_FILE_FAILED.format(
        path=path, error="ModuleNotFoundError: No module named 'numpy_that_is_not_there'")
    path.write_text("def acc(y, p):\n    return (\n")
    message = _error(tmp_path, capsys, _argv(tmp_path, f"{path}:acc"))
    assert message.startswith(f"--score-fn file {path} failed to import (SyntaxError: ")
