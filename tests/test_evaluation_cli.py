"""End to end: `nlp-underspec evaluate` and `score` on tiny checkpoints and the real data; bad input exits 2 and
leaves nothing in --out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import records, triplet
from nlp_underspec.cli import main
from nlp_underspec.results import SCORE_COLUMNS

CONTRACT_STS = ["pearson_bls", "spearman_bls", "ci95", "n_occupations", "n_templates", "mean_abs_delta"]
CONTRACT_WINO = ["accuracy", "bias_r", "ci95", "n_sentences", "resolver"]


@pytest.fixture(scope="module")
def small_stsb(shared_data, tmp_path_factory):
    """Four real STS-B test lines with "A man/A woman is ..." sentences: a fast sts_gender (a handful of templates)."""
    lines = [line for line in (shared_data / "stsbenchmark" / "sts-test.csv").read_text(encoding="utf-8").splitlines()
             if "\tA man is " in line or "\tA woman is " in line][:4]
    path = tmp_path_factory.mktemp("stsb") / "sts-test.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """The CLI's --threads sets torch's thread count for the process; give the rest of the session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


FAST = ["--no-progress", "--threads", "1", "--batch-size", "256"]


def _build_tiny_checkpoint(*args, **kwargs):
    """conftest's builder, for module-scoped fixtures (the ``tiny_checkpoint`` fixture is per test)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_tiny_builder", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_checkpoint(*args, **kwargs)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    build_tiny_checkpoint = _build_tiny_checkpoint
    root = tmp_path_factory.mktemp("models")
    made = {kind: build_tiny_checkpoint(root / f"{kind}-seed_{seed}", kind, seed=seed)
            for kind, seed in (("mlm", 3), ("cross", 0), ("bi", 1), ("coref", 2))}
    record = records.RunRecord.new(run_id="p05", kind="pretrain", seeds={"pretrain_seed": 5}, config={})
    made["run"] = build_tiny_checkpoint(root / "trained", "mlm", seed=5)
    records.mark_complete(made["run"], record)
    return made


@pytest.fixture(scope="module")
def evaluated(checkpoints, small_stsb, shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "out"
    code = main(["evaluate", str(checkpoints["mlm"]), str(checkpoints["coref"]), str(checkpoints["run"]),
                 "--tests", "sts_gender,winogender", "--stsb", str(small_stsb),
                 "--winogender", str(shared_data / "winogender" / "data"), "--out", str(out), "--n-boot", "100",
                 "--seed-pattern", r"seed_(?P<pretrain_seed>\d+)", *FAST])
    assert code == 0
    return out


def test_summary_keys_follow_contract_5(evaluated):
    summary = json.loads((evaluated / "summary.json").read_text())
    assert list(summary)[:3] == ["models", "versions", "config_hash"]
    assert summary["schema_version"] == 1  # after the contract's first three keys
    assert [m["model"] for m in summary["models"]] == ["mlm-seed_3", "coref-seed_2", "p05"]
    for entry in summary["models"]:
        assert list(entry)[:3] == ["model", "pretrain_seed", "finetune_seed"]
        assert list(entry["tests"]) == ["sts_gender", "winogender"]
        assert list(entry["tests"]["sts_gender"])[:6] == CONTRACT_STS
        assert list(entry["tests"]["winogender"])[:5] == CONTRACT_WINO
        sts, wino = entry["tests"]["sts_gender"], entry["tests"]["winogender"]
        assert sts["n_occupations"] == 60 and sts["n_templates"] == 8 and sts["scorer"] == "bi"
        assert wino["n_sentences"] == 720 and -1 <= wino["bias_r"] <= 1 and 0 <= wino["accuracy"] <= 1
        assert len(sts["ci95"]) == 2 and sts["ci95"][0] <= sts["ci95"][1]
    by_name = {m["model"]: m for m in summary["models"]}
    assert by_name["mlm-seed_3"]["pretrain_seed"] == 3 and by_name["mlm-seed_3"]["kind"] == "external"
    assert by_name["coref-seed_2"]["tests"]["winogender"]["resolver"] == "coref_head"
    assert by_name["mlm-seed_3"]["tests"]["winogender"]["resolver"] == "mlm_probe"
    # run.json beats the pattern: the trained checkpoint is named by its run id, with its recorded seed
    assert (by_name["p05"]["pretrain_seed"], by_name["p05"]["kind"]) == (5, "pretrained")
    assert summary["tests"]["winogender"]["higher_is_better"]["bias_r"] is None


def test_scores_parquet_is_tidy(evaluated):
    scores = pd.read_parquet(evaluated / "scores.parquet")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    delta = scores[(scores["test"] == "sts_gender") & (scores["metric"] == "delta")]
    bias = scores[(scores["test"] == "winogender") & (scores["metric"] == "bias")]
    assert len(delta) == len(bias) == 3 * 60 and delta["occupation"].notna().all()
    scalar = scores[scores["occupation"].isna()]
    assert {"pearson_bls", "ci95_low", "ci95_high", "bias_r", "accuracy"} <= set(scalar["metric"])
    summary = json.loads((evaluated / "summary.json").read_text())
    row = scalar[(scalar["model"] == "p05") & (scalar["metric"] == "bias_r")]
    assert row["value"].item() == pytest.approx(summary["models"][2]["tests"]["winogender"]["bias_r"])
    assert row["pretrain_seed"].item() == 5


def test_triplets_are_written(evaluated):
    sts = triplet.read_predictions(evaluated / "predictions" / "sts_gender")
    assert sts.preds.shape == (3, 8 * 60 * 2)
    assert {"occupation_sentence", "male_sentence", "female_sentence", "template_id"} <= set(sts.label_info.columns)
    assert sts.label_info["occupation_sentence"].iloc[0].startswith("A technician is ")
    wino = triplet.read_predictions(evaluated / "predictions" / "winogender")
    assert wino.preds.shape == (3, 720) and ((wino.preds >= 0) & (wino.preds <= 1)).all()
    assert wino.label_info["item_id"].iloc[0] == "technician.customer.1.male.txt"
    assert wino.run_info["resolver"].tolist() == ["mlm_probe", "coref_head", "mlm_probe"]
    assert wino.run_info["pretrain_seed"].tolist() == [3, 2, 5]


def test_score_reproduces_evaluate_from_the_triplets(evaluated, tmp_path, capsys):
    out = tmp_path / "rescored"
    assert main(["score", "--predictions", str(evaluated), "--out", str(out), "--n-boot", "100"]) == 0
    table = capsys.readouterr().out
    assert "sts_gender:pearson_bls →0" in table and "winogender:accuracy ↑" in table and "p05" in table
    original = json.loads((evaluated / "summary.json").read_text())["models"]
    assert json.loads((out / "summary.json").read_text())["models"] == original


def test_cross_and_bi_encoders(checkpoints, small_stsb, tmp_path):
    out = tmp_path / "out"
    assert main(["evaluate", str(checkpoints["cross"]), str(checkpoints["bi"]), "--tests", "sts_gender",
                 "--stsb", str(small_stsb), "--out", str(out), "--n-boot", "50", "--no-progress"]) == 0
    run_info = triplet.read_predictions(out / "predictions" / "sts_gender").run_info
    assert run_info["scorer"].tolist() == ["cross", "bi"]
    assert main(["evaluate", str(checkpoints["cross"]), "--tests", "sts_gender", "--sts-scorer", "bi",
                 "--stsb", str(small_stsb), "--out", str(tmp_path / "o2"), "--n-boot", "50", "--no-progress"]) == 0
    assert triplet.read_predictions(tmp_path / "o2" / "predictions" / "sts_gender").run_info["scorer"].tolist() == ["bi"]


@pytest.mark.bad_input
def test_rerun_of_the_same_run_is_accepted_and_other_runs_refused(checkpoints, small_stsb, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(small_stsb), "--out", str(out),
            "--n-boot", "20", "--no-progress"]
    assert main(argv) == 0
    assert main(argv) == 0  # same settings: replaces its own earlier result
    capsys.readouterr()
    assert main(argv[:-3] + ["--n-boot", "30", "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"error: Output folder {out} already holds a different run (predictions, "
                                       "scores.parquet, summary.json). Choose another --out, or pass --overwrite to "
                                       "replace it.\n")
    assert main(argv[:-3] + ["--n-boot", "30", "--no-progress", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_boot"] == 30


# ------------------------------------------------------------------------------------------------ bad input
def _fails(argv, tmp_path, capsys) -> str:
    """Run the CLI, expect exit 2, nothing in --out (and no staging leftovers beside it); return the message."""
    out = tmp_path / "out"
    capsys.readouterr()
    assert main([*argv, "--out", str(out), "--no-progress"] if argv[0] == "evaluate" else [*argv, "--out", str(out)]) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err[len("error: "):-1]


@pytest.mark.bad_input
def test_unknown_test_name(checkpoints, tmp_path, capsys):
    message = _fails(["evaluate", str(checkpoints["mlm"]), "--tests", "wingender"], tmp_path, capsys)
    assert message == "Unknown stress test 'wingender'. Did you mean 'winogender'? Available: calibration, sts_gender, winogender."


@pytest.mark.bad_input
def test_missing_model_folder(tmp_path, capsys, small_stsb):
    message = _fails(["evaluate", str(tmp_path / "nope"), "--tests", "sts_gender", "--stsb", str(small_stsb)],
                     tmp_path, capsys)
    assert message == (f"Model {tmp_path / 'nope'} does not exist. Pass a checkpoint folder (written by save_pretrained, "
                       "with config.json) or a Hugging Face Hub model id.")


@pytest.mark.bad_input
def test_folder_that_is_not_a_checkpoint(tmp_path, capsys, small_stsb):
    (tmp_path / "empty").mkdir()
    message = _fails(["evaluate", str(tmp_path / "empty"), "--tests", "sts_gender", "--stsb", str(small_stsb)],
                     tmp_path, capsys)
    assert message == (f"{tmp_path / 'empty'} is not a transformers checkpoint: the folder has no config.json. Pass a "
                       "folder written by save_pretrained (config.json and weights) or a Hugging Face Hub model id.")


@pytest.mark.bad_input
def test_winogender_needs_an_mlm_or_resolver_head(checkpoints, shared_data, tmp_path, capsys):
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "winogender",
                      "--winogender", str(shared_data / "winogender" / "data")], tmp_path, capsys)
    assert message == (f"{checkpoints['bi']} has neither a masked-LM head nor a pronoun-resolution head, so winogender "
                       "cannot score it. Evaluate its pretrained MLM checkpoint (mlm_probe resolver) or a model "
                       "fine-tuned with `nlp-underspec finetune` on the coref task (coref_head or cross_encoder "
                       "resolver).")


@pytest.mark.bad_input
def test_cross_scorer_on_a_model_without_the_head(checkpoints, small_stsb, tmp_path, capsys):
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(small_stsb),
                      "--sts-scorer", "cross"], tmp_path, capsys)
    assert message == (f"{checkpoints['bi']} has no sequence-classification head with num_labels=1, so it cannot score "
                       "sentence pairs as a cross-encoder. Use --sts-scorer bi (mean-pooled cosine) or an STS-B "
                       "fine-tuned model.")


@pytest.mark.bad_input
def test_a_checkpoint_with_a_random_part_is_refused_before_anything_is_written(tmp_path, capsys, small_stsb):
    """Broken checkpoints used to be scored: exit 0 and plausible numbers from a made-up vocabulary or random weights."""
    no_tokenizer = _build_tiny_checkpoint(tmp_path / "models" / "no-tokenizer", "bi")
    for path in no_tokenizer.iterdir():
        if path.name not in ("config.json", "model.safetensors"):
            path.unlink()
    message = _fails(["evaluate", str(no_tokenizer), "--tests", "sts_gender", "--stsb", str(small_stsb), *FAST],
                     tmp_path, capsys)
    assert message.startswith(f"{no_tokenizer} has no tokenizer vocabulary (none of tokenizer.json, vocab.txt, ")
    random_head = _build_tiny_checkpoint(tmp_path / "models" / "random-head", "bi")
    config = json.loads((random_head / "config.json").read_text())
    config.update(architectures=["BertForSequenceClassification"], num_labels=1)
    (random_head / "config.json").write_text(json.dumps(config))
    message = _fails(["evaluate", str(random_head), "--tests", "sts_gender", "--stsb", str(small_stsb), *FAST],
                     tmp_path, capsys)
    assert message == (f"{random_head}: config.json declares BertForSequenceClassification, but model.safetensors has "
                       "no weights for its head (missing: classifier.bias, classifier.weight), so a cross-encoder "
                       "(sequence classification, 1 label) would be freshly initialised (random) and score nothing. "
                       "Score it as a bi-encoder with --sts-scorer bi, or pass a model fine-tuned with this head.")


@pytest.mark.bad_input
def test_unknown_resolver_and_device(checkpoints, shared_data, tmp_path, capsys):
    wino = ["--tests", "winogender", "--winogender", str(shared_data / "winogender" / "data")]
    message = _fails(["evaluate", str(checkpoints["mlm"]), *wino, "--resolver", "mlm-probe"], tmp_path, capsys)
    assert message == "Unknown resolver 'mlm-probe'. Did you mean 'mlm_probe'? Available: auto, coref_head, cross_encoder, mlm_probe."
    message = _fails(["evaluate", str(checkpoints["mlm"]), *wino, "--device", "tpu"], tmp_path, capsys)
    assert message == "Unknown device 'tpu'. Use auto, cpu, cuda or cuda:N."


@pytest.mark.bad_input
def test_missing_stsb_path_and_missing_flag(checkpoints, tmp_path, capsys):
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(tmp_path / "x.csv")],
                     tmp_path, capsys)
    assert message.startswith(f"STS-B path {tmp_path / 'x.csv'} does not exist. Pass the STS Benchmark folder")
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender"], tmp_path, capsys)
    assert message == ("Stress test 'sts_gender' needs data: pass --stsb PATH (see `nlp-underspec evaluate --help` for "
                       "the layouts).")


@pytest.mark.bad_input
def test_stsb_folder_without_files(checkpoints, tmp_path, capsys):
    (tmp_path / "stsb").mkdir()
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(tmp_path / "stsb")],
                     tmp_path, capsys)
    assert message.startswith(f"STS-B folder {tmp_path / 'stsb'} has neither sts-test.csv nor test.tsv.")


@pytest.mark.bad_input
def test_occupation_stats_with_unknown_or_missing_occupations(checkpoints, small_stsb, shared_data, tmp_path, capsys):
    source = (shared_data / "winogender" / "data" / "occupations-stats.tsv").read_text().splitlines()
    stats = tmp_path / "stats.tsv"
    stats.write_text("\n".join(source[:-1]) + "\n")
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(small_stsb),
                      "--occupation-stats", str(stats)], tmp_path, capsys)
    assert message == (f"{stats} lacks 1 of the 60 Winogender occupations: {source[-1].split(chr(9))[0]}. Add their "
                       "rows (bls_pct_female is needed for every occupation).")
    stats.write_text("\n".join(source + ["wizard\t1\t2\t2015"]) + "\n")
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(small_stsb),
                      "--occupation-stats", str(stats)], tmp_path, capsys)
    assert message.startswith(f"{stats}, line 62: unknown occupation 'wizard'.")


@pytest.mark.bad_input
def test_score_refuses_nan_predictions(evaluated, tmp_path, capsys):
    import shutil

    folder = tmp_path / "winogender"
    shutil.copytree(evaluated / "predictions" / "winogender", folder)
    preds = np.load(folder / "preds.npy")
    preds[1, 4] = np.inf
    np.save(folder / "preds.npy", preds)
    message = _fails(["score", "--predictions", str(folder)], tmp_path, capsys)
    assert message == (f"{folder / 'preds.npy'} holds 1 NaN/inf value(s) (first: model 'coref-seed_2', item "
                       "'technician.someone.1.female.txt'). Re-run the predictions for that model; scores of "
                       "non-finite predictions are meaningless.")


@pytest.mark.bad_input
def test_score_refuses_a_shape_mismatch(evaluated, tmp_path, capsys):
    import shutil

    folder = tmp_path / "preds" / "sts_gender"
    shutil.copytree(evaluated / "predictions" / "sts_gender", folder)
    np.save(folder / "preds.npy", np.zeros((2, 960)))
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'preds.npy'} has shape (2, 960), but {folder / 'run_info.tsv'} lists 3 model(s) and "
                       f"{folder / 'label_info.tsv'} 960 item(s): expected (3, 960). Re-run the predictions or fix the "
                       "tables so they match.")


def _copied_winogender(evaluated, tmp_path):
    import shutil

    folder = tmp_path / "preds" / "winogender"
    shutil.copytree(evaluated / "predictions" / "winogender", folder)
    return folder


def _edit_tsv(path, row: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    fields = lines[row + 1].split("\t")
    fields[header.index(column)] = value
    lines[row + 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.bad_input
def test_score_detects_run_info_rows_reordered_against_preds(evaluated, tmp_path, capsys):
    """Nothing in the three files can tell that run_info.tsv rows were swapped (the numbers would belong to other
    models); triplet.json, written with them, can."""
    folder = _copied_winogender(evaluated, tmp_path)
    lines = (folder / "run_info.tsv").read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    (folder / "run_info.tsv").write_text("\n".join(lines) + "\n")
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'run_info.tsv'} no longer matches the model order preds.npy was written for "
                       f"({folder / 'triplet.json'}): line 2 is 'coref-seed_2', written for 'mlm-seed_3'. Restore the "
                       "original order (preds.npy rows follow run_info.tsv rows, its columns follow label_info.tsv "
                       "rows), or re-run the predictions.")


@pytest.mark.bad_input
def test_score_detects_a_replaced_preds_array_and_reads_foreign_triplets_unchecked(evaluated, tmp_path, capsys):
    folder = _copied_winogender(evaluated, tmp_path)
    preds = np.load(folder / "preds.npy")
    np.save(folder / "preds.npy", preds[::-1].copy())  # rows swapped: same shape, same range
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'preds.npy'} is not the array {folder / 'triplet.json'} was written with (its "
                       "SHA-256 differs): rows or values changed since. Re-run the predictions, or, if you changed it "
                       f"on purpose, delete {folder / 'triplet.json'} (a triplet without it is read unchecked).")
    (folder / "triplet.json").write_text("{not json")
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message.startswith(f"{folder / 'triplet.json'} is not a triplet manifest of this toolkit (Expecting ")
    (folder / "triplet.json").unlink()  # MultiBERTs-style files made elsewhere have none
    assert main(["score", "--predictions", str(tmp_path / "preds"), "--out", str(tmp_path / "ok"),
                 "--n-boot", "20"]) == 0


@pytest.mark.bad_input
def test_score_refuses_a_triplet_without_models_and_a_file_as_predictions_folder(evaluated, tmp_path, capsys):
    """A header-only run_info.tsv with preds (0, N) agreed with itself and scored to an empty table, exit 0."""
    folder = _copied_winogender(evaluated, tmp_path)
    header = (folder / "run_info.tsv").read_text().splitlines()[0]
    (folder / "run_info.tsv").write_text(header + "\n")
    np.save(folder / "preds.npy", np.zeros((0, np.load(folder / "preds.npy").shape[1])))
    (folder / "triplet.json").unlink()
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'run_info.tsv'} lists no models (a header and no rows): a triplet needs at least "
                       "one model's predictions. Re-run the predictions, or restore the table's rows.")
    message = _fails(["score", "--predictions", str(evaluated / "summary.json")], tmp_path, capsys)
    assert message == (f"{evaluated / 'summary.json'} is a file, not a predictions folder. A predictions folder holds "
                       "run_info.tsv, label_info.tsv and preds.npy (docs/design.md, contract 3).")


@pytest.mark.bad_input
def test_score_refuses_label_info_that_contradicts_its_sentids(evaluated, tmp_path, capsys):
    """An occupation edited on one sentence moved it to another occupation's bias (bias_r +0.004 -> -0.093)."""
    folder = _copied_winogender(evaluated, tmp_path)
    item = (folder / "label_info.tsv").read_text().splitlines()[1].split("\t")[0]
    _edit_tsv(folder / "label_info.tsv", 0, "occupation", "nurse")
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'label_info.tsv'}: item '{item}' has occupation 'nurse', but its sentid says "
                       f"'{item.split('.')[0]}'. Fix that row of label_info.tsv (or drop the column to derive the "
                       "labels from the sentids).")


