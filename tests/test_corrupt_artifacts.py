"""Corrupt files the package wrote (or was handed in its layouts): scores.parquet, summary.json, analysis.json,
run.json, preds.npy and checkpoint weights each give one error naming the file and what to do, with exit code 2."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import cli, records, results, triplet
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.errors import UsageError
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from cli_errors import cli_fails  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_family(tmp_path_factory.mktemp("demo") / "family", pretrain_seeds=range(2),
                             finetune_seeds=range(2))


@pytest.fixture
def family(demo, tmp_path):
    """A copy to break."""
    return shutil.copytree(demo, tmp_path / "family")


_fails = cli_fails  # the shared form (tests/cli_errors.py)


# ---------------------------------------------------------------------------------------------- results files


@pytest.mark.bad_input
def test_scores_parquet_that_is_not_parquet(family, capsys):
    path = family / results.SCORES
    path.write_bytes(b"PAR1 this is not what it claims PAR1")
    message = _fails(["analyze", family, "--no-write"], capsys)
    assert message.startswith(f"{path} is not a readable Parquet file (")
    assert message.endswith("). Re-run `nlp-underspec score` (or the command that wrote it) to write it again.")
    path.write_bytes(path.read_bytes()[:10])  # truncated
    assert _fails(["analyze", family, "--no-write"], capsys).startswith(f"{path} is not a readable Parquet file (")


@pytest.mark.bad_input
def test_scores_with_text_values(family, capsys):
    path = family / results.SCORES
    frame = pd.read_parquet(path)
    frame["value"] = frame["value"].astype(str)
    frame.to_parquet(path)
    dtype = pd.read_parquet(path)["value"].dtype  # object or str, by pandas version
    assert _fails(["analyze", family, "--no-write"], capsys) == (
        f"{path}: column 'value' holds {dtype} values, not numbers (docs/design.md, contract 4). Re-score the "
        "predictions.")


@pytest.mark.bad_input
def test_summary_json_broken_in_three_ways(family, tmp_path, capsys):
    path = family / results.SUMMARY
    path.write_text('{"models": [', encoding="utf-8")
    report = ["report", family, "--out", tmp_path / "report"]
    assert _fails(report, capsys) == (
        f"{path} is not valid JSON (Expecting value at line 1, column 13). Re-run `nlp-underspec score` (or the "
        "command that wrote it) to write it again.")
    path.write_text("[1, 2]", encoding="utf-8")
    assert _fails(report, capsys) == (
        f"{path} holds a JSON array, not an object. Re-run `nlp-underspec score` (or the command that wrote it) to "
        "write it again.")
    path.write_text('{"versions": {}}', encoding="utf-8")
    assert _fails(report, capsys) == (
        f"{path} has no 'models' list, so it is not a results summary (docs/design.md, contract 5). Re-run "
        "`nlp-underspec "
        "score` (or the command that wrote it) to write it again.")
    path.write_bytes(b"\xff\xfe{\x00\x00")  # a UTF-16 mark, a character, then half of one
    assert _fails(report, capsys) == (
        f"{path} is not UTF-8 text: it starts with a UTF-16 LE byte-order mark but what follows is not UTF-16 LE: "
        "truncated data (line 1, byte offset 4). Save it as UTF-8.")
    assert not (tmp_path / "report").exists()


def test_summary_json_carries_its_schema_version_and_the_tests_metadata(family):
    summary = results.read_summary(family)
    assert summary["schema_version"] == results.SUMMARY_SCHEMA_VERSION == 1
    assert list(summary)[:7] == ["models", "versions", "config_hash", "schema_version", "tests", "n_boot",
                                 "bootstrap_seed"]
    assert summary["tests"]["winogender"]["per_occupation_metric"] == "bias"


def test_a_summary_json_without_schema_version_reads_as_the_first_version(family):
    """Run folders written before summary.json had a version still read."""
    import json

    path = family / results.SUMMARY
    summary = json.loads(path.read_text(encoding="utf-8"))
    del summary["schema_version"]
    path.write_text(json.dumps(summary), encoding="utf-8")
    assert results.read_summary(family)["models"] == summary["models"]


@pytest.mark.bad_input
def test_a_summary_json_of_a_newer_or_unknown_version_is_refused(family, capsys):
    import json

    path = family / results.SUMMARY
    summary = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**summary, "schema_version": 2}), encoding="utf-8")
    assert _fails(["analyze", family, "--no-write"], capsys) == (
        f"{path} has schema_version 2, newer than this nlp_underspec reads (up to 1): it was written by a newer "
        "version. Upgrade nlp_underspec (pip install -U nlp_underspec), or re-run `nlp-underspec score` (or the "
        "command that wrote it) with this one.")
    path.write_text(json.dumps({**summary, "schema_version": "1.0"}), encoding="utf-8")
    assert _fails(["analyze", family, "--no-write"], capsys) == (
        f'{path}: schema_version must be a whole number, got "1.0". Re-run `nlp-underspec score` (or the command that '
        "wrote it) to write it again.")


@pytest.mark.bad_input
def test_a_scores_parquet_from_another_folder_is_refused_by_analyze_and_report(family, tmp_path, capsys):
    """Another family's (or an evaluate folder's) scores.parquet copied in was analysed and reported as this family's,
    its models mixed with the summary's."""
    other = write_demo_family(tmp_path / "other", pretrain_seeds=(7, 8), finetune_seeds=(0,))
    shutil.copy(other / results.SCORES, family / results.SCORES)
    message = (f"{family / results.SCORES} holds scores of model(s) p07-f00, p08-f00 that {family / results.SUMMARY} "
               "does not list (it lists p00-f00, p00-f01, p01-f00, p01-f01): the two files do not describe the same "
               "models (a scores.parquet from another folder?). Restore this folder's own scores.parquet, or re-run "
               "the command that wrote both.")
    assert _fails(["analyze", family, "--no-write"], capsys) == message
    assert _fails(["report", family, "--out", tmp_path / "report"], capsys) == message
    assert not (tmp_path / "report").exists()


