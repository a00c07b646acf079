"""Publishing a family with the real huggingface_hub client against a local test Hub (tests/hub_server.py):
repos, branches, files, the collection, idempotent re-push, resume after a failure, dry-run staging, the token
never written or logged, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_server import HubServer
from report_family import build_family

from nlp_underspec.hub import layout, tokens
from nlp_underspec.hub import plan as hub_plan
from nlp_underspec.hub import push as hub_push
from nlp_underspec.cli import main
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import load_family

# A fake token for the local test server, assembled so that secret scanners do not take the source for a real one.
TOKEN = "hf_" + "TESTtokenNeverWrittenAnywhere0123456789"
PREFIX = "test-org/tiny-bert"
REPOS = [f"{PREFIX}-seed_0", f"{PREFIX}-seed_1"] + [
    f"{PREFIX}-{task}-seed_{p}-ft_{f}" for task in ("coref", "stsb") for p in (0, 1) for f in (0, 1)]


@pytest.fixture
def family_dir(tmp_path, tiny_checkpoint):
    return build_family(tmp_path / "runs" / "tiny", tiny_checkpoint)


@pytest.fixture
def test_hub(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # CI exports HF_HUB_OFFLINE=1
    with HubServer(tokens={TOKEN}) as server:
        yield server


def _plan(root: Path, **kwargs) -> hub_plan.PushPlan:
    return hub_plan.plan_push(load_family(root), repo_prefix=PREFIX, **kwargs)


def _cli_env(tmp_path: Path, server_url: str | None, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), TOKENIZERS_PARALLELISM="false")
    if server_url:
        env["HF_ENDPOINT"] = server_url
    if token:
        env["HF_TOKEN"] = token
    return env


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlp_underspec", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_plan_follows_the_multiberts_layout(family_dir):
    plan = _plan(family_dir)
    assert plan.repos() == REPOS
    assert plan.branches() == [(f"{PREFIX}-seed_0", "step_10"), (f"{PREFIX}-seed_1", "step_10")]
    repos = _plan(family_dir, intermediates="repos")
    assert repos.branches() == [] and f"{PREFIX}-seed_1-step_10" in repos.repos()
    assert layout._step_suffix(20000) == "20k" and layout._step_suffix(500) == "500"
    skip = _plan(family_dir, intermediates="skip")
    assert skip.repos() == REPOS and skip.branches() == []


@pytest.mark.bad_input
def test_dry_run_stages_exactly_what_would_be_uploaded(family_dir, tmp_path, capsys):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    from nlp_underspec.models.span_pair_head import BertForCandidateScoring

    staging = tmp_path / "staged"
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("repos (10):\n  test-org/tiny-bert-seed_0\n")
    assert "branches (2):\n  test-org/tiny-bert-seed_0@step_10\n" in out
    assert 'collection: "tiny-bert: seed family" in test-org (10 items)' in out
    plan = json.loads((staging / hub_plan.PLAN_FILE).read_text())
    assert plan["repos"] == REPOS
    folders = {p.name for p in staging.iterdir() if p.is_dir()}
    assert folders == {r.split("/")[1] for r in REPOS} | {"tiny-bert-seed_0@step_10", "tiny-bert-seed_1@step_10"}
    loaders = {"seed": AutoModelForMaskedLM, "stsb": AutoModelForSequenceClassification, "coref": BertForCandidateScoring}
    for target in plan["targets"]:
        folder = staging / target["folder"]
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(
            target["files"])
        kind = "stsb" if "-stsb-" in target["repo_id"] else "coref" if "-coref-" in target["repo_id"] else "seed"
        loaders[kind].from_pretrained(folder)
        card = ModelCard.load(folder / "README.md")
        assert card.data.nlp_underspec["run_id"] == target["run"].split("/")[-1]
    seed0 = staging / "tiny-bert-seed_0"
    assert {"config.json", "model.safetensors", "run.json", "README.md", "FAMILY.md"} <= {p.name for p in seed0.iterdir()}
    assert "step_10" not in {p.name for p in seed0.iterdir()}  # intermediates go to their own branch
    ft_card = (staging / "tiny-bert-stsb-seed_1-ft_0" / "README.md").read_text()
    assert "base_model: test-org/tiny-bert-seed_1" in ft_card
    assert 'from_pretrained("test-org/tiny-bert-stsb-seed_1-ft_0")' in ft_card
    # the staging folder must be new or empty
    capsys.readouterr()
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 2
    assert capsys.readouterr().err == (f"error: Staging folder {staging} is not empty (push_plan.json, tiny-bert-coref-"
                                       "seed_0-ft_0, tiny-bert-coref-seed_0-ft_1, tiny-bert-coref-seed_1-ft_0). Pass a "
                                       "new or empty folder to --staging.\n")


@pytest.mark.bad_input
def test_dry_run_staging_in_the_current_folder_is_refused_and_leaves_nothing(family_dir, tmp_path, capsys,
                                                                             monkeypatch):
    from nlp_underspec.io import OUT_HOLDS_CWD

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", "."]) == 2
    assert capsys.readouterr().err == f"error: {OUT_HOLDS_CWD.format(path='.')}\n"
    assert list(here.iterdir()) == [] and not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_push_creates_repos_branches_collection_and_a_second_push_makes_no_commit(family_dir, test_hub):
    from huggingface_hub import HfApi

    plan = _plan(family_dir)
    first = hub_push.push(plan, token=TOKEN, endpoint=test_hub.url)
    assert sorted(test_hub.state.repos) == sorted(REPOS)
    assert first.new_commits == len(plan.targets) == 12
    api = HfApi(endpoint=test_hub.url, token=TOKEN)
    seed0 = f"{PREFIX}-seed_0"
    assert sorted(b.name for b in api.list_repo_refs(seed0).branches) == ["main", "step_10"]
    eval_results = [f".eval_results/winogender.{m}.yaml" for m in ("accuracy", "bias_r", "bias_slope", "mean_abs_bias")]
    assert sorted(api.list_repo_files(seed0)) == [*eval_results, ".gitattributes", "FAMILY.md", "README.md",
                                                  "config.json", "model.safetensors", "run.json", "tokenizer.json",
                                                  "tokenizer_config.json"]
    # the branch mirrors the step folder: no run record or family card inherited from main
    assert sorted(api.list_repo_files(seed0, revision="step_10")) == [".gitattributes", "README.md", "config.json",
                                                                      "model.safetensors", "tokenizer.json",
                                                                      "tokenizer_config.json"]
    weights = (family_dir / "pretrain" / "p00" / "model.safetensors").read_bytes()
    assert test_hub.files(seed0)["model.safetensors"] == weights
    collection = api.get_collection(first.collection)
    assert collection.title == "tiny-bert: seed family"
    assert [item.item_id for item in collection.items] == REPOS
    commits = {repo: test_hub.commit_count(repo) for repo in REPOS}
    second = hub_push.push(_plan(family_dir), token=TOKEN, endpoint=test_hub.url)
    assert second.new_commits == 0
    assert {repo: test_hub.commit_count(repo) for repo in REPOS} == commits
    assert [r["commit"] for r in second.results] == [r["commit"] for r in first.results]
    assert len(api.get_collection(first.collection).items) == len(REPOS)
    assert all(authenticated for method, _, authenticated in test_hub.requests if method == "POST")
    assert not list(family_dir.glob(".nlp_underspec-push-*"))  # upload folders are assembled beside, then removed


def test_pushed_checkpoints_load_with_from_pretrained(family_dir, test_hub, tmp_path, monkeypatch):
    import huggingface_hub.constants
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    hub_push.push(_plan(family_dir, intermediates="repos"), token=TOKEN, endpoint=test_hub.url)
    # HF_ENDPOINT is read when huggingface_hub is imported: point the download constants at the test Hub directly.
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", test_hub.url)
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        test_hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    step = AutoModelForMaskedLM.from_pretrained(f"{PREFIX}-seed_1-step_10", cache_dir=tmp_path / "cache")
    sts = AutoModelForSequenceClassification.from_pretrained(f"{PREFIX}-stsb-seed_1-ft_0", cache_dir=tmp_path / "cache")
    assert type(step).__name__ == "BertForMaskedLM" and sts.config.num_labels == 1
    local = AutoModelForSequenceClassification.from_pretrained(family_dir / "finetune" / "stsb" / "p01-f00")
    assert all((a == b).all() for a, b in zip(sts.state_dict().values(), local.state_dict().values()))


def test_an_interrupted_push_names_the_repo_and_resumes(family_dir, test_hub):
    plan = _plan(family_dir)
    broken = f"{PREFIX}-coref-seed_0-ft_1"
    test_hub.fail_once("POST", f"/api/models/{broken}/commit/main", 403)  # not retried by the client
    with pytest.raises(hub_push.PushError) as err:
        hub_push.push(plan, token=TOKEN, endpoint=test_hub.url)
    message = str(err.value)
    assert message.startswith(f"Push stopped at {broken} while uploading {broken} (coref/p00-f01): ")
    assert ": 403 Forbidden: Injected failure for the test. Done: 9 of 23 steps; left: uploading test-org/tiny-bert-coref-seed_0-ft_1 (coref/p00-f01); creating " \
           "test-org/tiny-bert-coref-seed_1-ft_0;" in message
    assert message.endswith("Run the same command again to resume: finished uploads are detected and make no new commit.")
    assert TOKEN not in message
    assert err.value.exit_code == 1
    done_before = {repo: test_hub.commit_count(repo) for repo in REPOS[:3]}
    outcome = hub_push.push(_plan(family_dir), token=TOKEN, endpoint=test_hub.url)
    assert {repo: test_hub.commit_count(repo) for repo in REPOS[:3]} == done_before  # finished repos: no new commit
    assert sorted(test_hub.state.repos) == sorted(REPOS)
    assert [r["changed"] for r in outcome.results].count(True) == 12 - 5  # 5 uploads had finished before the failure


@pytest.mark.bad_input
def test_cli_push_never_writes_or_logs_the_token(tmp_path, tiny_checkpoint, monkeypatch):
    root = build_family(tmp_path / "exp", tiny_checkpoint, pretrain_seeds=(0,), finetune_seeds=(0,))
    repos = [f"{PREFIX}-seed_0", f"{PREFIX}-coref-seed_0-ft_0", f"{PREFIX}-stsb-seed_0-ft_0"]
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["push", str(root), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(tmp_path / "staged")]) == 0
    with HubServer(tokens={TOKEN}) as server:
        env = _cli_env(tmp_path, server.url, TOKEN)
        pushed = _cli(["-v", "push", str(root), "--repo-prefix", PREFIX, "--private"], env)
        again = _cli(["-v", "push", str(root), "--repo-prefix", PREFIX, "--private"], env)
        commits = {repo: server.commit_count(repo) for repo in server.state.repos}
        private = {repo.private for repo in server.state.repos.values()}
        seen = [authenticated for method, _, authenticated in server.requests if method == "POST"]
    assert pushed.returncode == 0 and again.returncode == 0, pushed.stderr + again.stderr
    assert "done: 3 repos, 4 new commit(s), collection test-org/tiny-bert-seed-family-" in pushed.stdout
    assert "done: 3 repos, 0 new commit(s)" in again.stdout
    assert commits == {repos[0]: 3, repos[1]: 2, repos[2]: 2}  # initial + main (+ step_10 branch); none from `again`
    assert private == {True} and seen and all(seen)  # the token was sent with every write
    captured = "".join(r.stdout + r.stderr for r in (pushed, again))
    assert "DEBUG" in captured and TOKEN not in captured  # -v: debug logging on, still no token
    for folder in (root, tmp_path / "staged", tmp_path / "hf_home"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def _plant_token(family_dir: Path) -> list[Path]:
    """The token pasted into a config, an intermediate checkpoint's tokenizer and (as bytes) a weights file."""
    config = family_dir / "pretrain" / "p01" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "note": f"pushed with {TOKEN}"}))
    vocab = family_dir / "pretrain" / "p00" / "step_10" / "tokenizer_config.json"
    vocab.write_text(json.dumps({**json.loads(vocab.read_text()), "hub_token": TOKEN}))
    weights = family_dir / "finetune" / "stsb" / "p00-f00" / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + TOKEN.encode())
    return [config, vocab, weights]