@pytest.mark.bad_input
def test_score_refuses_an_unknown_gender_in_label_info(evaluated, tmp_path, capsys):
    """A typo ("fmale") would drop its item from every female/male comparison and move bias_r without a word."""
    folder = _copied_winogender(evaluated, tmp_path)
    _edit_tsv(folder / "label_info.tsv", 0, "gender", "fmale")
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'label_info.tsv'}, item 'technician.customer.1.male.txt': column 'gender' must be "
                       "one of female, male, neutral, got 'fmale'.")


@pytest.mark.bad_input
def test_score_blames_preds_for_a_probability_out_of_range(evaluated, tmp_path, capsys):
    folder = _copied_winogender(evaluated, tmp_path)
    (folder / "triplet.json").unlink()
    preds = np.load(folder / "preds.npy")
    preds[2, 7] = 1.25
    np.save(folder / "preds.npy", preds)
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'preds.npy'}, model 'p05', item 'technician.customer.0.female.txt': "
                       "winogender predictions must lie in [0.0, 1.0] (P(pronoun -> occupation)); found 1.25. "
                       "Re-run the predictions for that model.")


@pytest.mark.bad_input
def test_score_refuses_an_empty_share_of_women(evaluated, shared_data, tmp_path, capsys):
    """An empty bls_pct_female used to drop its occupation and leave bias_r null with ci95 [-1, -1]."""
    stats = tmp_path / "stats.tsv"
    stats.write_text((shared_data / "winogender" / "data" / "occupations-stats.tsv").read_text())
    _edit_tsv(stats, 3, "bls_pct_female", "")
    message = _fails(["score", "--predictions", str(evaluated), "--occupation-stats", str(stats)], tmp_path, capsys)
    assert message == f"{stats}, line 5: column 'bls_pct_female' must be a percentage (every occupation needs one), got ''."


