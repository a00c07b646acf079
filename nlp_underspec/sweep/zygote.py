"""The run template ("zygote"): one process that imports torch, transformers, accelerate and the training code once,
then forks a run per request, so a sweep's runs start in milliseconds instead of re-importing for seconds each.

The template never runs a torch op, so it has started no intra-op thread pool (and no CUDA context); each fork
starts from that pristine state and pins its own thread count (``seeding.pin_threads``) exactly as a fresh process
does. A forked run is the CLI of ``python -m nlp_underspec ARGV``: its own process, with the run's cwd and environment,
fds 1 and 2 on its log file, fd 0 on /dev/null, and the same exit code (the CLI's; 1 on an uncaught exception;
``-N`` when killed by signal N). It ends with the interpreter's own exit steps (thread joins, atexit handlers, stdio
flush) but not the teardown of every module, which in a fork costs more than the run's imports would (see
:func:`_run_cli`); for the same reason the template freezes its objects out of the garbage collector's reach.

Lifetimes: the template dies with the sweep (``PR_SET_PDEATHSIG``, set by the executor) and every run dies with the
template (the same, set in each fork), so a killed sweep leaves nothing running. When the sweep closes the control
pipe (:meth:`Zygote.close`, or its death), the template terminates the runs still going and exits.

Protocol: JSON lines. The sweep writes requests on the template's stdin (``start``: id, argv, log, cwd, env;
``signal``: id, signal number; ``warm``: a recipe whose shared inputs, such as the synthetic world and its tokenized
corpus, the template computes once so that every run forked after inherits them); the template writes on its stdout ``ready`` (its pid) or ``error`` (a traceback) once,
then ``started`` (id, pid) and ``exited`` (id, exit code) for each run.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import NoReturn

from nlp_underspec.errors import UsageError
from nlp_underspec.sweep.executors import die_with_parent

# What a pretraining or fine-tuning run imports (measured from sys.modules at the end of a run); a run still imports
# whatever is missing here itself, only more slowly.
PRELOAD_MODULES = (
    "torch",
    "transformers",
    "accelerate",
    "scipy.stats",
    "nlp_underspec.cli",
    *(f"nlp_underspec.commands.{name}" for name in ("pretrain", "finetune")),
    "nlp_underspec.training.pretraining",
    "nlp_underspec.training.finetuning",
    *(f"nlp_underspec.models.{name}" for name in ("span_pair_head", "ranking_head", "cross_encoder_head",
                                                 "similarity_head")),
    "nlp_underspec.data.sources",
    "nlp_underspec.synthetic",
)
# transformers imports its model classes lazily, on first attribute access.
PRELOAD_TRANSFORMERS = ("BertConfig", "BertForMaskedLM", "BertForSequenceClassification", "BertTokenizerFast",
                        "PreTrainedTokenizerFast", "AutoTokenizer", "AutoModelForMaskedLM")

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
READY_TIMEOUT_S = 300  # the imports take 3-10 s on a busy 2-core machine; this only guards against a hung import
STOP_GRACE_S = 10  # what runs get after SIGTERM before SIGKILL, as LocalExecutor.cancel_all gives them

TEMPLATE_FAILED = ("The run template (one Python process that imports torch and the training code once and forks "
                   "every run from it) could not start: {error}. Fix the environment, or set "
                   "NLP_UNDERSPEC_LOCAL_START=subprocess to start each run as its own Python process.")
TEMPLATE_TIMEOUT = "its imports did not finish within {seconds} s"
CUDA_STARTED = "an import started CUDA in the template, so no run forked from it could use the GPU"
TEMPLATE_DIED = "The run template (pid {pid}) exited unexpectedly with code {code}; its runs were killed with it."

# The file a fresh `python -m nlp_underspec` runs as __main__: forked runs carry it as sys.argv[0] too.
CLI_MAIN = str(Path(__file__).resolve().parents[1] / "__main__.py")


def _send(fd: int, **message) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


# ------------------------------------------------------------------------------------------------- the template side


def _preload() -> None:
    # An import asking torch.cuda.is_available() would start the CUDA driver here, and then no fork could use the
    # GPU; torch's NVML-based check answers without starting it (its own advice for processes that fork).
    nvml_check = os.environ.get(NVML_CHECK)
    os.environ[NVML_CHECK] = "1"
    try:
        for name in PRELOAD_MODULES:
            importlib.import_module(name)
        transformers = sys.modules["transformers"]
        for name in PRELOAD_TRANSFORMERS:
            getattr(transformers, name)
    finally:
        if nvml_check is None:
            del os.environ[NVML_CHECK]
        else:
            os.environ[NVML_CHECK] = nvml_check
    if sys.modules["torch"].cuda.is_initialized():
        raise RuntimeError(CUDA_STARTED)


class _Template:
    """The template process: :meth:`serve` imports, then forks a run per request until the sweep closes the pipe."""

    def __init__(self) -> None:
        # The control pipe moves off fds 0/1, which a run gets as /dev/null and its log; stray prints of the
        # template itself go to stderr (the sweep's).
        self.requests, self.replies = os.dup(0), os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        # Ctrl-C reaches the whole process group: runs handle it as a fresh process would; the template stays up to
        # report their exits while the sweep cancels.
        self.sigint = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.runs: dict[int, int] = {}  # pid -> run id
        self.listening = True  # the sweep still reads the replies

    def serve(self) -> None:
        try:
            _preload()
        except BaseException:
            _send(self.replies, error=traceback.format_exc())
            raise SystemExit(1)
        # Import-time objects move out of the collector's reach: a collection in a run would otherwise touch, and
        # so copy, every page it shares with the template (measured: 1.4 s more per run, most of it at exit).
        gc.collect()
        gc.freeze()
        # A child's exit wakes the select below (SIGCHLD writes a byte to wake_w), so the idle template costs no CPU.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.pid = os.getpid()
        _send(self.replies, ready=self.pid)
        buffer = b""
        while True:
            readable, _, _ = select.select([self.requests, self.wake_r], [], [])
            if self.wake_r in readable:
                os.read(self.wake_r, 4096)
            if self.requests in readable:
                data = os.read(self.requests, 65536)
                if not data:
                    break  # the sweep closed the pipe or died
                *lines, buffer = (buffer + data).split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    if request["op"] == "start":
                        self._fork(request)
                    elif request["op"] == "warm":
                        self._warm(request["recipe"])
                    elif request["op"] == "signal":
                        self._signal(request["id"], request["signal"])
            self._reap()
        self._stop_runs()
        raise SystemExit(0)

    def _warm(self, recipe_path: str) -> None:
        """Compute, in the template, what every run of the recipe computes alike (its synthetic world and tokenized
        corpus), so each fork starts with it. A failure here is not the sweep's: the runs meet and report it."""
        try:
            from nlp_underspec.config import load_recipe
            from nlp_underspec.training.pretraining import warm_caches

            warm_caches(load_recipe(recipe_path))
        except Exception:  # noqa: BLE001 - the runs will fail with their own, clearer message
            traceback.print_exc()
        if sys.modules["torch"].cuda.is_initialized():
            raise RuntimeError(CUDA_STARTED)
        gc.collect()
        gc.freeze()  # as after the imports: keep the collector off the shared pages

    def _fork(self, request: dict) -> None:
        sys.stdout.flush()  # nothing buffered in the template may be written a second time by the fork
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the run's own process: it never returns into this loop
            try:
                self._become_run(request)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            _run_cli(request["argv"])
        self.runs[pid] = request["id"]
        self._reply(started=request["id"], pid=pid)

    def _become_run(self, request: dict) -> None:
        die_with_parent()
        if os.getppid() != self.pid:  # the template died before the line above took effect
            os._exit(1)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, self.sigint)
        for fd in (self.requests, self.replies, self.wake_r, self.wake_w):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        sys.argv = [CLI_MAIN, *request["argv"]]
        # A fresh process seeds numpy's and torch's global generators from OS entropy at import; forks would all
        # share the template's draw. (Python's `random` reseeds itself at fork.) Runs seed all three themselves.
        sys.modules["numpy"].random.seed()
        sys.modules["torch"].seed()  # CPU now; CUDA generators only when CUDA starts (a lazy call)

    def _signal(self, run_id: int, signum: int) -> None:
        # Only runs not yet reaped are signalled, so a reused pid is never hit.
        for pid, other in self.runs.items():
            if other == run_id:
                os.kill(pid, signum)

    def _reap(self) -> None:
        while self.runs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run_id = self.runs.pop(pid, None)
            if run_id is not None:
                self._reply(exited=run_id, code=os.waitstatus_to_exitcode(status))

    def _stop_runs(self) -> None:
        """SIGTERM the runs still going, SIGKILL those left after the grace time; report each exit."""
        for pid in self.runs:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.runs and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pid in self.runs:
            os.kill(pid, signal.SIGKILL)
        for pid in list(self.runs):
            _, status = os.waitpid(pid, 0)
            self._reply(exited=self.runs.pop(pid), code=os.waitstatus_to_exitcode(status))

    def _reply(self, **message) -> None:
        if self.listening:
            try:
                _send(self.replies, **message)
            except BrokenPipeError:  # the sweep is gone; the loop ends at the EOF on its requests
                self.listening = False


