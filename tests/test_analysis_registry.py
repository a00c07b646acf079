"""The analysis asks the registry for everything test-specific: the examples a metric resamples, the task whose network
a test scores, and hence which iid metrics a family sentence may set beside a stress metric."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.analysis.registered import paired_task
from nlp_underspec.analysis.scoring import example_set
from nlp_underspec.triplet import Predictions


def test_example_set_reads_a_registered_tests_examples():
    run_info = pd.DataFrame({"model": ["a", "b"], "pretrain_seed": [0, 1], "finetune_seed": [0, 0]})
    items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt"],
                          "occupation": ["nurse"] * 2, "participant": ["patient"] * 2, "answer": [0, 0],
                          "gender": ["female", "male"]})
    triplet = Predictions(run_info, items, np.array([[0.9, 0.2], [0.5, 0.6]]))
    # model a: right (0.9 > 0.5), wrong (0.2 < 0.5) -> 0.5; model b: a tie counts half, 0.6 right -> 0.75
    assert example_set(test="winogender", metric="accuracy", predictions=triplet).scores().tolist() == [0.5, 0.75]


def test_paired_task_is_the_registered_tests_own():
    assert (paired_task("winogender"), paired_task("sts_gender"), paired_task("not-a-test")) == ("coref", "stsb", None)


def _analysis(test: str) -> dict:
    return {"n_models": 9, "iid_equivalence": {"n_models": 9, "tasks": ["coref", "stsb"], "equivalent": True,
            "metrics": [{"iid": "coref/dev_accuracy", "test": "coref", "metric": "dev_accuracy", "min": 0.998,
                         "max": 1.0, "margin": 0.01, "within": True}]},
            "metrics": {f"{test}/bias_slope": {"test": test, "metric": "bias_slope", "kind": "stress",
                                               "population": "finetuned",
                                               "seed_share": {"icc": 0.62, "icc_ci95": [0.31, 0.88]}}}}


def test_family_sentence_pairs_a_stress_metric_with_its_own_networks_iid_metric():
    assert family_sentence(_analysis("winogender")) == (
        "The 9 fine-tuned coref networks are iid-equivalent (coref dev accuracy 0.998–1.000, within 0.01), yet the "
        "pretraining seed explains 62% [31%, 88%] of the spread in winogender bias_slope.")


def test_family_sentence_sets_no_stress_metric_beside_another_networks_iid_metric():
    # A test that pairs with no fine-tuning task (not registered here) is not stated beside coref's dev accuracy.
    assert family_sentence(_analysis("not-a-test")) == (
        "The 9 fine-tuned coref networks are iid-equivalent (coref dev accuracy 0.998–1.000, within 0.01).")