@pytest.mark.bad_input
def test_score_of_too_few_occupations_says_cannot_tell(evaluated, tmp_path, capsys, caplog):
    """3 occupations gave bias_r -0.99 [-1.00, -0.99] without a word: now the statistics across occupations are
    empty, with one warning naming the set (accuracy, a mean over sentences, is still reported)."""
    full = triplet.read_predictions(evaluated / "predictions" / "winogender")
    keep = full.label_info["occupation"].isin(full.label_info["occupation"].unique()[:3]).to_numpy()
    folder = tmp_path / "preds" / "winogender"
    triplet.write_predictions(folder, triplet.Predictions(full.run_info, full.label_info[keep], full.preds[:, keep]))
    out = tmp_path / "out"
    assert main(["score", "--predictions", str(tmp_path / "preds"), "--out", str(out), "--n-boot", "20"]) == 0
    warnings = [r.getMessage() for r in caplog.records
                if r.levelname == "WARNING" and "occupation(s)" in r.getMessage()]
    assert warnings == [f"{folder / 'label_info.tsv'}: winogender has 3 occupation(s); statistics across occupations "
                        "need at least 10, so accuracy_ci95, bias_r, ci95, spearman_bias, bias_slope, bias_slope_ci95, "
                        "hard_bias_r, hard_bias_slope are left empty (cannot tell). Score a set with more occupations."]
    scores = json.loads((out / "summary.json").read_text())["models"][0]["tests"]["winogender"]
    assert scores["n_occupations"] == 3 and scores["bias_r"] is None and scores["ci95"] is None
    assert scores["bias_slope"] is None and 0.0 <= scores["accuracy"] <= 1.0


