"""Executors: where each run's process runs. Scheduling (what runs when) is the same for all; see :mod:`.scheduler`.

- :class:`LocalExecutor` runs each run as its own process on this machine. By default (on Linux) it forks each run
  from a run template (:mod:`.zygote`): one process that imported torch, transformers, accelerate and the training
  code once, so a run starts in milliseconds instead of paying 3-7 s of imports; the run is otherwise exactly
  ``python -m nlp_underspec ...`` (same cwd, environment, log file, exit code, and bit-identical weights, since the
  template never ran a torch op and each run pins its own thread count). When the recipe names an accelerate config,
  runs are ``accelerate launch --config_file ...`` subprocesses instead (a multi-GPU config works unchanged; a fork
  cannot launch several processes). ``NLP_UNDERSPEC_LOCAL_START=subprocess`` starts every run as a fresh
  ``python -m nlp_underspec`` subprocess (the only way on platforms without ``fork``/``PR_SET_PDEATHSIG``, and the
  way to debug a run under a profiler or with import-time environment variables that differ per run);
  ``NLP_UNDERSPEC_LOCAL_START=fork`` asks for the template explicitly. Either way runs die with the sweep
  (``PR_SET_PDEATHSIG`` on Linux: on the template and on each run), so a killed sweep never leaves a run writing into
  a folder that the next sweep resumes, and :meth:`LocalExecutor.close` leaves no process behind.
- :class:`RayExecutor` runs the same command as a Ray task with the resources the recipe asks for, on a cluster
  (``ray.init(address=...)``) or a local Ray; run folders must be on storage every node sees.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from nlp_underspec.errors import UsageError

logger = logging.getLogger(__name__)

RAY_MISSING = "The ray executor needs Ray: pip install 'nlp_underspec[ray]'."
RAY_CONNECT = "Could not connect to Ray at '{address}' ({error}). Start a cluster (`ray start --head`) or omit --ray-address."

START_ENV = "NLP_UNDERSPEC_LOCAL_START"
START_METHODS = ("fork", "subprocess")
START_UNKNOWN = f"{START_ENV}='{{value}}' is not a start method. Use one of: {', '.join(START_METHODS)}."
FORK_UNSUPPORTED = f"{START_ENV}=fork needs Linux (fork and PR_SET_PDEATHSIG); this is {{platform}}. Use subprocess."


def run_command(argv: list[str], *, accelerate_config: str | None = None) -> list[str]:
    """The full command line of one run: a fresh Python process running the nlp-underspec CLI."""
    if accelerate_config:
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config,
                "-m", "nlp_underspec", *argv]
    return [sys.executable, "-m", "nlp_underspec", *argv]


def start_method() -> str:
    """How the local executor starts runs: ``NLP_UNDERSPEC_LOCAL_START``, else ``fork`` where supported."""
    linux = sys.platform.startswith("linux")
    value = os.environ.get(START_ENV, "").strip().lower()
    if not value:
        return "fork" if linux else "subprocess"
    if value not in START_METHODS:
        raise UsageError(START_UNKNOWN.format(value=value))
    if value == "fork" and not linux:
        raise UsageError(FORK_UNSUPPORTED.format(platform=sys.platform))
    return value


def _cli_arguments(command: list[str]) -> list[str] | None:
    """The CLI arguments of a plain ``python -m nlp_underspec ...`` command (what a template can fork); else None."""
    prefix = run_command([])
    return command[len(prefix):] if command[:len(prefix)] == prefix else None


def die_with_parent() -> None:  # pragma: no cover - runs in a child, between fork and exec (or the template's fork)
    """SIGKILL this process when the thread that started it exits (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    # Runs pin torch's thread count themselves (recipe `threads`); these keep BLAS pools of the same size.
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env.setdefault("MKL_NUM_THREADS", str(threads))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


class Executor(Protocol):
    name: str

    def start(self, command: list[str], *, log_path: Path, cwd: Path, threads: int, cpus: float, gpus: float) -> Any: ...

    def poll(self, handle: Any) -> int | None: ...

    def cancel_all(self) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    name = "local"

    def __init__(self, start: str | None = None) -> None:
        self.start_method = start or start_method()
        self._processes: list = []  # subprocess.Popen or zygote.ForkedRun: the same poll/terminate/wait/kill
        self._templates: dict[tuple, object] = {}  # (cwd, environment) -> zygote.Zygote

    def start(self, command, *, log_path, cwd, threads, cpus=1.0, gpus=0.0):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = _child_env(threads)
        argv = _cli_arguments(command) if self.start_method == "fork" else None
        if argv is not None:
            process = self._template(cwd, env).start(argv, log_path=log_path, cwd=cwd, env=env)
        else:
            with open(log_path, "ab") as log:
                process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=env,
                                           preexec_fn=die_with_parent if sys.platform.startswith("linux") else None)
        self._processes.append(process)
        return process

    def prepare(self, recipe_path: Path, *, cwd: Path, threads: int) -> None:
        """Before the runs of a recipe start: the template computes what they all compute alike (its synthetic world
        and tokenized corpus, ~4 s per pretraining run otherwise). Nothing to do when runs are fresh processes."""
        if self.start_method == "fork":
            self._template(cwd, _child_env(threads)).warm(recipe_path)

    def _template(self, cwd: Path, env: dict[str, str]):
        """The template for this cwd and environment, started on first use (or again if it died). Variables read at
        import time (HF_HUB_OFFLINE, OMP_NUM_THREADS ...) are the template's, so a different environment needs its
        own template."""
        # Imported here: the template runs as `python -m nlp_underspec.sweep.zygote`, and this module is imported on
        # its way (the package imports the pipeline), so importing zygote at the top would load it twice there.
        from nlp_underspec.sweep.zygote import Zygote

        key = (str(cwd), tuple(sorted(env.items())))
        template = self._templates.pop(key, None)
        if template is not None and not template.alive:
            template.close()  # its runs are reported killed; a new template serves the next ones
            template = None
        self._templates[key] = template or Zygote(env=env, cwd=cwd)
        return self._templates[key]

    def poll(self, handle) -> int | None:
        return handle.poll()

    def cancel_all(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def close(self) -> None:
        self._processes.clear()
        for template in self._templates.values():
            template.close()
        self._templates.clear()


def _ray_run(command: list[str], log_path: str, cwd: str, threads: int) -> int:
    """Body of the Ray task: the same child process the local executor starts, on whichever node Ray picked."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.call(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=_child_env(threads))


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError(RAY_MISSING) from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, include_dashboard=False)
                else:
                    ray.init(num_cpus=num_cpus, log_to_driver=False, include_dashboard=False)
            except ConnectionError as err:
                raise UsageError(RAY_CONNECT.format(address=address, error=err)) from None
        self._task = ray.remote(max_retries=0)(_ray_run)
        self._refs: list[Any] = []

    def start(self, command, *, log_path, cwd, threads, cpus=1.0, gpus=0.0):
        # The driver's interpreter path is used on workers: clusters run the same environment image everywhere.
        ref = self._task.options(num_cpus=cpus, num_gpus=gpus).remote(command, str(log_path), str(cwd), threads)
        self._refs.append(ref)
        return ref

    def poll(self, handle) -> int | None:
        ready, _ = self._ray.wait([handle], timeout=0)
        if not ready:
            return None
        try:
            return int(self._ray.get(handle))
        except Exception as err:  # a worker died or the task could not be scheduled
            logger.error("Ray task failed: %s", err)
            return 1

    def cancel_all(self) -> None:
        for ref in self._refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished
                pass

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def make_executor(name: str, *, ray_address: str | None = None, jobs: int = 1) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(ray_address, num_cpus=None if ray_address else jobs)
    raise UsageError(f"Unknown executor '{name}'. Available: local, ray.")
