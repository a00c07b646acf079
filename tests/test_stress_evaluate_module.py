"""The evaluate-module wrappers load offline from the installed package and give the package's numbers; the cards'
examples run."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nlp_underspec.stress import evaluate_module_path, get_stress_test


@pytest.fixture(scope="module")
def items(shared_data):
    return {
        "winogender": get_stress_test("winogender").build_items(source=str(shared_data / "winogender" / "data")),
        "sts_gender": get_stress_test("sts_gender").build_items(source=str(shared_data / "stsbenchmark")).query(
            "template_id < 5"),
    }


@pytest.mark.parametrize("name", ["sts_gender", "winogender"])
def test_evaluate_load_gives_the_same_numbers(name, items, monkeypatch, tmp_path):
    import evaluate  # a test extra (pyproject [test]); missing it is a failure, not a skip
    test = get_stress_test(name)
    label_info = items[name]
    preds = np.random.default_rng(3).uniform(size=len(label_info))
    module = evaluate.load(evaluate_module_path(name))
    got = module.compute(predictions=preds, **{c: label_info[c].tolist() for c in test.schema}, n_boot=200, seed=1)
    expected = test.score(preds=preds, label_info=label_info, n_boot=200, seed=1)
    for key, value in expected.summary.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-12), key
        else:
            assert got[key] == value, key
    assert got["per_occupation"] == pytest.approx(expected.per_occupation.to_dict(), abs=1e-12)
    assert module.description == test.description


@pytest.mark.parametrize("name", ["sts_gender", "winogender"])
def test_card_examples_run(name):
    card = get_stress_test(name).card_path().read_text(encoding="utf-8")
    examples = card.split("## Examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", examples, flags=re.DOTALL)
    assert blocks, "the card's Examples section has a python block"
    for block in blocks:
        exec(compile(block, f"{name}/README.md", "exec"), {})  # its asserts are the check