@pytest.mark.bad_input
def test_score_of_an_unregistered_test_folder(tmp_path, capsys):
    folder = tmp_path / "preds" / "stsgender"
    triplet.write_predictions(folder, triplet.Predictions(pd.DataFrame({"model": ["m"]}),
                                                          pd.DataFrame({"item_id": ["a"]}), np.zeros((1, 1))))
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"Predictions folder {folder} is not named after a stress test (a triplet's folder name is the "
                       "test it holds): Unknown stress test 'stsgender'. Did you mean 'sts_gender'? Available: "
                       f"calibration, sts_gender, winogender. Rename the folder, or move it out of {tmp_path / 'preds'}.")


@pytest.mark.bad_input
def test_score_names_an_extra_folder_beside_the_triplets(evaluated, tmp_path, capsys):
    """A copy `winogender_copy/` beside the real triplets was refused as an unknown test, without naming the folder."""
    folder = _copied_winogender(evaluated, tmp_path)
    shutil.copytree(folder, folder.parent / "winogender_copy")
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"Predictions folder {folder.parent / 'winogender_copy'} is not named after a stress test (a "
                       "triplet's folder name is the test it holds): Unknown stress test 'winogender_copy'. Did you "
                       "mean 'winogender'? Available: calibration, sts_gender, winogender. Rename the folder, or move "
                       f"it out of {folder.parent}.")


