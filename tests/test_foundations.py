"""The shared contracts: atomic writes, staged outputs, run records, the predictions triplet, tidy scores."""

from __future__ import annotations

import sys
from pathlib import Path

import json

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import io, records, results, triplet
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.io import staged_output
from nlp_underspec.seeding import FinetuneSeeds, derive_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from stand_ins import write_model_stand_ins  # noqa: E402


def _triplet(n_models=2, n_items=3):
    run_info = pd.DataFrame({"model": [f"m{i}" for i in range(n_models)], "pretrain_seed": range(n_models),
                             "finetune_seed": [None] * n_models})
    label_info = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "occupation": ["nurse"] * n_items})
    preds = np.arange(n_models * n_items, dtype=float).reshape(n_models, n_items) / 10
    return triplet.Predictions(run_info, label_info, preds)


def test_triplet_round_trip(tmp_path):
    written = _triplet()
    triplet.write_predictions(tmp_path / "p", written)
    read = triplet.read_predictions(tmp_path / "p")
    np.testing.assert_array_equal(read.preds, written.preds)
    assert read.run_info["pretrain_seed"].tolist() == [0, 1]
    assert read.run_info["finetune_seed"].isna().all()
    assert read.label_info["item_id"].tolist() == ["i0", "i1", "i2"]


@pytest.mark.bad_input
def test_triplet_shape_mismatch_names_files(tmp_path):
    triplet.write_predictions(tmp_path, _triplet())
    np.save(tmp_path / "preds.npy", np.zeros((2, 4)))
    with pytest.raises(UsageError) as err:
        triplet.read_predictions(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'preds.npy'} has shape (2, 4), but {tmp_path / 'run_info.tsv'} lists 2 model(s) and "
        f"{tmp_path / 'label_info.tsv'} 3 item(s): expected (2, 3). Re-run the predictions or fix the tables so they match.")


@pytest.mark.bad_input
def test_triplet_refuses_nan(tmp_path):
    bad = _triplet()
    triplet.write_predictions(tmp_path, bad)
    preds = bad.preds.copy()
    preds[1, 2] = np.nan
    np.save(tmp_path / "preds.npy", preds)
    with pytest.raises(UsageError) as err:
        triplet.read_predictions(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'preds.npy'} holds 1 NaN/inf value(s) (first: model 'm1', item 'i2'). "
        "Re-run the predictions for that model; scores of non-finite predictions are meaningless.")


@pytest.mark.bad_input
def test_triplet_missing_file(tmp_path):
    with pytest.raises(UsageError, match="has no run_info.tsv"):
        triplet.read_predictions(tmp_path)


@pytest.mark.bad_input
def test_staged_output_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_output(out) as stage:
            (stage / "half.json").write_text("{")
            raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# A kind of output for the tests: a folder holding mark.json (ours) and nothing but what the writer writes.
KIND = io.OutputKind("test folder", lambda folder: (folder / "mark.json").is_file(), frozenset({"mark.json", "a.txt"}))