@pytest.mark.bad_input
def test_an_unreadable_summary_is_not_taken_for_this_run(family, capsys):
    """`score --out` over a folder whose summary.json is broken: not recognisably ours, so refused (never replaced, and
    no JSON traceback)."""
    out = family.parent / "rescored"
    assert cli.main(["score", "--predictions", str(family), "--out", str(out), "--n-boot", "20"]) == 0
    (out / results.SUMMARY).write_text("{", encoding="utf-8")
    assert _fails(["score", "--predictions", family, "--out", out, "--n-boot", "20"], capsys) == (
        f"Output folder {out} holds predictions, scores.parquet, summary.json, which is not a results folder written by "
        "nlp_underspec. Nothing replaces such a folder, --overwrite or not: choose another --out, or move those files "
        "out of it first.")


@pytest.mark.bad_input
def test_analysis_json_broken(family, tmp_path, capsys):
    path = family / "analysis.json"
    path.write_text('{"version": 1,}', encoding="utf-8")
    assert _fails(["report", family, "--out", tmp_path / "report"], capsys) == (
        f"{path} is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 15). Re-run "
        "`nlp-underspec analyze` or delete the file.")
    path.write_text('"analysis"', encoding="utf-8")
    assert _fails(["report", family, "--out", tmp_path / "report"], capsys) == (
        f"{path} holds a JSON string, not an object. Re-run `nlp-underspec analyze` or delete the file.")


@pytest.mark.bad_input
def test_run_record_broken(tmp_path):
    (tmp_path / "run.json").write_text('{"run_id": "p00", ', encoding="utf-8")
    with pytest.raises(UsageError) as err:
        records.read_run_record(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'run.json'} is not valid JSON (Expecting property name enclosed in double "
                              "quotes at line 1, column 19). Delete the run folder to redo the run.")


# ---------------------------------------------------------------------------------------------- preds.npy


@pytest.mark.bad_input
@pytest.mark.parametrize("content, message", [
    (lambda: b"not numpy at all", "{path} is not a .npy file (it does not start with NumPy's magic bytes). Save the "
                                  "predictions with np.save(path, preds), a float array [n_models, n_items]."),
    (lambda: np.array([["0.1"] * 360] * 4), "{path} holds string (<U3) values, not numbers: expected a float array "
                                            "[n_models, n_items]. Re-run the predictions, or save them with "
                                            "np.save(path, preds.astype(float))."),
    (lambda: np.array([[{"p": 0.1}] * 360] * 4, dtype=object),
     "{path} holds pickled Python objects, which are never loaded (unpickling can run code). Save the predictions as "
     "a float array: np.save(path, np.asarray(preds, dtype=float))."),
])
def test_preds_npy_broken(family, tmp_path, capsys, content, message):
    path = family / "predictions" / "sts_gender" / triplet.PREDS
    value = content()
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        np.save(path, value, allow_pickle=True)
    assert _fails(["score", "--predictions", family, "--out", tmp_path / "out"], capsys) == message.format(path=path)
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_preds_npy_truncated(family, tmp_path, capsys):
    path = family / "predictions" / "winogender" / triplet.PREDS
    path.write_bytes(path.read_bytes()[:100])
    message = _fails(["score", "--predictions", family, "--out", tmp_path / "out"], capsys)
    assert message.startswith(f"{path} is not a readable .npy array (")
    assert message.endswith("). Re-run the predictions.")


# ---------------------------------------------------------------------------------------------- checkpoint weights