def _run_cli(argv: list[str]) -> NoReturn:
    """``python -m nlp_underspec ARGV`` from here on: the CLI, then the interpreter's exit steps in its order (thread
    joins, atexit, stdio flush) and its exit code. Only the teardown of every module is skipped, as multiprocessing
    does in its forks: in a fork it writes to (and so copies) every page shared with the template, 0.5 s per run."""
    from nlp_underspec.cli import main

    interrupted = False
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    except BaseException as err:
        sys.excepthook(type(err), err, err.__traceback__)  # the traceback a fresh process prints; it exits 1
        code, interrupted = 1, isinstance(err, KeyboardInterrupt)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # what the interpreter calls at exit too
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if interrupted:  # an uncaught Ctrl-C: Python ends itself with SIGINT, so do we
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit((code or 0) & 0xFF)


# ----------------------------------------------------------------------------------------------------- the sweep side


class ForkedRun:
    """A run forked by a template; ``poll``/``wait``/``terminate``/``kill`` behave as ``subprocess.Popen``'s."""

    def __init__(self, template: Zygote, run_id: int, pid: int) -> None:
        self.template, self.run_id, self.pid = template, run_id, pid

    @property
    def returncode(self) -> int | None:
        return self.template.exit_codes.get(self.run_id)

    def poll(self) -> int | None:
        self.template.read_replies(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"run {self.run_id} (pid {self.pid})", timeout)
            self.template.read_replies(timeout=left)
        return self.returncode

    def terminate(self) -> None:
        self.template.signal(self.run_id, signal.SIGTERM)

    def kill(self) -> None:
        self.template.signal(self.run_id, signal.SIGKILL)