def _token_message(plan: hub_plan.PushPlan, planted: list[Path]) -> str:
    found = [str(t.source / name) for t in plan.targets for name in hub_plan.checkpoint_files(t.source)
             if t.source / name in planted]
    assert sorted(found) == sorted(map(str, planted))  # every one of them, named where the user keeps it
    return tokens.TOKEN_IN_FILES.format(paths=", ".join(found), verb="hold", them="them")


@pytest.mark.bad_input
def test_a_token_planted_in_a_checkpoint_stops_the_push_before_any_repo_exists(family_dir, test_hub):
    planted = _plant_token(family_dir)
    plan = _plan(family_dir)
    with pytest.raises(UsageError) as err:
        hub_push.push(plan, token=TOKEN, endpoint=test_hub.url)
    assert str(err.value) == _token_message(plan, planted) and TOKEN not in str(err.value)
    assert test_hub.state.repos == {} and test_hub.requests == []  # not even a whoami: nothing was sent


@pytest.mark.bad_input
def test_a_dry_run_reports_a_planted_token_and_stages_nothing(family_dir, tmp_path, capsys, monkeypatch):
    planted = _plant_token(family_dir)
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the token a push would use
    expected = _token_message(_plan(family_dir), planted)
    staging = tmp_path / "staged"
    for extra in (["--staging", str(staging)], []):
        assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", *extra]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"error: {expected}\n" and TOKEN not in captured.out + captured.err
    assert not staging.exists() and not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))  # no token configured: nothing could leak
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 0


