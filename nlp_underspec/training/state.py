"""The training loop's saved state (``RUN/state/``), in formats that cannot run code: safetensors and JSON.

accelerate's ``save_state``/``load_state`` pickle the LR scheduler (``custom_checkpoint_0.pkl``), the optimizer and the
RNG states, and unpickling a file runs whatever code it names. Run folders sit on shared storage (Ray needs it) and are
copied between people, so a file planted in ``state/`` would run on the next resume. This module writes, and reads,
only these files:

- ``model.safetensors``: the unwrapped model's parameters and buffers (tied weights once);
- ``optimizer.safetensors`` + ``optimizer.json``: every tensor of the optimizer state (``<param>.<name>``), and the
  rest (param groups, any non-tensor entry);
- ``scheduler.json``: the LR scheduler's ``state_dict`` (plain numbers: the schedule itself is code of ours);
- ``scaler.json``: the fp16 GradScaler's state, when there is one;
- ``rng_<process>.safetensors``: torch's global generator (and CUDA's) per process, which dropout draws from;
- ``progress.json``, written last: the format, the optimizer step and accelerate's micro-step counter.

:func:`check_state_fits_run` also refuses counters and learning rates the run's recipe could not have produced.

Python's and numpy's global generators are not saved: nothing in the loop draws from them (data order, masking and
subsampling use generators of their own derived from the seeds), so restoring them would change no bit.

:func:`check_saved_state` refuses a state folder holding anything else (a planted pickle, an earlier version's
accelerate state) before a byte of it is read; every read error names the file.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import torch

from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_json

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
PROGRESS_FILE = "progress.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_REST = "optimizer.json"
SCHEDULER_FILE = "scheduler.json"
SCALER_FILE = "scaler.json"
RNG_FILE = "rng_{process}.safetensors"
REQUIRED_FILES = (PROGRESS_FILE, MODEL_FILE, OPTIMIZER_TENSORS, OPTIMIZER_REST, SCHEDULER_FILE, RNG_FILE.format(process=0))
_KNOWN = re.compile(r"^(progress\.json|model\.safetensors|optimizer\.safetensors|optimizer\.json|scheduler\.json|"
                    r"scaler\.json|rng_\d+\.safetensors)$")

_START_AGAIN = "Delete {folder} to train this run from step 0, or pass --overwrite to start the run folder again."
STATE_UNKNOWN_FILES = ("Saved state {folder} holds {names}, which nlp_underspec never writes there. Resume reads only "
                       "the safetensors and JSON files it wrote (a planted pickle could run code), so it stops here. "
                       "Remove {them} if you did not put {them} there (the run then resumes), or pass --overwrite to "
                       "start the run folder again.")
STATE_OLD_FORMAT = ("Saved state {folder} was written in accelerate's pickle format (by an earlier version of "
                    "nlp_underspec), which resume does not read: unpickling a file can run code. " + _START_AGAIN)
STATE_MISSING_FILES = "Saved state {folder} lacks {names}, so the run cannot resume from it. " + _START_AGAIN
STATE_UNREADABLE = "Saved state file {path} could not be read ({reason}). " + _START_AGAIN
NOT_JSON = "not a JSON object"
NOT_SAFETENSORS = "not a safetensors file"
STATE_MISSING_KEY = "Saved state file {path} lacks the key {key!r}, so the run cannot resume from it. " + _START_AGAIN
STATE_BAD_VALUE = ("Saved state file {path} holds {key} = {value}, {why}, so it was not saved by this run and the run "
                   "cannot resume from it. " + _START_AGAIN)
WHY_NOT_WHOLE = "not a whole number >= 0"
WHY_NOT_NUMBERS = "not a list of finite numbers"
WHY_NOT_FLAG = "not true or false"
WHY_BEYOND_MAX_STEPS = "beyond the recipe's max_steps {max_steps}"
WHY_BEYOND_STEP = "beyond the step {step} of progress.json"
WHY_NOT_MICRO_STEPS = "but step {step} with grad_accum {grad_accum} makes {expected} micro-batches"
WHY_NOT_RECIPE_LR = "not the recipe's learning rate {expected:.6g} ({what})"
WHY_PEAK = "its peak lr"
WHY_AT_STEP = "after {step} scheduler steps"
_PROGRESS_KEYS = ("format", "step", "accelerator_step")
_SCHEDULER_FLAGS = ("_is_initial", "_get_lr_called_within_step")
STATE_NO_RNG = ("Saved state {folder} has no random state for process {process} (it was saved by fewer processes): "
                "dropout masks from here on differ from an uninterrupted run's.")


# ------------------------------------------------------------------------------------------------------------ check


def check_saved_state(folder: Path) -> dict[str, Any]:
    """Refuse a state folder that holds anything this module did not write, or lacks a part; return its progress.

    Only file names, the JSON files and the safetensors headers are read here (no tensor), so a run folder is judged
    before anything is written to it; what does not fit the model or optimizer is found when loading.
    """
    folder = Path(folder)
    unknown = sorted(entry.name for entry in folder.iterdir() if not _KNOWN.match(entry.name) or entry.is_dir())
    progress = _read_json(folder / PROGRESS_FILE, folder) if (folder / PROGRESS_FILE).is_file() else {}
    if "format" not in progress and (unknown or not (folder / PROGRESS_FILE).is_file()):  # accelerate's files beside it
        raise UsageError(STATE_OLD_FORMAT.format(folder=folder))
    if unknown:
        them = "it" if len(unknown) == 1 else "them"
        raise UsageError(STATE_UNKNOWN_FILES.format(folder=folder, names=", ".join(unknown), them=them))
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise UsageError(STATE_MISSING_FILES.format(folder=folder, names=", ".join(missing)))
    for key in _PROGRESS_KEYS:
        if key not in progress:
            raise UsageError(STATE_MISSING_KEY.format(path=folder / PROGRESS_FILE, key=key, folder=folder))
    if progress.get("format") != STATE_FORMAT or not all(isinstance(progress.get(key), int) and progress[key] >= 0
                                                         for key in ("step", "accelerator_step")):
        raise UsageError(STATE_UNREADABLE.format(path=folder / PROGRESS_FILE, folder=folder,
                                                 reason=f"expected format {STATE_FORMAT} with whole-number steps"))
    for path in sorted(folder.iterdir()):  # headers only: a file that is not what its name says is refused up front
        if path.suffix == ".json":
            _read_json(path, folder)
        else:
            _guarded(path, folder, lambda: _safetensors_keys(path))
    return progress


def check_state_fits_run(folder: Path, *, max_steps: int, grad_accum: int, peak_lr: float, lr_factor) -> None:
    """Refuse saved counters and learning rates this run's recipe could not have produced, naming file and key.

    ``lr_factor(step)`` is the recipe's schedule: the fraction of ``peak_lr`` after ``step`` scheduler steps. Without
    this check a step beyond ``max_steps`` would skip training and record a run complete with no loss, a
    ``last_epoch`` of the wrong type would end in torch's traceback, and a planted learning rate would blow the loss
    up and blame the training data.
    """
    folder = Path(folder)
    progress = check_saved_state(folder)
    path, step = folder / PROGRESS_FILE, progress["step"]
    if step > max_steps:
        _bad_value(path, folder, "step", step, WHY_BEYOND_MAX_STEPS.format(max_steps=max_steps))
    if progress["accelerator_step"] != step * grad_accum:
        _bad_value(path, folder, "accelerator_step", progress["accelerator_step"],
                   WHY_NOT_MICRO_STEPS.format(step=step, grad_accum=grad_accum, expected=step * grad_accum))
    _check_scheduler(folder, step, peak_lr, lr_factor)


def _check_scheduler(folder: Path, step: int, peak_lr: float, lr_factor) -> None:
    """scheduler.json's numbers: whole counters, flags, and the recipe's schedule at its ``last_epoch``."""
    path = folder / SCHEDULER_FILE
    saved = _read_json(path, folder)
    for key in ("last_epoch", "_step_count"):
        if key in saved and not _is_whole(saved[key]):
            _bad_value(path, folder, key, saved[key], WHY_NOT_WHOLE)
    for key in _SCHEDULER_FLAGS:
        if key in saved and not isinstance(saved[key], bool):
            _bad_value(path, folder, key, saved[key], WHY_NOT_FLAG)
    last_epoch = saved.get("last_epoch", 0)
    if last_epoch > step:  # the scheduler steps with the optimizer, less often only when fp16 skips a step
        _bad_value(path, folder, "last_epoch", last_epoch, WHY_BEYOND_STEP.format(step=step))
    # LambdaLR's own arithmetic: base_lrs is the peak, _last_lr the peak times the factor at last_epoch
    expected = {"base_lrs": (peak_lr, WHY_PEAK),
                "_last_lr": (peak_lr * lr_factor(last_epoch), WHY_AT_STEP.format(step=last_epoch))}
    for key, (lr, what) in expected.items():
        values = saved.get(key, [])
        if not isinstance(values, list) or not all(_is_finite(value) for value in values):
            _bad_value(path, folder, key, values, WHY_NOT_NUMBERS)
        if not all(math.isclose(value, lr, rel_tol=1e-6, abs_tol=1e-12) for value in values):
            _bad_value(path, folder, key, values, WHY_NOT_RECIPE_LR.format(expected=lr, what=what))


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bad_value(path: Path, folder: Path, key: str, value: Any, why: str) -> None:
    shown = json.dumps(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise UsageError(STATE_BAD_VALUE.format(path=path, key=key, value=shown, why=why, folder=folder))


def _safetensors_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return list(handle.keys())


def _read_json(path: Path, folder: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except OSError as err:
        raise UsageError(STATE_UNREADABLE.format(path=path, folder=folder, reason=_reason(err))) from None
    except ValueError:  # UnicodeDecodeError included: a planted pickle lands here
        value = None
    if not isinstance(value, dict):
        raise UsageError(STATE_UNREADABLE.format(path=path, folder=folder, reason=NOT_JSON))
    return value


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ------------------------------------------------------------------------------------------------------------- save


def save_training_state(accelerator, folder: Path, *, model, optimizer, scheduler, step: int) -> None:
    """Write the state of every process into ``folder`` (which exists); ``progress.json`` comes last, from rank 0."""
    from safetensors.torch import save_file, save_model

    folder = Path(folder)
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), str(folder / MODEL_FILE))
        tensors, rest = _split_optimizer_state(optimizer.state_dict())
        save_file(tensors, str(folder / OPTIMIZER_TENSORS))
        atomic_write_json(folder / OPTIMIZER_REST, rest)
        atomic_write_json(folder / SCHEDULER_FILE, scheduler.state_dict())
        if accelerator.scaler is not None:
            atomic_write_json(folder / SCALER_FILE, accelerator.scaler.state_dict())
    save_file(_rng_state(), str(folder / RNG_FILE.format(process=accelerator.process_index)))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_json(folder / PROGRESS_FILE, {"format": STATE_FORMAT, "step": step,
                                                   "accelerator_step": accelerator.step})


def _split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors keyed ``<param>.<name>``, everything else as plain data)."""
    tensors, scalars = {}, {}
    for param, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state": scalars}