class Zygote:
    """The sweep's handle on one template process (started here, with ``env`` and ``cwd``)."""

    def __init__(self, *, env: dict[str, str], cwd: Path) -> None:
        self.exit_codes: dict[int, int] = {}
        self._pids: dict[int, int] = {}  # run id -> pid, for runs started
        self._next_id = 0
        self._buffer = b""
        self._error: str | None = None
        self._ready: int | None = None
        self.process = subprocess.Popen([sys.executable, "-m", "nlp_underspec.sweep.zygote"], cwd=cwd, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        preexec_fn=die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self._ready is None and self._error is None and self.process.stdout is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise UsageError(TEMPLATE_FAILED.format(error=TEMPLATE_TIMEOUT.format(seconds=READY_TIMEOUT_S)))
            self.read_replies(timeout=left)
        if self._ready is None:
            self.close()
            error = self._error or f"it exited with code {self.process.returncode}"
            # The traceback's last line is what went wrong (e.g. "ModuleNotFoundError: No module named 'torch'").
            raise UsageError(TEMPLATE_FAILED.format(error=error.strip().splitlines()[-1]))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.process.stdout is not None

    def start(self, argv: list[str], *, log_path: Path, cwd: Path, env: dict[str, str]) -> ForkedRun:
        run_id, self._next_id = self._next_id, self._next_id + 1
        self._request(op="start", id=run_id, argv=list(argv), log=str(log_path), cwd=str(cwd), env=env)
        while run_id not in self._pids:
            if self.process.stdout is None:
                raise RuntimeError(TEMPLATE_DIED.format(pid=self.pid, code=self.process.poll()))
            self.read_replies(timeout=None)
        return ForkedRun(self, run_id, self._pids[run_id])

    def warm(self, recipe_path: Path) -> None:
        """Ask the template to compute what all runs of this recipe share before it forks them (see ``_warm``)."""
        self._request(op="warm", recipe=str(Path(recipe_path).resolve()))

    def signal(self, run_id: int, signum: int) -> None:
        if self.alive and run_id not in self.exit_codes:
            self._request(op="signal", id=run_id, signal=int(signum))

    def read_replies(self, timeout: float | None) -> None:
        """Take in what the template has written, waiting up to ``timeout`` seconds for something to arrive."""
        if self.process.stdout is None:
            return
        fd = self.process.stdout.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return
        data = os.read(fd, 65536)
        if not data:
            self._gone()
            return
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "ready" in message:
                self._ready = message["ready"]
            elif "error" in message:
                self._error = message["error"]
            elif "started" in message:
                self._pids[message["started"]] = message["pid"]
            elif "exited" in message:
                self.exit_codes[message["exited"]] = message["code"]

    def close(self) -> None:
        """Shut the template down: it terminates the runs still going (normally none) and exits."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=STOP_GRACE_S + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        while self.process.stdout is not None:  # the exits it reported on its way out, up to the EOF
            self.read_replies(timeout=None)

    def _gone(self) -> None:
        """The template has exited: runs whose exit it did not report died with it (PR_SET_PDEATHSIG)."""
        self.process.stdout.close()
        self.process.stdout = None
        self.process.wait()
        for run_id in self._pids:
            self.exit_codes.setdefault(run_id, -signal.SIGKILL)

    def _request(self, **message) -> None:
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # the template died; read_replies reports its runs as killed
            pass


if __name__ == "__main__":
    _Template().serve()
