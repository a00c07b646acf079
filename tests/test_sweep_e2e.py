"""The sweep end to end on a reduced grid (2 pretraining seeds × 2 fine-tuning seeds × 2 tasks, tiny everything).

- an uninterrupted run produces the whole family's results, and a second run has nothing to do;
- the kill test: SIGKILL the whole `run` (its process group) during pretraining, during fine-tuning and during
  evaluation, run again, and get a scores.parquet identical to the uninterrupted one;
- the Ray executor, on a local Ray with 2 CPUs, gives the same scores.parquet as the local executor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nlp_underspec.cli import main
from nlp_underspec.results import read_scores, read_summary

REDUCED = {
    "name": "reduced",
    "threads": 1,
    "seeds": {"pretrain": [0, 1], "finetune": [0, 1]},
    "world": {"n_corpus_sentences": 2000, "n_sts_pairs": 200, "n_coref_examples": 200, "n_sts_templates": 6},
    "pretrain": {"vocab_size": 400, "max_seq_length": 48, "batch_size": 16, "lr": 1.0e-3, "warmup_steps": 5,
                 "max_steps": 40, "save_state_every": 5, "log_every": 5,
                 "model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                           "intermediate_size": 64, "max_position_embeddings": 64}},
    "finetune": {"tasks": {task: {"max_steps": 12, "batch_size": 16, "lr": 1.0e-3, "save_state_every": 3,
                                  "max_seq_length": 64}
                           for task in ("stsb", "coref")}},
    "evaluate": {"tests": ["sts_gender", "winogender"], "n_boot": 50, "batch_size": 128},
    "sweep": {"jobs": 2},
}


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "reduced.yaml"
    path.write_text(yaml.safe_dump(REDUCED))
    return path


@pytest.fixture(scope="module")
def reference(recipe_path, tmp_path_factory) -> Path:
    """The uninterrupted run every other run is compared with."""
    out = tmp_path_factory.mktemp("reference") / "exp"
    assert main(["run", str(recipe_path), "--out", str(out)]) == 0
    return out


def _scores(out: Path) -> pd.DataFrame:
    return read_scores(out).sort_values(["model", "test", "metric", "occupation"], na_position="first") \
        .reset_index(drop=True)


def test_uninterrupted_run_produces_the_family(reference, recipe_path, capsys):
    summary = read_summary(reference)
    pairs = [m for m in summary["models"] if m.get("kind") == "finetuned"]
    assert sorted(m["model"] for m in pairs) == ["p00-f00", "p00-f01", "p01-f00", "p01-f01"]
    for entry in pairs:
        assert set(entry["tests"]) == {"sts_gender", "winogender"}
        assert entry["tests"]["winogender"]["resolver"] == "coref_head"
        assert entry["tests"]["sts_gender"]["scorer"] == "cross"
        assert set(entry["iid"]) == {"stsb", "coref"}
    pretrained = [m for m in summary["models"] if m.get("kind") == "pretrained"]
    assert sorted(m["model"] for m in pretrained) == ["p00", "p01"]
    assert all(m["tests"]["winogender"]["resolver"] == "mlm_probe" for m in pretrained)
    scores = read_scores(reference)
    assert {"sts_gender", "winogender", "stsb", "coref"} <= set(scores["test"])
    for name in ("manifest.json", "recipe.yaml", "analysis.json", "report/index.html", "cards/family/README.md",
                 "predictions/sts_gender/preds.npy", "predictions/winogender/preds.npy",
                 "pretrained/predictions/winogender/preds.npy"):
        assert (reference / name).exists(), name
    assert (reference / "pretrain/p01/log.txt").read_text().count("=== ") == 1

    capsys.readouterr()
    assert main(["run", str(recipe_path), "--out", str(reference)]) == 0
    assert "Nothing to do: all 10 runs are complete" in capsys.readouterr().out


def _state_exists(out: Path, pattern: str) -> bool:
    return any(out.glob(pattern))


KILL_POINTS = {
    # while pretraining: a pretraining run has saved state but is not finished
    "pretraining": lambda out: _state_exists(out, "pretrain/p0*/state/progress.json"),
    # while fine-tuning: a fine-tuning run has saved state
    "fine-tuning": lambda out: _state_exists(out, "finetune/*/*/state/progress.json"),
    # while evaluating: the stress sets are written, the results are not
    "evaluation": lambda out: (out / "world").is_dir() and not (out / "summary.json").exists(),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_run_resumes_to_identical_scores(point, recipe_path, reference, tmp_path):
    out = tmp_path / "exp"
    log = open(tmp_path / "first.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "nlp_underspec", "run", str(recipe_path), "--out", str(out)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    while not KILL_POINTS[point](out):
        assert process.poll() is None, f"run ended before reaching the kill point: {(tmp_path / 'first.log').read_text()}"
        assert time.monotonic() < deadline, "kill point not reached in 10 minutes"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole run: the sweep and every run it started
    process.wait()
    log.close()
    assert not (out / "summary.json").exists()

    assert main(["run", str(recipe_path), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(_scores(out), _scores(reference))
    if point != "evaluation":
        logs = "".join(p.read_text() for p in out.glob("*/**/log.txt"))
        assert "Resuming" in logs  # at least one run continued from its saved state rather than starting over


@pytest.mark.ray
def test_ray_executor_matches_local(recipe_path, reference, tmp_path):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")  # CI installs it (.ci/test)
    out = tmp_path / "exp"
    assert main(["run", str(recipe_path), "--out", str(out), "--executor", "ray"]) == 0
    pd.testing.assert_frame_equal(_scores(out), _scores(reference))