@pytest.mark.bad_input
def test_the_last_check_before_an_upload_names_the_users_file(family_dir, test_hub, monkeypatch):
    """A file changed after the first scan is still caught at upload time, named by its real path."""
    plan = _plan(family_dir)
    monkeypatch.setattr(hub_push, "check_no_token", lambda plan, token: None)
    config = family_dir / "pretrain" / "p00" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "note": TOKEN}))
    with pytest.raises(UsageError) as err:
        hub_push.push(plan, token=TOKEN, endpoint=test_hub.url)
    assert str(err.value) == tokens.TOKEN_IN_FILES.format(paths=str(config), verb="holds", them="it")
    assert "config.json" not in test_hub.files(f"{PREFIX}-seed_0")  # refused before its upload


@pytest.mark.bad_input
def test_a_missing_token_is_a_clear_error_before_any_work(family_dir, tmp_path):
    result = _cli(["push", str(family_dir), "--repo-prefix", PREFIX], _cli_env(tmp_path, "http://127.0.0.1:9", None))
    assert result.returncode == 2
    assert result.stderr == ("error: No Hugging Face token found: log in with `hf auth login` or set HF_TOKEN, then run "
                             "the push again (or add --dry-run --staging DIR to see what would be uploaded).\n")
    assert result.stdout == ""


