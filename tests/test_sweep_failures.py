"""Failure handling of the sweep: a failing run is recorded in its folder, its dependants are blocked, the command
exits non-zero listing them, and the next `run` retries only those."""

from __future__ import annotations

import json

import yaml

from nlp_underspec.cli import main
from nlp_underspec.records import read_run_record


def _write_recipe(path, corpus):
    recipe = {
        "name": "broken",
        "threads": 1,
        "seeds": {"pretrain": [0], "finetune": [0, 1]},
        "pretrain": {"corpus": str(corpus), "max_steps": 2, "batch_size": 4, "vocab_size": 200,
                     "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "max_position_embeddings": 32},
                     "max_seq_length": 32},
        "finetune": {"tasks": {"stsb": {"max_steps": 1}}},
        "evaluate": {"tests": ["sts_gender"]},
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_failed_run_is_recorded_and_dependants_blocked(tmp_path, capsys):
    corpus = tmp_path / "no-such-corpus.txt"
    recipe = _write_recipe(tmp_path / "broken.yaml", corpus)
    out = tmp_path / "exp"
    assert main(["run", str(recipe), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 run(s) failed, 2 blocked; `nlp-underspec run` again retries them:" in printed
    assert (f"FAILED  pretrain/p00: exit code 2: error: Corpus path {corpus} does not exist" in printed
            and f"(log: {out}/pretrain/p00/log.txt)" in printed)
    assert "BLOCKED finetune/stsb/p00-f00: waits for pretrain/p00" in printed
    record = read_run_record(out / "pretrain/p00")
    assert record["status"] == "failed" and "no-such-corpus.txt" in record["error"]
    assert "no-such-corpus.txt" in (out / "pretrain/p00/log.txt").read_text()
    assert not (out / "finetune").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {run["key"]: run["status"] for run in manifest["runs"]}["pretrain/p00"] == "failed"

    # The next run retries the failed run (and fails again the same way), nothing else is touched.
    assert main(["run", str(recipe), "--out", str(out)]) == 1
    assert "1 run(s) failed" in capsys.readouterr().out
    assert (out / "pretrain/p00/log.txt").read_text().count("=== ") == 2


def test_status_lists_failed_runs(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "broken.yaml", tmp_path / "missing.txt")
    out = tmp_path / "exp"
    main(["run", str(recipe), "--out", str(out)])
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("broken: 3 runs · 1 failed · 2 pending\n")
    assert "  failed    pretrain/p00  exit code 2: error: Corpus path" in printed
    assert "  pending   finetune/stsb/p00-f01" in printed
    assert printed.rstrip().endswith("results: none yet")


def test_status_of_a_folder_that_is_no_experiment(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path} is not an experiment folder (no manifest.json). Start one "
                                       f"with `nlp-underspec run RECIPE --out {tmp_path}`.\n")


def test_fixing_the_recipe_retries_only_the_failed_runs(tmp_path, capsys):
    """coref points at data that does not exist: its runs fail, pretraining and stsb complete. Pointing coref at the
    synthetic world and running again redoes the failed runs only (no --force-rerun needed for a failed run)."""
    recipe_path = tmp_path / "recipe.yaml"
    recipe = {
        "name": "fixable", "threads": 1, "seeds": {"pretrain": [0], "finetune": [0]},
        "world": {"n_corpus_sentences": 500, "n_sts_pairs": 100, "n_coref_examples": 100, "n_sts_templates": 4},
        "pretrain": {"max_steps": 2, "batch_size": 4, "vocab_size": 300, "max_seq_length": 48,
                     "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "max_position_embeddings": 64}},
        "finetune": {"tasks": {"stsb": {"max_steps": 1},
                               "coref": {"max_steps": 1, "data": str(tmp_path / "no-such-gap")}}},
        "evaluate": {"tests": ["sts_gender", "winogender"], "n_boot": 20},
    }
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "exp"
    assert main(["run", str(recipe_path), "--out", str(out)]) == 1
    assert "FAILED  finetune/coref/p00-f00" in capsys.readouterr().out
    finished = {key: read_run_record(out / key)["finished"] for key in ("pretrain/p00", "finetune/stsb/p00-f00")}

    recipe["finetune"]["tasks"]["coref"]["data"] = "synthetic"
    recipe_path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(recipe_path), "--out", str(out)]) == 0
    assert "3 runs planned: 2 complete, 1 to do;" in capsys.readouterr().out
    assert read_run_record(out / "finetune/coref/p00-f00")["status"] == "complete"
    assert {key: read_run_record(out / key)["finished"] for key in finished} == finished  # untouched
    assert (out / "summary.json").is_file()