def _rng_state() -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return states


# ------------------------------------------------------------------------------------------------------------- load


def load_training_state(accelerator, folder: Path, *, model, optimizer, scheduler) -> int:
    """Restore what :func:`save_training_state` wrote into the prepared objects; returns the optimizer step."""
    folder = Path(folder)
    progress = check_saved_state(folder)
    _load_model(folder, accelerator.unwrap_model(model))
    _load_optimizer(folder, optimizer)
    _guarded(folder / SCHEDULER_FILE, folder,
             lambda: scheduler.load_state_dict(_same_keys(_read_json(folder / SCHEDULER_FILE, folder),
                                                          scheduler.state_dict())))
    if accelerator.scaler is not None and (folder / SCALER_FILE).is_file():
        _guarded(folder / SCALER_FILE, folder,
                 lambda: accelerator.scaler.load_state_dict(_read_json(folder / SCALER_FILE, folder)))
    _load_rng(folder, accelerator.process_index)
    accelerator.step = progress["accelerator_step"]
    return progress["step"]


def _guarded(path: Path, folder: Path, action) -> None:
    """Run ``action``; a malformed or mismatched file becomes one error naming it."""
    from safetensors import SafetensorError

    try:
        action()
    except UsageError:
        raise
    except SafetensorError:  # a planted pickle (or a truncated file): its header does not parse
        raise UsageError(STATE_UNREADABLE.format(path=path, folder=folder, reason=NOT_SAFETENSORS)) from None
    except Exception as err:  # safetensors, torch and the state_dict checks raise many types
        raise UsageError(STATE_UNREADABLE.format(path=path, folder=folder, reason=_reason(err))) from None


