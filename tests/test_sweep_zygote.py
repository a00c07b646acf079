"""The local executor's run template (nlp_underspec.sweep.zygote): a run forked from it is the same run as a fresh
``python -m nlp_underspec`` (bit-identical weights, log on fds 1 and 2, cwd, exit codes), the template never started a
thread pool, it fails with one error when it cannot import, and nothing outlives the sweep (closed, or SIGKILLed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nlp_underspec.errors import UsageError
from nlp_underspec.records import read_run_record
from nlp_underspec.sweep import executors, zygote
from nlp_underspec.sweep.executors import LocalExecutor, run_command

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the run template needs Linux")

TEXTS = [f"the {job} told the {other} that {pronoun} would help soon ."
         for job in ("nurse", "carpenter", "doctor", "teacher") for other in ("client", "patient")
         for pronoun in ("he", "she", "they")]

RECIPE = """\
name: zygote-test
threads: 1
pretrain:
  corpus: {corpus}
  vocab_size: 100
  max_seq_length: 32
  batch_size: 8
  max_steps: {steps}
  lr: 1e-3
  warmup_steps: 2
  save_state_every: 5
  log_every: 5
  checkpoint_steps: []
  model: {{hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32,
          max_position_embeddings: 32}}
"""


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_until(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zygote")
    (root / "corpus.txt").write_text("\n".join(TEXTS) + "\n")
    (root / "tiny.yaml").write_text(RECIPE.format(corpus=root / "corpus.txt", steps=20))
    (root / "long.yaml").write_text(RECIPE.format(corpus=root / "corpus.txt", steps=100000))
    return root


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    # Fixed once: LocalExecutor keys its templates by environment, and pytest changes PYTEST_CURRENT_TEST per test.
    # OMP_NUM_THREADS=1 so that no BLAS pool starts at import either.
    return {**executors._child_env(1), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def template(workspace, environment):
    """One template for the module's tests (starting one costs a few CPU-seconds of imports)."""
    shared = zygote.Zygote(env=environment, cwd=workspace)
    yield shared
    shared.close()


def _start(template: zygote.Zygote, environment: dict, workspace: Path, *argv: str, out: Path) -> zygote.ForkedRun:
    out.mkdir(parents=True, exist_ok=True)
    return template.start(list(argv), log_path=out / "log.txt", cwd=workspace, env=environment)