@pytest.mark.bad_input
def test_corrupt_safetensors_names_the_file(tiny_checkpoint, tmp_path, capsys):
    checkpoint = tiny_checkpoint("mlm")
    (checkpoint / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    message = _fails(["evaluate", checkpoint, "--tests", "calibration", "--out", tmp_path / "out", "--no-progress",
                      "--threads", "1"], capsys)
    assert message.startswith(f"Could not load {checkpoint} as a masked language model: its weights file "
                              f"{checkpoint / 'model.safetensors'} is not readable (")
    assert message.endswith("). Save the checkpoint again with save_pretrained, or download it again.")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_pickle_weights_refused_by_weights_only(tiny_checkpoint):
    import torch
    from safetensors.torch import load_file

    from nlp_underspec.models import load_model

    checkpoint = tiny_checkpoint("mlm")
    state = load_file(checkpoint / "model.safetensors")
    (checkpoint / "model.safetensors").unlink()
    state["extra"] = pd.Timestamp("2020-01-01")  # any object beyond tensors: weights_only refuses to unpickle it
    torch.save(state, checkpoint / "pytorch_model.bin")
    with pytest.raises(UsageError) as err:
        load_model(str(checkpoint), "mlm")
    assert str(err.value) == (
        f"Could not load {checkpoint} as a masked language model: its weights file {checkpoint / 'pytorch_model.bin'} "
        "is a pickle that holds more than tensors, and loading it could run code, so it is refused (torch.load "
        "weights_only). Use a safetensors copy (model.safetensors); if you trust its author, convert it where you "
        "can: load it with torch.load(weights_only=False) and save_pretrained(safe_serialization=True).")


def _sharded(checkpoint, weight_map):
    """The tiny checkpoint's weights as one shard, with ``weight_map`` (a callable of the shard name) as its index."""
    import json

    (checkpoint / "model.safetensors").rename(checkpoint / "model-00001-of-00001.safetensors")
    index = checkpoint / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map("model-00001-of-00001.safetensors")}))
    return index


@pytest.mark.bad_input
def test_a_weights_index_without_a_weight_map_mapping_is_refused(tiny_checkpoint, tmp_path, capsys):
    checkpoint = tiny_checkpoint("mlm")
    index = _sharded(checkpoint, lambda shard: "nope")
    message = _fails(["evaluate", checkpoint, "--tests", "calibration", "--out", tmp_path / "out", "--no-progress",
                      "--threads", "1"], capsys)
    assert message == (
        f'{index} is not a valid weights index: it must be a JSON object whose "weight_map" is an object mapping each '
        "tensor name to the file name of its shard. Re-save the checkpoint (save_pretrained writes the index), or "
        "remove the broken file.")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("weight_map, problem", [
    (lambda shard: {"bert.embeddings.word_embeddings.weight": f"../{shard}"},
     "weight_map['bert.embeddings.word_embeddings.weight'] is '../model-00001-of-00001.safetensors', not the plain "
     "file name of a shard in the checkpoint folder."),
    (lambda shard: {"bert.pooler.dense.weight": 7},
     "weight_map['bert.pooler.dense.weight'] is 7, not the plain file name of a shard in the checkpoint folder."),
    (lambda shard: {"bert.pooler.dense.weight": "model-00002-of-00002.safetensors"},
     "weight_map['bert.pooler.dense.weight'] names 'model-00002-of-00002.safetensors', which is not a file in "
     "{folder}."),
])
def test_a_weights_index_naming_no_shard_beside_it_is_refused(tiny_checkpoint, weight_map, problem):
    from nlp_underspec.models import check_weight_dtypes

    checkpoint = tiny_checkpoint("mlm")
    index = _sharded(checkpoint, weight_map)
    with pytest.raises(UsageError) as err:
        check_weight_dtypes(str(checkpoint))
    assert str(err.value) == (f"{index} is not a valid weights index: {problem.format(folder=checkpoint)} Re-save the "
                              "checkpoint (save_pretrained writes the index), or remove the broken file.")


def test_a_valid_weights_index_passes(tiny_checkpoint):
    from nlp_underspec.models import check_weight_dtypes

    checkpoint = tiny_checkpoint("mlm")
    _sharded(checkpoint, lambda shard: {"bert.pooler.dense.weight": shard})
    check_weight_dtypes(str(checkpoint))


@pytest.mark.bad_input
@pytest.mark.parametrize("test, column", [("winogender", "occupation"), ("sts_gender", "gender")])
def test_a_label_info_naming_a_column_twice_is_refused(family, tmp_path, capsys, test, column):
    """A duplicated header used to reach pandas as a two-column frame ("truth value of a Series is ambiguous")."""
    path = family / "predictions" / test / triplet.LABEL_INFO
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    lines = [lines[0] + f"\t{column}"] + [line + "\tnurse" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert _fails(["score", "--predictions", family, "--out", out, "--n-boot", "20"], capsys) == (
        f"{path}: the header names column '{column}' twice (fields {header.index(column) + 1} and {len(header) + 1}), "
        "so which one is meant is unknown. Rename or remove one of them.")
    assert not out.exists()