def _load_model(folder: Path, model) -> None:
    from safetensors.torch import load_model

    def load() -> None:
        missing, unexpected = load_model(model, str(folder / MODEL_FILE), strict=False, device="cpu")
        if missing or unexpected:
            raise ValueError(f"parameters do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")

    _guarded(folder / MODEL_FILE, folder, load)


def _load_optimizer(folder: Path, optimizer) -> None:
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    _guarded(folder / OPTIMIZER_TENSORS, folder,
             lambda: tensors.update(load_file(str(folder / OPTIMIZER_TENSORS), device="cpu")))
    rest = _read_json(folder / OPTIMIZER_REST, folder)
    _guarded(folder / OPTIMIZER_REST, folder,
             lambda: optimizer.load_state_dict(_optimizer_state(tensors, rest, optimizer)))


def _optimizer_state(tensors: dict[str, torch.Tensor], rest: dict, optimizer) -> dict:
    """The ``state_dict`` :func:`_split_optimizer_state` took apart, checked against the optimizer's parameters."""
    current = optimizer.state_dict()["param_groups"]
    saved = rest["param_groups"]
    if not isinstance(saved, list) or len(saved) != len(current):
        raise ValueError(f"parameter groups do not match the optimizer's {len(current)}")
    shapes = {index: param.shape for group, params in zip(current, optimizer.param_groups)
              for index, param in zip(group["params"], params["params"])}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param, _, name = key.partition(".")
        if int(param) not in shapes or (value.ndim and value.shape != shapes[int(param)]):
            raise ValueError(f"tensor {key} does not fit the optimizer's parameters")
        state.setdefault(int(param), {})[name] = value
    for param, entries in (rest.get("state") or {}).items():
        state.setdefault(int(param), {}).update(entries)
    # JSON has no tuples: give back the ones the optimizer holds (AdamW's betas)
    groups = [{key: tuple(value) if isinstance(now.get(key), tuple) else value for key, value in group.items()}
              for group, now in zip(saved, current)]
    return {"state": state, "param_groups": groups}


def _same_keys(saved: dict, current: dict) -> dict:
    """A scheduler's ``load_state_dict`` copies every key into its attributes: accept only the keys it has."""
    if set(saved) != set(current):
        raise ValueError(f"keys {sorted(saved)} are not the scheduler's {sorted(current)}")
    return saved


def _load_rng(folder: Path, process: int) -> None:
    from safetensors.torch import load_file

    path = folder / RNG_FILE.format(process=process)
    if not path.is_file():
        logger.warning(STATE_NO_RNG.format(folder=folder, process=process))
        return

    def load() -> None:
        states = load_file(str(path), device="cpu")
        torch.set_rng_state(states["torch"])
        cuda = [states[f"cuda.{i}"] for i in range(len(states) - 1) if f"cuda.{i}" in states]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda)

    _guarded(path, folder, load)