def test_run_through_the_executor_is_bit_identical_to_a_fresh_process(workspace, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    fresh, forked = workspace / "fresh", workspace / "forked"
    argv = ["pretrain", "tiny.yaml", "--pretrain-seed", "0", "--out"]
    subprocess.run(run_command(argv + [str(fresh)]), cwd=workspace, env=executors._child_env(1), check=True,
                   capture_output=True)
    local = LocalExecutor(start="fork")
    try:
        run = local.start(run_command(argv + [str(forked)]), log_path=forked / "log.txt", cwd=workspace, threads=1)
        assert isinstance(run, zygote.ForkedRun)
        assert local.poll(run) is None or local.poll(run) == 0
        assert run.wait(timeout=120) == 0
    finally:
        local.close()
    assert (forked / "model.safetensors").read_bytes() == (fresh / "model.safetensors").read_bytes()
    assert read_run_record(forked)["torch_threads"] == 1
    log = (forked / "log.txt").read_text()
    assert "p00: complete in" in log  # the CLI's stdout
    assert "pretrain p00: step 20/20" in log  # its logging, on stderr


SYNTHETIC_RECIPE = """\
name: zygote-synthetic
threads: 1
world: {n_corpus_sentences: 300, n_sts_pairs: 40, n_coref_examples: 40}
pretrain:
  corpus: synthetic
  max_seq_length: 48
  pack: false
  curriculum_steps: 5
  batch_size: 8
  max_steps: 12
  lr: 1e-3
  warmup_steps: 2
  save_state_every: 50
  log_every: 6
  checkpoint_steps: []
  model: {hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32,
          max_position_embeddings: 48}
"""


def test_a_warmed_template_gives_the_runs_of_a_fresh_process(workspace, monkeypatch):
    """The template computes the synthetic world and its tokenized corpus once (prepare); the runs forked after are
    bit-identical to fresh processes, which compute both themselves."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    (workspace / "synthetic.yaml").write_text(SYNTHETIC_RECIPE)
    local = LocalExecutor(start="fork")
    try:
        local.prepare(workspace / "synthetic.yaml", cwd=workspace, threads=1)
        for seed in (0, 1):
            fresh, forked = workspace / f"fresh-syn-{seed}", workspace / f"forked-syn-{seed}"
            argv = ["pretrain", "synthetic.yaml", "--pretrain-seed", str(seed), "--out"]
            subprocess.run(run_command(argv + [str(fresh)]), cwd=workspace, env=executors._child_env(1), check=True,
                           capture_output=True)
            run = local.start(run_command(argv + [str(forked)]), log_path=forked / "log.txt", cwd=workspace,
                              threads=1)
            assert run.wait(timeout=120) == 0
            assert (forked / "model.safetensors").read_bytes() == (fresh / "model.safetensors").read_bytes()
            assert (forked / "tokenizer.json").read_bytes() == (fresh / "tokenizer.json").read_bytes()
            assert "Trained a WordPiece vocabulary" not in (forked / "log.txt").read_text()  # the template's work
    finally:
        local.close()


def test_template_has_started_no_thread_pool(template, environment, workspace):
    out = workspace / "p1"
    run = _start(template, environment, workspace, "pretrain", "tiny.yaml", "--pretrain-seed", "1", "--out", str(out),
                 out=out)
    tasks = Path(f"/proc/{template.pid}/task")
    # Only its main thread, and jemalloc's (pyarrow's allocator starts it at import; it is fork-safe).
    names = sorted((task / "comm").read_text().strip() for task in tasks.iterdir() if int(task.name) != template.pid)
    assert set(names) <= {"jemalloc_bg_thd"}, names
    assert run.wait(timeout=120) == 0


def test_run_gets_its_log_on_fds_1_and_2_and_its_cwd(template, environment, workspace):
    out = workspace / "long"
    run = _start(template, environment, workspace, "pretrain", "long.yaml", "--pretrain-seed", "0", "--out", str(out),
                 out=out)
    try:
        fd = Path(f"/proc/{run.pid}/fd")
        assert _wait_until(lambda: os.readlink(fd / "1") == str(out / "log.txt"))
        assert os.readlink(fd / "2") == str(out / "log.txt")
        assert os.readlink(fd / "0") == os.devnull
        assert os.readlink(f"/proc/{run.pid}/cwd") == str(workspace)
        assert _wait_until(lambda: (out / "state").is_dir(), 120)
        assert run.poll() is None
        run.terminate()
        assert run.wait(timeout=30) == -signal.SIGTERM
        assert not _alive(run.pid)
    finally:
        run.kill()


def test_exit_codes_are_the_clis(template, environment, workspace):
    out = workspace / "bad"
    missing = _start(template, environment, workspace, "pretrain", "no-such.yaml", "--pretrain-seed", "0",
                     "--out", str(out), out=out)
    assert missing.wait(timeout=60) == 2
    assert "error: Recipe no-such.yaml does not exist" in (out / "log.txt").read_text()
    bad_flag = _start(template, environment, workspace, "pretrain", "--no-such-flag", out=out)
    assert bad_flag.wait(timeout=60) == 2
    assert "error: the following arguments are required" in (out / "log.txt").read_text()


def test_cancel_all_and_close_leave_no_process(workspace, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    local = LocalExecutor(start="fork")
    runs = [local.start(run_command(["pretrain", "long.yaml", "--pretrain-seed", str(seed), "--out", str(out)]),
                        log_path=out / "log.txt", cwd=workspace, threads=1)
            for seed, out in ((4, workspace / "cancelled"), (5, workspace / "closed"))]
    template = next(iter(local._templates.values()))
    local.cancel_all()
    assert [local.poll(run) for run in runs] == [-signal.SIGTERM] * 2
    out = workspace / "closed-running"
    runs.append(local.start(run_command(["pretrain", "long.yaml", "--pretrain-seed", "6", "--out", str(out)]),
                            log_path=out / "log.txt", cwd=workspace, threads=1))
    local.close()  # with a run still going: the template terminates it, reports its exit, and exits
    assert runs[-1].poll() == -signal.SIGTERM
    assert not _alive(template.pid) and not any(_alive(run.pid) for run in runs)


def test_sigkilled_sweep_takes_template_and_runs_with_it(workspace):
    """The sweep alone is killed (not its process group): the template and the run must die too."""
    sweep = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from nlp_underspec.sweep.executors import LocalExecutor, run_command
        local = LocalExecutor(start="fork")
        out = Path({str(workspace / "orphan")!r})
        run = local.start(run_command(["pretrain", "long.yaml", "--pretrain-seed", "3", "--out", str(out)]),
                          log_path=out / "log.txt", cwd=Path.cwd(), threads=1)
        template = next(iter(local._templates.values()))
        print(template.pid, run.pid, flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", sweep], cwd=workspace, stdout=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    template_pid, run_pid = map(int, process.stdout.readline().split())
    assert _alive(template_pid) and _alive(run_pid)
    process.kill()
    process.wait()
    assert _wait_until(lambda: not _alive(template_pid) and not _alive(run_pid), 10)


@pytest.mark.bad_input
def test_template_that_cannot_import_fails_with_one_error(tmp_path, monkeypatch):
    broken = tmp_path / "site" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this torch is broken')\n")
    monkeypatch.setenv("PYTHONPATH", f"{broken.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    local = LocalExecutor(start="fork")
    with pytest.raises(UsageError) as err:
        local.start(run_command(["pretrain", "tiny.yaml"]), log_path=tmp_path / "log.txt", cwd=tmp_path, threads=1)
    assert str(err.value) == zygote.TEMPLATE_FAILED.format(error="ImportError: this torch is broken")
    assert not local._templates  # the template that failed has exited and is not kept
    local.close()


@pytest.mark.bad_input
def test_start_method(monkeypatch):
    monkeypatch.delenv(executors.START_ENV, raising=False)
    assert executors.start_method() == "fork"
    monkeypatch.setenv(executors.START_ENV, "subprocess")
    assert executors.start_method() == "subprocess"
    monkeypatch.setenv(executors.START_ENV, "zygote")
    with pytest.raises(UsageError, match="is not a start method"):
        executors.start_method()
    # Only a plain `python -m nlp_underspec ...` is forked; `accelerate launch` stays a subprocess.
    assert executors._cli_arguments(run_command(["pretrain", "r.yaml"])) == ["pretrain", "r.yaml"]
    assert executors._cli_arguments(run_command(["pretrain", "r.yaml"], accelerate_config="a.yaml")) is None


def test_subprocess_start_method_starts_a_fresh_process(workspace, monkeypatch):
    monkeypatch.setenv(executors.START_ENV, "subprocess")
    local = LocalExecutor()
    out = workspace / "sub"
    run = local.start(run_command(["pretrain", "no-such.yaml"]), log_path=out / "log.txt", cwd=workspace, threads=1)
    assert isinstance(run, subprocess.Popen) and not local._templates
    assert run.wait(timeout=60) == 2
    local.close()
