"""Done 1: a real pretrained BERT (all-MiniLM-L6-v2, bi-encoder) on the real STS-B test split shows a clearly positive
pearson_bls. Slow (a few minutes on 2 busy CPU cores): run with `python -m pytest -m slow`."""

from __future__ import annotations

import json

import pytest

from nlp_underspec.cli import main


@pytest.mark.slow
def test_minilm_sts_gender_is_clearly_positive(minilm_path, shared_data, tmp_path):
    import torch

    threads = torch.get_num_threads()
    out = tmp_path / "out"
    try:
        assert main(["evaluate", str(minilm_path), "--tests", "sts_gender", "--stsb", str(shared_data / "stsbenchmark"),
                     "--out", str(out), "--no-progress", "--threads", "1", "--batch-size", "128"]) == 0
    finally:
        torch.set_num_threads(threads)
    sts = json.loads((out / "summary.json").read_text())["models"][0]["tests"]["sts_gender"]
    assert sts["scorer"] == "bi" and sts["n_occupations"] == 60 and sts["n_templates"] == 271
    assert sts["pearson_bls"] > 0.3 and sts["ci95"][0] > 0.1
