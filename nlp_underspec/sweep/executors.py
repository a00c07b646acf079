"""Executors: where each run's process runs. Scheduling (what runs when) is the same for all; see :mod:`.scheduler`.

- :class:`LocalExecutor` starts each run as a child process on this machine (``python -m nlp_underspec ...``, or
  ``accelerate launch --config_file ...`` when the recipe names an accelerate config, so a multi-GPU config works
  unchanged). Children die with the sweep (``PR_SET_PDEATHSIG`` on Linux), so a killed sweep never leaves a run writing
  into a folder that the next sweep resumes.
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


def run_command(argv: list[str], *, accelerate_config: str | None = None) -> list[str]:
    """The full command line of one run: a fresh Python process running the nlp-underspec CLI."""
    if accelerate_config:
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config,
                "-m", "nlp_underspec", *argv]
    return [sys.executable, "-m", "nlp_underspec", *argv]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
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

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen] = []

    def start(self, command, *, log_path, cwd, threads, cpus=1.0, gpus=0.0):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=_child_env(threads),
                                       preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self._processes.append(process)
        return process

    def poll(self, handle: subprocess.Popen) -> int | None:
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