def _ours(folder, run="r1"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mark.json").write_text(json.dumps({"run": run}))
    return folder


def _no_staging_left(parent) -> None:
    assert not [p.name for p in parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]


@pytest.mark.bad_input
def test_staged_output_replaces_only_our_own_output(tmp_path):
    out = _ours(tmp_path / "out")
    with pytest.raises(UsageError) as err:  # ours, another run: --overwrite replaces it
        with staged_output(out, kind=KIND, accept_existing=lambda p: False):
            pass
    assert str(err.value) == io.OUT_HOLDS_OTHER_RUN.format(path=out, what="mark.json")
    with staged_output(out, kind=KIND, overwrite=True) as stage:
        _ours(stage, run="r2")
    assert json.loads((out / "mark.json").read_text()) == {"run": "r2"}

    (out / "notes.md").write_text("mine")  # ours plus a file of the user's: never replaced
    for overwrite in (False, True):
        with pytest.raises(UsageError) as err:
            with staged_output(out, kind=KIND, overwrite=overwrite):
                pass
        assert str(err.value) == io.OUT_NOT_OURS.format(path=out, what="notes.md", kind="test folder")
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.txt").write_text("x")
    with pytest.raises(UsageError) as err:
        with staged_output(other, kind=KIND, overwrite=True):
            pass
    assert str(err.value) == (f"Output folder {other} holds other.txt, which is not a test folder written by "
                              "nlp_underspec. Nothing replaces such a folder, --overwrite or not: choose another "
                              "--out, or move those files out of it first.")
    with pytest.raises(UsageError) as err:  # no kind: only a new or empty folder
        with staged_output(other):
            pass
    assert str(err.value) == f"Output folder {other} is not empty (other.txt). Choose a new or empty folder."
    assert (out / "notes.md").read_text() == "mine" and (other / "other.txt").read_text() == "x"
    _no_staging_left(tmp_path)


@pytest.mark.bad_input
def test_staged_output_never_replaces_an_input(tmp_path):
    out = _ours(tmp_path / "out")
    (out / "a.txt").write_text("the data")
    for given, relation in ((out, "is"), (out / "a.txt", "holds")):
        with pytest.raises(UsageError) as err:
            with staged_output(out, kind=KIND, overwrite=True, inputs=["some/hub-id", None, given]):
                pass
        assert str(err.value) == (f"Output folder {out} {relation} {given}, an input of this command: replacing the "
                                  "folder would delete it, --overwrite or not. Choose another --out.")
    assert (out / "a.txt").read_text() == "the data"
    with staged_output(out / "inside", kind=KIND, inputs=[out]) as stage:  # writing inside an input is fine
        _ours(stage)
    _no_staging_left(tmp_path)


def _lock(folder, name, pid):
    import socket

    (folder / name).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    return folder / name


@pytest.mark.bad_input
def test_staged_output_never_replaces_a_folder_a_running_sweep_holds(tmp_path):
    import os

    alive = os.getppid()  # another live process
    exp = _ours(tmp_path / "exp")
    for folder, name in ((exp, ".sweep.lock"), (_ours(exp / "a.txt"), ".running")):
        lock = _lock(folder, name, alive)
        for out in (exp, exp / "a.txt"):  # the locked folder, one above it, one inside it
            with pytest.raises(UsageError) as err:
                with staged_output(out, kind=KIND, overwrite=True):
                    pass
            assert str(err.value) == (f"Output folder {out} is in use by `nlp-underspec run` (pid {alive} on "
                                      f"{__import__('socket').gethostname()}; lock {lock}), so nothing replaces it, "
                                      "--overwrite or not. Wait for that run to finish or stop it; if no such process "
                                      f"exists, delete {lock}.")
        lock.unlink()
    _lock(exp, ".sweep.lock", os.getpid())  # this process's own sweep writes its report and cards
    with staged_output(exp / "a.txt", kind=KIND, overwrite=True) as stage:
        _ours(stage)
    _lock(exp, ".sweep.lock", 2**22 + 12345)  # a killed sweep's stale lock
    with staged_output(exp / "a.txt", kind=KIND, overwrite=True) as stage:
        _ours(stage)
    _no_staging_left(tmp_path)


@pytest.mark.bad_input
def test_staged_output_refuses_the_current_folder_and_leaves_no_staging(tmp_path, monkeypatch):
    out = _ours(tmp_path / "out")
    monkeypatch.chdir(out)
    with pytest.raises(UsageError) as err:
        with staged_output(".", kind=KIND, overwrite=True):
            pass
    assert str(err.value) == ("Output folder . is (or holds) the current folder, which cannot be swapped for the new "
                              "output. Choose another --out (a new folder), or run the command from outside it.")
    monkeypatch.chdir(tmp_path)
    with staged_output("fresh", kind=KIND) as stage:  # a relative --out is fine
        _ours(stage)
    assert (tmp_path / "fresh" / "mark.json").is_file()
    _no_staging_left(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["mark.json"]


def test_a_failed_swap_keeps_the_old_output_and_leaves_no_staging(tmp_path, monkeypatch):
    import os

    out = _ours(tmp_path / "out", run="old")
    real_replace = os.replace

    def fail_on_the_new_folder(source, target):
        if ".staging-" in str(source):
            raise OSError("disk full")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", fail_on_the_new_folder)
    with pytest.raises(OSError, match="disk full"):
        with staged_output(out, kind=KIND, overwrite=True) as stage:
            _ours(stage, run="new")
    assert json.loads((out / "mark.json").read_text()) == {"run": "old"}
    _no_staging_left(tmp_path)


def test_run_record_complete_written_last(tmp_path):
    record = records.RunRecord.new(run_id="p03", kind="pretrain", seeds={"pretrain_seed": 3}, config={"a": 1})
    records.write_run_record(tmp_path, record)
    assert not records.is_complete(tmp_path)
    records.mark_complete(tmp_path, record, {"loss": 1.5})
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["status"] == "complete" and data["metrics"] == {"loss": 1.5}
    assert data["config_hash"] == records.config_hash({"a": 1}) and data["torch_threads"] >= 1
    assert not records.is_complete(tmp_path)  # a complete record in a folder without the model it describes
    write_model_stand_ins(tmp_path)
    assert records.is_complete(tmp_path)


def test_config_hash_ignores_key_order():
    assert records.config_hash({"a": 1, "b": {"c": 2, "d": 3}}) == records.config_hash({"b": {"d": 3, "c": 2}, "a": 1})


def test_scores_round_trip(tmp_path):
    frame = results.scores_frame([
        {"model": "m", "pretrain_seed": 1, "finetune_seed": None, "test": "winogender", "metric": "bias_r",
         "value": 0.4, "occupation": None},
        {"model": "m", "pretrain_seed": 1, "finetune_seed": None, "test": "winogender", "metric": "bias",
         "value": 0.1, "occupation": "nurse"},
    ])
    results.write_scores(tmp_path / "scores.parquet", frame)
    read = results.read_scores(tmp_path)
    assert list(read.columns) == list(results.SCORE_COLUMNS)
    assert read["pretrain_seed"].tolist() == [1, 1] and read["finetune_seed"].isna().all()
    assert read["occupation"].isna().tolist() == [True, False]


@pytest.mark.bad_input
def test_unknown_name_message():
    assert unknown_name_message("stress test", "wingender", ["winogender", "sts_gender"]) == (
        "Unknown stress test 'wingender'. Did you mean 'winogender'? Available: sts_gender, winogender.")


@pytest.mark.bad_input
def test_finetune_seeds_split_and_pin():
    seeds = FinetuneSeeds.resolve(1)
    assert seeds.init_seed == derive_seed(1, "init") and seeds.data_seed == derive_seed(1, "data")
    pinned = FinetuneSeeds.resolve(2, data_seed=seeds.data_seed)
    assert pinned.data_seed == seeds.data_seed and pinned.init_seed != seeds.init_seed
    with pytest.raises(UsageError, match=r"Seed 'finetune_seed' must be a non-negative integer \(at most 2147483647\), got -1."):
        FinetuneSeeds.resolve(-1)


def test_shipped_bls_reproduces_rudinger_correlation():
    """Rudinger et al. 2018 report r = 0.672 between BLS and Bergsma % female over the 60 occupations."""
    from scipy.stats import pearsonr

    from nlp_underspec.data.occupations import load_occupation_stats

    stats = load_occupation_stats()
    assert len(stats) == 60
    r = pearsonr(stats["bls_pct_female"], stats["bergsma_pct_female"]).statistic
    assert round(r, 3) == 0.672


@pytest.mark.bad_input
def test_a_seed_beyond_int64_in_run_info_is_named(tmp_path):
    """It was a TypeError from pandas' cast ("cannot safely cast non-equivalent float64 to int64")."""
    made = _triplet()
    run_info = made.run_info.assign(pretrain_seed=["99999999999999999999", "1"])
    triplet.write_predictions(tmp_path, triplet.Predictions(run_info, made.label_info, made.preds))
    with pytest.raises(UsageError) as err:
        triplet.read_predictions(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'run_info.tsv'}, line 2: column 'pretrain_seed' must be an integer seed "
                              "or empty, got '99999999999999999999'.")