@pytest.mark.bad_input
def test_an_unreachable_hub_is_one_line_and_pushes_nothing(family_dir, tmp_path):
    """Nothing listens on port 9: the connection error is one message naming the endpoint (exit 1: a push that could
    not happen, not bad input), with no traceback and the token nowhere."""
    token = "hf_unreachable_token_value_0000000"
    result = _cli(["push", str(family_dir), "--repo-prefix", PREFIX], _cli_env(tmp_path, "http://127.0.0.1:9", token))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and token not in result.stderr + result.stdout
    assert lines[-1].startswith("error: Cannot reach the Hub at http://127.0.0.1:9 (")
    assert lines[-1].endswith("Check the connection (or HF_ENDPOINT) and run the same command again.")


@pytest.mark.bad_input
def test_a_rejected_token_pushes_nothing(family_dir, test_hub, capsys):
    with pytest.raises(UsageError) as err:
        hub_push.push(_plan(family_dir), token="hf_wrong_token_value_000", endpoint=test_hub.url)
    assert str(err.value).startswith(f"The Hub at {test_hub.url} rejected the token (")
    assert str(err.value).endswith("Check it with `hf auth whoami`, or log in again with `hf auth login`; nothing was "
                                   "pushed.")
    assert "hf_wrong_token_value_000" not in str(err.value)
    assert test_hub.state.repos == {}