@pytest.mark.bad_input
def test_score_refuses_a_triplet_manifest_of_a_newer_version(evaluated, tmp_path, capsys):
    folder = _copied_winogender(evaluated, tmp_path)
    manifest = json.loads((folder / "triplet.json").read_text())
    (folder / "triplet.json").write_text(json.dumps({**manifest, "schema_version": triplet.MANIFEST_VERSION + 6}))
    message = _fails(["score", "--predictions", str(tmp_path / "preds")], tmp_path, capsys)
    assert message == (f"{folder / 'triplet.json'} has schema_version 7, newer than this nlp_underspec reads (up to 1): "
                       "it was written by a newer version. Upgrade nlp_underspec (pip install -U nlp_underspec), or "
                       "re-run the predictions with this one.")


@pytest.mark.bad_input
def test_bad_flag_value_exits_2(checkpoints, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(checkpoints["bi"]), "--n-boot", "0", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "--n-boot must be a positive integer, got '0'." in capsys.readouterr().err


@pytest.mark.bad_input
@pytest.mark.parametrize("argv, message", [
    (["score", "--predictions", "p", "--n-boot", "10000000000000"],
     "argument --n-boot: --n-boot must be at most 1,000,000, got 10,000,000,000,000: more draws change no digit "
     "reported and only exhaust memory."),
    (["evaluate", "m", "--threads", "99999"],
     "argument --threads: --threads must be at most 512, got 99,999: more threads than that cannot start (use about "
     "one per CPU core)."),
])
def test_draw_and_thread_counts_have_an_upper_bound(tmp_path, capsys, argv, message):
    """numpy died asking for petabytes (_ArrayMemoryError); the OpenMP runtime could not map 99999 thread stacks."""
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {message}\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.bad_input
def test_offline_hub_ids_get_one_clear_message(checkpoints, tmp_path):
    """A Hub id that is not cached, offline: the model and the dataset each say what to pass instead (exit 2)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    model = subprocess.run([sys.executable, "-m", "nlp_underspec", "evaluate", "someorg/not-cached-model",
                            "--tests", "sts_gender", "--stsb", "nyu-mll/glue", "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert model.returncode == 2 and not (tmp_path / "o").exists()
    message = model.stderr.strip().splitlines()[-1]  # after the INFO log lines
    assert message.startswith("error: Model 'someorg/not-cached-model' is not a local folder and could not be "
                                   "loaded from the Hugging Face Hub (")
    assert message.endswith("If you are offline, download it first where you have a connection "
                                          "(`hf download someorg/not-cached-model`) so it is cached, or pass a local "
                                          "checkpoint folder.")
    data = subprocess.run([sys.executable, "-m", "nlp_underspec", "evaluate", str(checkpoints["bi"]), "--tests",
                           "sts_gender", "--stsb", "nyu-mll/glue", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert data.returncode == 2 and not (tmp_path / "o").exists()
    assert data.stderr.strip().splitlines()[-1] == (
        "error: Could not load 'nyu-mll/glue' from the Hugging Face Hub (ConnectionError). You appear to be offline "
        "and it is not cached: pass a local copy instead (the STS Benchmark folder with sts-train.csv/sts-dev.csv/"
        "sts-test.csv, the GLUE STS-B folder with train.tsv/dev.tsv/test.tsv, or a .csv/.tsv/.json/.jsonl file with "
        "sentence1,sentence2[,label]).")


# ------------------------------------------------------------------------------ what --overwrite never deletes
def _refused(argv, capsys) -> str:
    """Exit 2 with one line, before any model runs; return the message."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _no_staging(parent):
    assert not [p.name for p in parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]


@pytest.mark.bad_input
def test_overwrite_never_deletes_the_checkpoint_or_data_evaluated(checkpoints, small_stsb, tmp_path, capsys):
    import shutil

    from nlp_underspec.io import OUT_HOLDS_INPUT

    model = shutil.copytree(checkpoints["bi"], tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    stsb = shutil.copy(small_stsb, data / "sts-test.csv")
    before = _listing(tmp_path)
    argv = ["evaluate", model, "--tests", "sts_gender", "--stsb", stsb, "--n-boot", "20", *FAST, "--overwrite"]
    for out, relation, given in ((model, "is", model), (tmp_path, "holds", model), (data, "holds", stsb)):
        assert _refused([*argv, "--out", out], capsys) == OUT_HOLDS_INPUT.format(path=out, relation=relation,
                                                                                 input=given)
    assert _listing(tmp_path) == before
    _no_staging(tmp_path)


@pytest.mark.bad_input
def test_score_overwrite_never_replaces_the_predictions_it_reads(evaluated, tmp_path, capsys):
    import shutil

    from nlp_underspec.io import OUT_HOLDS_INPUT

    results = shutil.copytree(evaluated, tmp_path / "results")
    before = _listing(results)
    assert _refused(["score", "--predictions", results, "--out", results, "--overwrite"], capsys) == (
        OUT_HOLDS_INPUT.format(path=results, relation="is", input=results))
    assert _listing(results) == before


@pytest.mark.bad_input
def test_overwrite_replaces_only_a_results_folder_of_ours(checkpoints, evaluated, small_stsb, tmp_path, capsys):
    import shutil

    from nlp_underspec.io import OUT_NOT_OURS

    argv = ["evaluate", checkpoints["bi"], "--tests", "sts_gender", "--stsb", small_stsb, "--n-boot", "20", *FAST,
            "--overwrite", "--out"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert _refused([*argv, mine], capsys) == OUT_NOT_OURS.format(path=mine, what="thesis.tex", kind="results folder")
    experiment = shutil.copytree(evaluated, tmp_path / "experiment")  # a sweep's folder: results beside trained runs
    (experiment / "pretrain" / "p00").mkdir(parents=True)
    (experiment / "manifest.json").write_text("{}")
    assert _refused([*argv, experiment], capsys) == OUT_NOT_OURS.format(path=experiment, what="manifest.json, pretrain",
                                                                        kind="results folder")
    assert (mine / "thesis.tex").is_file() and (experiment / "pretrain" / "p00").is_dir()
    _no_staging(tmp_path)


@pytest.mark.bad_input
def test_overwrite_never_deletes_a_folder_a_running_sweep_holds(checkpoints, evaluated, small_stsb, tmp_path, capsys):
    import shutil
    import socket

    from nlp_underspec.io import OUT_LOCKED

    experiment = shutil.copytree(evaluated, tmp_path / "experiment")
    lock = experiment / ".sweep.lock"
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    before = _listing(experiment)
    message = _refused(["evaluate", checkpoints["bi"], "--tests", "sts_gender", "--stsb", small_stsb, "--n-boot", "20",
                        *FAST, "--out", experiment, "--overwrite"], capsys)
    assert message == OUT_LOCKED.format(path=experiment, pid=os.getppid(), host=socket.gethostname(), lock=lock)
    assert _listing(experiment) == before


@pytest.mark.bad_input
def test_out_dot_overwrite_is_refused_up_front_and_leaves_no_staging(checkpoints, evaluated, small_stsb, tmp_path,
                                                                     capsys, monkeypatch):
    import shutil

    from nlp_underspec.io import OUT_HOLDS_CWD

    results = shutil.copytree(evaluated, tmp_path / "results")
    before = _listing(results)
    monkeypatch.chdir(results)
    assert _refused(["evaluate", checkpoints["bi"], "--tests", "sts_gender", "--stsb", small_stsb, "--n-boot", "20",
                     *FAST, "--out", ".", "--overwrite"], capsys) == OUT_HOLDS_CWD.format(path=".")
    assert _listing(results) == before
    _no_staging(tmp_path)


@pytest.fixture
def no_inference(monkeypatch):
    """Any prediction fails the test: the input must be refused before the first model runs."""
    from nlp_underspec import evaluation

    def refuse(*args, **kwargs):
        raise AssertionError("a model ran before the input was checked")

    monkeypatch.setattr(evaluation, "predict_test", refuse)


@pytest.mark.bad_input
@pytest.mark.parametrize("tests, words, what", [("calibration", "'she', 'he'", "calibration"),
                                                ("winogender", "'She', 'He'", "the mlm_probe resolver")])
def test_a_tokenizer_without_she_and_he_is_refused_before_any_model_runs(tiny_checkpoint, shared_data, tmp_path,
                                                                          capsys, no_inference, forget_words, tests,
                                                                          words, what):
    good, bad = tiny_checkpoint("mlm", name="good"), tiny_checkpoint("mlm", name="nopron")
    forget_words(bad, ["she", "he"])
    message = _fails(["evaluate", str(good), str(bad), "--tests", tests,
                      "--winogender", str(shared_data / "winogender" / "data")], tmp_path, capsys)
    assert message == (f"The tokenizer of {bad} maps {words} to its unknown token [UNK], so {what} would read that "
                       "token instead of the words it compares, and measure nothing. Pass a checkpoint whose tokenizer "
                       "knows these words.")


def _edit_tokenizer(folder, *, vocab=None, config=None) -> None:
    """Edit a tiny checkpoint's tokenizer.json vocabulary (``vocab(dict)``) or tokenizer_config.json (``config(dict)``)
    in place."""
    for name, edit in (("tokenizer.json", vocab), ("tokenizer_config.json", config)):
        if edit is not None:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
            edit(data["model"]["vocab"] if name == "tokenizer.json" else data)
            if name == "tokenizer.json":  # an added token the vocabulary no longer has is no token either
                data["added_tokens"] = [a for a in data["added_tokens"] if a["content"] in data["model"]["vocab"]]
            (folder / name).write_text(json.dumps(data), encoding="utf-8")


def _drop_mask(vocab) -> None:
    vocab["unused_mask"] = vocab.pop("[MASK]")  # and from the added tokens, below


def _unknown_cls(config) -> None:
    config["cls_token"] = "[NOPE]"


def _the_past_the_model(vocab) -> None:
    vocab["the"] = 500000


@pytest.mark.bad_input
@pytest.mark.parametrize("tests", ["sts_gender", "calibration", "winogender"])
@pytest.mark.parametrize("vocab, config, problem", [
    (_drop_mask, None, "names mask_token '[MASK]', which is not in its vocabulary (tokenizer.json has no such token; "
                       "transformers would append it as id {size}, which the model never learnt). Set mask_token in "
                       "tokenizer_config.json to a token of its vocabulary, or pass the tokenizer the model was "
                       "trained with."),
    (None, _unknown_cls, "names cls_token '[NOPE]', which is not in its vocabulary (tokenizer.json has no such token; "
                         "transformers would append it as id {size}, which the model never learnt). Set cls_token in "
                         "tokenizer_config.json to a token of its vocabulary, or pass the tokenizer the model was "
                         "trained with."),
    (_the_past_the_model, None, "gives the token 'the' the id 500000, but the model has only {size} token embeddings "
                                "(vocab_size in config.json), so it would index past the embedding table. Pass the "
                                "tokenizer the model was trained with, or a checkpoint whose config.json covers its "
                                "ids."),
], ids=["no-mask", "unknown-cls", "id-past-the-model"])
def test_a_tokenizer_that_does_not_fit_the_model_is_refused_before_any_model_runs(tiny_checkpoint, shared_data,
                                                                                    small_stsb, tmp_path, capsys,
                                                                                    no_inference, tests, vocab, config,
                                                                                    problem):
    """Each failed as `IndexError: index out of range in self` inside the embedding, after the models before it ran."""
    good, bad = tiny_checkpoint("mlm", name="good"), tiny_checkpoint("mlm", name="unfit")
    size = json.loads((bad / "config.json").read_text())["vocab_size"]
    _edit_tokenizer(bad, vocab=vocab, config=config)
    message = _fails(["evaluate", str(good), str(bad), "--tests", tests, "--stsb", str(small_stsb),
                      "--winogender", str(shared_data / "winogender" / "data")], tmp_path, capsys)
    assert message == f"The tokenizer of {bad} " + problem.format(size=size)


def _she_is_he(vocab) -> None:
    vocab["she"] = vocab["he"]


@pytest.mark.bad_input
@pytest.mark.parametrize("tests, words, what", [("calibration", "'she' and 'he'", "calibration"),
                                                ("winogender", "'She' and 'He'", "the mlm_probe resolver")])
def test_a_tokenizer_with_one_id_for_she_and_he_is_refused_before_any_model_runs(tiny_checkpoint, shared_data,
                                                                                  tmp_path, capsys, no_inference,
                                                                                  tests, words, what):
    """winogender scored bias_r -0.202 from a probe that compared 'She' with itself."""
    good, bad = tiny_checkpoint("mlm", name="good"), tiny_checkpoint("mlm", name="dupid")
    _edit_tokenizer(bad, vocab=_she_is_he)
    he = json.loads((bad / "tokenizer.json").read_text())["model"]["vocab"]["he"]
    message = _fails(["evaluate", str(good), str(bad), "--tests", tests,
                      "--winogender", str(shared_data / "winogender" / "data")], tmp_path, capsys)
    assert message == (f"The tokenizer of {bad} encodes {words} as the same token id(s) "
                       f"[{he}], so {what} would compare a word with itself and measure nothing. Pass a checkpoint "
                       "whose tokenizer tells these words apart.")


@pytest.mark.bad_input
@pytest.mark.parametrize("character", ["\n", "\t"])
def test_a_model_folder_with_a_newline_or_tab_is_refused(tiny_checkpoint, tmp_path, capsys, no_inference, character):
    """run_info.tsv could not hold it: a _csv.Error after every model had run."""
    folder = tiny_checkpoint("mlm", name=f"new{character}line")
    message = _fails(["evaluate", str(folder), "--tests", "calibration"], tmp_path, capsys)
    assert message == (f"Model {str(folder)!r} has a newline or tab in it, which the tab-separated tables the toolkit "
                       "writes (run_info.tsv, a sweep's tables) cannot hold. Rename it, or choose another path.")


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["-1", "x", "2147483648"])
def test_a_negative_or_non_integer_seed_is_refused_by_the_parser(checkpoints, tmp_path, capsys, value):
    """--seed -1 failed with numpy's ValueError after every model had run."""
    for command in (["evaluate", str(checkpoints["mlm"]), "--tests", "calibration"],
                    ["score", "--predictions", str(tmp_path)]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--seed", value, "--out", str(tmp_path / "o")])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.endswith(
            f"error: argument --seed: --seed must be a non-negative integer (at most 2147483647), got {value!r}.\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.bad_input
def test_a_split_of_a_single_stsb_file_is_refused(checkpoints, small_stsb, tmp_path, capsys):
    """The split was ignored, but summary.json said "dev"."""
    message = _fails(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb", str(small_stsb),
                      "--stsb-split", "dev"], tmp_path, capsys)
    assert message == (f"--stsb-split dev picks a split of a folder or Hub dataset, but --stsb {small_stsb} is "
                       "one file, which is read whole. Leave out --stsb-split, or pass the folder that holds the "
                       "splits.")


def test_the_recorded_split_is_the_one_read(evaluated, shared_data, checkpoints, tmp_path):
    """A single file records no split (it is read whole); a folder records the split read, the default included."""
    assert json.loads((evaluated / "summary.json").read_text())["settings"]["splits"] == {
        "sts_gender": None, "winogender": None}
    out = tmp_path / "folder"
    assert main(["evaluate", str(checkpoints["bi"]), "--tests", "sts_gender", "--stsb",
                 str(shared_data / "stsbenchmark"), "--n-boot", "20", "--out", str(out), *FAST]) == 0
    assert json.loads((out / "summary.json").read_text())["settings"]["splits"] == {"sts_gender": "test"}


@pytest.mark.bad_input
@pytest.mark.parametrize("tests", ["", ",,", " , "])
def test_an_empty_test_list_is_refused(checkpoints, tmp_path, capsys, tests):
    """It wrote an empty summary.json and said "wrote ... predictions/" with exit 0."""
    message = _fails(["evaluate", str(checkpoints["mlm"]), "--tests", tests], tmp_path, capsys)
    assert message == (f"--tests {tests!r} names no stress test. Pass one or more, comma-separated, of: calibration, "
                       "sts_gender, winogender.")


@pytest.mark.bad_input
def test_a_seed_pattern_that_misses_a_model_is_refused(checkpoints, tmp_path, capsys, no_inference):
    message = _fails(["evaluate", str(checkpoints["mlm"]), "--tests", "calibration", "--seed-pattern",
                      r"zzz_(?P<pretrain_seed>\d+)"], tmp_path, capsys)
    assert message == (r"--seed-pattern 'zzz_(?P<pretrain_seed>\\d+)' gives no integer seed for model "
                       f"{checkpoints['mlm']} (it does not match). Fix the pattern, or leave out --seed-pattern when "
                       "the model names hold no seeds.")



@pytest.mark.bad_input
def test_intervals_from_a_handful_of_resamples_are_called_what_they_are(evaluated, tmp_path, caplog):
    """--n-boot 1 wrote a "95% CI" of one draw ([-0.041, -0.041] around an estimate of +0.004) without a word."""
    assert main(["score", "--predictions", str(evaluated), "--out", str(tmp_path / "o"), "--n-boot", "1"]) == 0
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "intervals from 1 bootstrap resamples are not 95% intervals (their ends rest on a handful of draws); use at "
        "least 200 (--n-boot, default 1000) for intervals to report."]
