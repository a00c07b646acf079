"""Plugins that fail to import or take a built-in's name, --data for a test that does not run, a key written twice
in a recipe, empty path options: each is one error (exit 2) that says what to fix, never a traceback or a silent
default."""

from __future__ import annotations

import textwrap

import pytest

from nlp_underspec import cli
from nlp_underspec.config import load_recipe
from nlp_underspec.errors import UsageError
from nlp_underspec.stress import get_stress_test, load_plugin
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from cli_errors import cli_fails  # noqa: E402

VALID_PLUGIN_HEAD = "from nlp_underspec.stress import StressTest, register_stress_test\n"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Factory: write ``<name>.py`` with ``source`` on sys.path; return its module name and file."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str):
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return name, path

    return write


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        call(*args, **kwargs)
    return str(err.value)


_fails = cli_fails  # the shared form (tests/cli_errors.py)


# ---------------------------------------------------------------------------------------------- plugins


@pytest.mark.bad_input
def test_plugin_that_raises_while_imported(plugin):
    module, path = plugin("raising_plugin", """\
        import os

        THRESHOLD = float(os.environ.get("NO_SUCH_VARIABLE", "high"))
        """)
    assert _error(load_plugin, module) == (
        f"Plugin module 'raising_plugin' failed while it was imported: ValueError: could not convert string to float: "
        f"'high' ({path}, line 3). Fix the plugin, or leave out --plugin raising_plugin.")


@pytest.mark.bad_input
def test_plugin_that_imports_a_missing_package(plugin):
    module, path = plugin("needy_plugin", "import not_installed_anywhere\n")
    assert _error(load_plugin, module) == (
        f"Plugin module 'needy_plugin' failed while it was imported: ModuleNotFoundError: No module named "
        f"'not_installed_anywhere' ({path}, line 1). Fix the plugin, or leave out --plugin needy_plugin.")


@pytest.mark.bad_input
def test_plugin_with_a_syntax_error(plugin, capsys, tmp_path):
    module, path = plugin("broken_plugin", VALID_PLUGIN_HEAD + "def build_items(self:\n    pass\n")
    assert _fails(["score", "--plugin", module, "--predictions", tmp_path, "--out", tmp_path / "o"], capsys) == (
        f"Plugin module 'broken_plugin' has a syntax error: {path}, line 2: '(' was never closed. Fix the plugin's "
        "code.")


@pytest.mark.bad_input
def test_plugin_that_takes_a_builtin_name(plugin, capsys, tmp_path):
    module, _ = plugin("impostor_plugin", VALID_PLUGIN_HEAD + textwrap.dedent("""\

        @register_stress_test
        class Winogender(StressTest):  # the built-in's class name too: still not the built-in
            name = "winogender"
        """))
    message = _fails(["score", "--plugin", module, "--predictions", tmp_path, "--out", tmp_path / "o"], capsys)
    assert message == ("Stress test name 'winogender' is already registered by "
                       "nlp_underspec.stress.winogender.Winogender, so impostor_plugin.Winogender cannot take it. Give "
                       "impostor_plugin.Winogender another name (its class attribute 'name').")
    assert type(get_stress_test("winogender")).__module__ == "nlp_underspec.stress.winogender"


# ---------------------------------------------------------------------------------------------- --data


@pytest.fixture
def mlm(tiny_checkpoint):
    return tiny_checkpoint("mlm")


@pytest.mark.bad_input
def test_data_for_an_unknown_test(mlm, tmp_path, capsys):
    message = _fails(["evaluate", mlm, "--tests", "calibration", "--data", "calibraton=planted.tsv",
                      "--out", tmp_path / "o"], capsys)
    assert message == ("--data 'calibraton=planted.tsv': Unknown stress test 'calibraton'. Did you mean 'calibration'? "
                       "Available: calibration, sts_gender, winogender.")
    assert not (tmp_path / "o").exists()


@pytest.mark.bad_input
def test_data_for_a_test_that_does_not_run(mlm, tmp_path, capsys):
    message = _fails(["evaluate", mlm, "--tests", "calibration", "--data", "winogender=wino/",
                      "--out", tmp_path / "o"], capsys)
    assert message == ("--data 'winogender=wino/' gives data to 'winogender', which is not among --tests "
                       "(calibration): it would be ignored. Add winogender to --tests, or drop that --data.")


@pytest.mark.bad_input
def test_data_twice_for_one_test(mlm, tmp_path, capsys):
    message = _fails(["evaluate", mlm, "--tests", "calibration", "--data", "calibration=a.tsv",
                      "--data", "calibration=b.tsv", "--out", tmp_path / "o"], capsys)
    assert message == "--data names 'calibration' twice (a.tsv and b.tsv). Pass one path per test."


# ---------------------------------------------------------------------------------------------- recipes


@pytest.mark.bad_input
def test_recipe_key_written_twice(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: twice\npretrain:\n  max_steps: 100\n  lr: 0.001\n  max_steps: 5\nseeds:\n"
                      "  pretrain: [0]\n", encoding="utf-8")
    expected = (f"Recipe {recipe}: key 'pretrain.max_steps' is set twice, on line 3 and line 5 (YAML would silently "
                "keep line 5). Delete one of them.")
    assert _error(load_recipe, recipe) == expected
    assert _fails(["run", recipe, "--out", tmp_path / "runs"], capsys) == expected
    assert not (tmp_path / "runs").exists()


def test_same_key_in_different_sections_and_merge_keys_are_fine(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent("""\
        name: fine
        pretrain: {max_steps: 10, checkpoint_steps: [5]}
        finetune:
          tasks:
            stsb: &task {max_steps: 10, lr: 0.001}
            coref:
              <<: *task
              max_steps: 20
        """), encoding="utf-8")
    recipe_ = load_recipe(recipe)
    assert recipe_.finetune.tasks["coref"].max_steps == 20 and recipe_.finetune.tasks["stsb"].max_steps == 10


# ---------------------------------------------------------------------------------------------- empty paths


@pytest.mark.bad_input
@pytest.mark.parametrize("argv", [["analyze", "RUNDIR", "--occupation-stats", ""],
                                  ["compare", "A", "B", "--occupation-stats", " "],
                                  ["compare", "A", "B", "--out", ""],
                                  ["score", "--predictions", "P", "--out", "O", "--occupation-stats", ""]])
def test_empty_path_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    flag = argv[argv.index("") - 1] if "" in argv else "--occupation-stats"
    assert capsys.readouterr().err.endswith(f"error: argument {flag}: {flag} needs a path, got an empty value.\n")