@pytest.mark.bad_input
@pytest.mark.parametrize("prefix, why", [
    ("tiny-bert", "it must be ORG/NAME with exactly one '/'"),
    ("org/team/tiny", "it must be ORG/NAME with exactly one '/'"),
    ("org/-tiny", "only letters, digits, '-', '_' and '.' are allowed, starting with a letter or digit"),
    ("org/tiny bert", "only letters, digits, '-', '_' and '.' are allowed, starting with a letter or digit"),
    ("org/tiny--bert", "'--' and '..' are not allowed"),
    ("org/" + "x" * 80, "NAME is too long (repo names are limited to 96 characters once the seed suffixes are added)"),
])
def test_invalid_repo_prefix_is_refused_with_exit_code_2(family_dir, prefix, why, capsys):
    assert main(["push", str(family_dir), "--repo-prefix", prefix, "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"error: Invalid --repo-prefix '{prefix}': {why}. Use ORG/NAME, e.g. "
                                       "my-org/tiny-bert (letters, digits, '-', '_' and '.'); repos are named "
                                       "NAME-seed_0, NAME-stsb-seed_0-ft_1, ...\n")


@pytest.mark.bad_input
def test_push_option_and_input_errors(family_dir, tmp_path, capsys):
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--staging", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err == "error: --staging only applies with --dry-run. Add --dry-run, or leave --staging out to push.\n"
    results_only = build_family(tmp_path / "evaluated", None, runs=False)
    assert main(["push", str(results_only), "--repo-prefix", PREFIX, "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        f"error: {results_only} has no complete run folders (pretrain/p*/ or finetune/<task>/p*-f*/) to push. Train "
        "the family with `nlp-underspec run` first, or publish an evaluated model's card with `nlp-underspec card`.\n")
    assert not (tmp_path / "s").exists()


def test_only_the_main_process_pushes(family_dir, test_hub, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    outcome = hub_push.push(_plan(family_dir), token=TOKEN, endpoint=test_hub.url)
    assert outcome.results == [] and test_hub.requests == []


def _push_fails(root: Path, tmp_path: Path, capsys) -> str:
    """A dry run refused with one line, nothing staged; the message."""
    staging = tmp_path / "staged"
    capsys.readouterr()
    assert main(["push", str(root), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 2
    assert not staging.exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err[len("error: "):-1]


@pytest.mark.bad_input
@pytest.mark.parametrize("lost, missing", [(["model.safetensors"], "model.safetensors"),
                                           (["config.json", "tokenizer.json"], "config.json, tokenizer.json")])
def test_a_complete_run_without_its_model_is_refused(family_dir, tmp_path, capsys, lost, missing):
    """A repo without model.safetensors was staged for a run whose run.json said complete."""
    folder = family_dir / "finetune" / "stsb" / "p00-f01"
    for name in lost:
        (folder / name).unlink()
    assert _push_fails(family_dir, tmp_path, capsys) == (
        f"{folder}: run.json says the run is complete, but the folder has no {missing}, so it holds no model to "
        "publish or describe. Restore the file(s), or run `nlp-underspec run` on the experiment again, which trains "
        "the run again.")


@pytest.mark.bad_input
@pytest.mark.parametrize("run_id, seeds, expected", [("p01-f00", {"pretrain_seed": 7, "finetune_seed": 5}, "p07-f05"),
                                                     ("p00-f00", {"pretrain_seed": 1, "finetune_seed": 0}, "p01-f00")])
def test_a_run_json_that_disagrees_with_its_folder_is_refused(family_dir, tmp_path, capsys, run_id, seeds, expected):
    """finetune/stsb/p01-f00 with seeds 7/5 was pushed as x-stsb-seed_7-ft_5, its card 7/5, its metrics 1/0."""
    folder = family_dir / "finetune" / "stsb" / "p01-f00"
    record = json.loads((folder / "run.json").read_text())
    record.update(run_id=run_id, seeds={**record["seeds"], **seeds})
    (folder / "run.json").write_text(json.dumps(record))
    message = (f"{folder}: run.json gives run_id {run_id!r} and seeds {seeds} (run {expected}), but the folder is "
               "named 'p01-f00': a record copied from another run, or edited. Restore the run.json this run wrote, or "
               "move the folder to the name of the run it holds.")
    if run_id == "p01-f00":
        assert _push_fails(family_dir, tmp_path, capsys) == message
    with pytest.raises(UsageError) as err:  # the one reader of run folders refuses it: push, cards and the report
        load_family(family_dir, check_runs=False)
    assert str(err.value) == message
    capsys.readouterr()
    assert main(["report", str(family_dir), "--out", str(tmp_path / "report")]) == 2
    assert capsys.readouterr().err == f"error: {message}\n" and not (tmp_path / "report").exists()


@pytest.mark.bad_input
def test_two_runs_with_the_same_weights_are_refused(family_dir, tmp_path, capsys):
    """Two seeds that are one model (a copy mistake) were pushed as two repos without a word."""
    first, copy = family_dir / "finetune" / "stsb" / "p00-f00", family_dir / "finetune" / "stsb" / "p01-f00"
    shutil.copy2(first / "model.safetensors", copy / "model.safetensors")
    assert _push_fails(family_dir, tmp_path, capsys) == (
        f"{first} and {copy} hold byte-identical weights (model.safetensors): two runs of a seed family are never the "
        "same model, so one is a copy of the other. Train the run again (delete its folder and run `nlp-underspec "
        "run` on the experiment), or restore its own weights.")


@pytest.mark.bad_input
def test_a_link_in_a_run_folder_is_never_uploaded(family_dir, tmp_path, capsys):
    """A run folder's notes.txt linking to a file outside the family was staged as a real copy (and a push would have
    uploaded the secret it pointed to)."""
    secret = tmp_path / "outside_secret.txt"
    secret.write_text("SECRET=hunter2\n")
    link = family_dir / "finetune" / "stsb" / "p00-f00" / "notes.txt"
    link.symlink_to(secret)
    assert _push_fails(family_dir, tmp_path, capsys) == (
        f"Refusing to push: {link} is a symbolic link (to {secret}), and a push would upload the file it points to, "
        "which may lie outside the family. A run folder holds its own files: replace the link with the file, or move "
        "it out of the run folder.")


@pytest.mark.bad_input
def test_weights_cut_short_are_no_model(family_dir, tmp_path, capsys):
    """A model.safetensors truncated to 1,000 bytes passed status, run ("Nothing to do") and push as complete; its
    header says how long it must be, which costs a few KB to read."""
    from nlp_underspec import records

    run = family_dir / "finetune" / "stsb" / "p00-f00"
    weights = run / "model.safetensors"
    assert records.safetensors_damage(weights) is None and records.missing_model_files(run) == []
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:
        handle.truncate(size - 10)
    damage = f"{size - 10:,} of the {size:,} bytes its header describes"
    assert records.missing_model_files(run) == [f"intact model.safetensors ({damage})"]
    assert _push_fails(family_dir, tmp_path, capsys) == (
        f"{run}: run.json says the run is complete, but the folder has no intact model.safetensors ({damage}), so it "
        "holds no model to publish or describe. Restore the file(s), or run `nlp-underspec run` on the experiment "
        "again, which trains the run again.")
    weights.write_bytes(b"\x01")
    assert records.safetensors_damage(weights) == "1 byte(s), less than the header it announces"
