"""The one training loop, shared by pretraining and fine-tuning, and the small ``build_*`` functions around it.

The sequence is the canonical accelerate one (transformers' ``run_mlm_no_trainer``) without its pitfalls:

- ``batch_size`` means examples per optimizer step across all devices and accumulation steps. The dataloader yields
  global micro-batches of ``batch_size / grad_accum`` and accelerate splits each across processes
  (``split_batches=True``), so the data a step sees does not depend on the number of devices, and the LR scheduler
  steps once per optimizer step (it is not prepared, because a prepared scheduler steps once per *process*).
- Data order is a pure function of (seed, epoch): :class:`EpochShuffleSampler` yields *virtual* indices
  ``epoch * n + i`` so that a dataset can derive per-example randomness (MLM masking) from them without any generator
  state. Resume is then restoring the saved state + ``skip_first_batches``, bit-identical to an uninterrupted run.
- Steps are counted on ``sync_gradients``; state is saved to ``state/`` atomically (a temporary folder renamed into
  place) so a kill during a save leaves the previous state usable. It is written and read by
  :mod:`nlp_underspec.training.state` (safetensors and JSON), never by accelerate's ``save_state``/``load_state``,
  which pickle: a run folder is shared storage, and a planted pickle would run code on resume.
- A NaN or infinite loss fails the run at the step it appears (every process together), before anything is saved
  from it, and the weights are checked once more after the last step: a NaN model must never be recorded complete.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import derive_seed, torch_generator
from nlp_underspec.training import state as training_state

logger = logging.getLogger(__name__)

STATE_DIR = "state"
PROGRESS_FILE = training_state.PROGRESS_FILE

UNKNOWN_TRACKER = "Unknown tracker '{name}'. Available: {available}."
TRACKER_MISSING = "Tracker '{name}' is not installed. Install it (pip install {package}) or drop it from --log-with."
BATCH_NOT_DIVISIBLE = ("{key} gives micro-batches of {micro} examples, which do not split evenly over {processes} "
                       "processes. Make {key} / grad_accum a multiple of the number of processes.")

LOSS_NOT_FINITE = ("{description}: the training loss became {loss} at step {step} of {max_steps} (training data: "
                   "{data}). A NaN or infinite loss turns every weight into NaN, so the run fails here instead of "
                   "being recorded complete. Check that data for extreme or non-numeric labels, or lower the learning "
                   "rate.")
WEIGHTS_NOT_FINITE = ("{description}: after step {step} of {max_steps} the weights hold NaN or infinite values "
                      "({name}; training data: {data}), so the run fails here instead of being recorded complete. "
                      "Check that data for extreme labels, or lower the learning rate.")

_TRACKER_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb", "comet_ml": "comet_ml",
                     "mlflow": "mlflow", "aim": "aim", "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab"}


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs to know about optimisation; built from a PretrainConfig or a TaskConfig."""

    max_steps: int
    batch_size: int  # examples per optimizer step, across devices and accumulation
    grad_accum: int
    lr: float
    weight_decay: float
    warmup_steps: int
    max_grad_norm: float
    save_state_every: int
    log_every: int
    description: str = "train"
    data: str = "as configured"  # the training data, named when the loss stops being finite

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum


@dataclass
class LoopResult:
    steps: int
    resumed_from: int
    final_loss: float  # mean loss over the last logging window
    tokens: int  # tokens seen by this invocation (all processes)
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------------------------------------- building


def check_trackers(log_with: tuple[str, ...] | list[str]) -> list[str]:
    """Validate tracker names against accelerate's list and the installed packages, before any work starts."""
    import accelerate.utils
    from accelerate.utils import LoggerType

    available = [t.value for t in LoggerType if t.value != "all"]
    for name in log_with:
        if name not in available:
            raise UsageError(UNKNOWN_TRACKER.format(name=name, available=", ".join(available)))
        is_available = getattr(accelerate.utils, f"is_{name}_available", None)
        if is_available is not None and not is_available():
            raise UsageError(TRACKER_MISSING.format(name=name, package=_TRACKER_PACKAGES.get(name, name)))
    return list(log_with)


def build_accelerator(*, grad_accum: int, log_with: tuple[str, ...] | list[str] = (), project_dir: Path | None = None):
    """An Accelerator; mixed precision and devices come from the accelerate config / ``accelerate launch``."""
    from accelerate import Accelerator, DataLoaderConfiguration

    return Accelerator(gradient_accumulation_steps=grad_accum, log_with=list(log_with) or None,
                       project_dir=str(project_dir) if project_dir else None,
                       dataloader_config=DataLoaderConfiguration(split_batches=True))


def check_batch_split(accelerator, settings: LoopSettings, key: str) -> None:
    if settings.micro_batch_size % accelerator.num_processes:
        raise UsageError(BATCH_NOT_DIVISIBLE.format(key=key, micro=settings.micro_batch_size,
                                                    processes=accelerator.num_processes))


def build_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, with no weight decay on biases and LayerNorm weights (as in BERT)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all parameters in one pass: ~5x faster than the default on CPU for a 22M-parameter
    # BERT (the dense embedding gradient dominates), and also available on CUDA.
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-6, fused=True)


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, max_steps: int):
    """Linear warm-up to the peak LR, then linear decay to zero at ``max_steps`` (BERT's schedule)."""

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps=warmup_steps, max_steps=max_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def lr_factor(step: int, *, warmup_steps: int, max_steps: int) -> float:
    """The fraction of the peak LR after ``step`` scheduler steps (also what a saved state is checked against)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


class EpochShuffleSampler(Sampler[int]):
    """Yields ``total`` virtual indices ``epoch * n + i``, the order of each epoch a permutation seeded by (seed, epoch).

    A dataset maps a virtual index ``v`` to example ``v % n`` of epoch ``v // n``; nothing here holds generator state,
    so skipping the first k batches after a resume reproduces the uninterrupted order exactly.

    With ``lengths`` and ``batch_size`` the order groups examples of similar length into the same batch (sorted within
    windows of 64 batches, then the batches shuffled), so that padded batches waste little compute; still a pure
    function of (seed, epoch).

    >>> list(EpochShuffleSampler(3, seed=0, total=7, shuffle=False))
    [0, 1, 2, 3, 4, 5, 6]
    >>> sorted(v % 3 for v in list(EpochShuffleSampler(3, seed=1, total=6))[3:])
    [0, 1, 2]
    """

    WINDOW_BATCHES = 64  # sorting window: wide enough to fill batches with equal lengths, narrow enough to stay random

    def __init__(self, n: int, *, seed: int, total: int, shuffle: bool = True, lengths=None,
                 batch_size: int | None = None):
        self.n, self.seed, self.total, self.shuffle = n, seed, total, shuffle
        self.lengths = torch.as_tensor(lengths) if lengths is not None else None
        self.batch_size = batch_size

    def __len__(self) -> int:
        return self.total

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The example indices of one epoch, in the order they are served."""
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch_generator(self.seed, "data", epoch)
        order = torch.randperm(self.n, generator=generator)
        if self.lengths is None or not self.batch_size:
            return order
        window = self.batch_size * self.WINDOW_BATCHES
        grouped = [chunk[torch.argsort(self.lengths[chunk], stable=True)] for chunk in torch.split(order, window)]
        batches = list(torch.split(torch.cat(grouped), self.batch_size))
        full = [b for b in batches if len(b) == self.batch_size]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
        return torch.cat(shuffled + [b for b in batches if len(b) < self.batch_size])

    def __iter__(self) -> Iterator[int]:
        produced = 0
        epoch = 0
        while produced < self.total:
            for i in self.epoch_order(epoch)[: self.total - produced].tolist():
                yield epoch * self.n + i
            produced += min(self.n, self.total - produced)
            epoch += 1


class CurriculumSampler(Sampler[int]):
    """A curriculum, then the whole set: the first ``curriculum_total`` virtual indices come from epochs over
    ``subset`` (example indices into the full set), the rest from epochs over all ``n`` examples.

    Both phases are :class:`EpochShuffleSampler` orders (the curriculum's from its own seed stream), so the whole order
    is still a pure function of the seed and resuming skips batches exactly. Virtual indices stay unique across the
    phases: a curriculum epoch ``e`` serves ``e * n + i``, and the full phase's epochs are numbered after the last
    curriculum epoch, so per-example randomness keyed on them (MLM masking) never repeats between the phases.

    >>> order = list(CurriculumSampler(4, subset=[1, 3], curriculum_total=3, seed=0, total=7))
    >>> sorted(v % 4 for v in order[:3]), sorted(v % 4 for v in order[3:]), min(order[3:]) >= 2 * 4
    ([1, 3, 3], [0, 1, 2, 3], True)
    """

    def __init__(self, n: int, *, subset, curriculum_total: int, seed: int, total: int, lengths=None,
                 batch_size: int | None = None):
        self.n, self.total = n, total
        self.subset = torch.as_tensor(list(subset), dtype=torch.long)
        subset_lengths = torch.as_tensor(lengths)[self.subset] if lengths is not None else None
        self.curriculum = EpochShuffleSampler(len(self.subset), seed=derive_seed(seed, "curriculum"),
                                              total=curriculum_total, lengths=subset_lengths, batch_size=batch_size)
        self.curriculum_epochs = math.ceil(curriculum_total / len(self.subset))
        self.rest = EpochShuffleSampler(n, seed=seed, total=total - curriculum_total, lengths=lengths,
                                        batch_size=batch_size)

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[int]:
        m = len(self.subset)
        for u in self.curriculum:
            yield (u // m) * self.n + int(self.subset[u % m])
        offset = self.curriculum_epochs * self.n
        for v in self.rest:
            yield offset + v


def build_dataloader(dataset: Dataset, *, sampler: Sampler, batch_size: int, collate_fn: Callable) -> DataLoader:
    # Its own generator: without one, every new iterator (also the one a resumed run creates after its state is
    # restored) draws a worker seed from torch's global RNG and shifts the dropout masks that follow.
    # drop_last: the sampler yields exactly steps * batch_size examples, so nothing is dropped in practice.
    return DataLoader(dataset, sampler=sampler, batch_size=batch_size, collate_fn=collate_fn, drop_last=True,
                      generator=torch.Generator().manual_seed(0))


def steps_for_epochs(n_examples: int, *, epochs: float, batch_size: int) -> int:
    """Optimizer steps that cover ``epochs`` passes over ``n_examples`` (at least one step)."""
    return max(1, math.ceil(epochs * n_examples / batch_size))


# ------------------------------------------------------------------------------------------------------------ state


def latest_state(run_folder: Path) -> Path | None:
    """The last complete saved state: ``state/``, or the previous one if a kill interrupted the swap."""
    for name in (STATE_DIR, f".{STATE_DIR}.old"):
        candidate = run_folder / name
        if (candidate / PROGRESS_FILE).is_file():
            return candidate
    return None


def check_resumable(run_folder: Path, settings: LoopSettings) -> None:
    """Refuse a saved state whose counters or learning rates this recipe could not have produced (before any write)."""
    state = latest_state(run_folder)
    if state is not None:
        training_state.check_state_fits_run(
            state, max_steps=settings.max_steps, grad_accum=settings.grad_accum, peak_lr=settings.lr,
            lr_factor=lambda step: lr_factor(step, warmup_steps=settings.warmup_steps, max_steps=settings.max_steps))


def save_state_atomically(accelerator, run_folder: Path, step: int, *, model, optimizer, scheduler) -> Path:
    """Save the training state into a temporary folder, then swap it in (the progress file marks it complete)."""
    final, tmp, old = run_folder / STATE_DIR, run_folder / f".{STATE_DIR}.tmp", run_folder / f".{STATE_DIR}.old"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    training_state.save_training_state(accelerator, tmp, model=model, optimizer=optimizer, scheduler=scheduler,
                                       step=step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def remove_state(run_folder: Path) -> None:
    for name in (STATE_DIR, f".{STATE_DIR}.tmp", f".{STATE_DIR}.old"):
        shutil.rmtree(run_folder / name, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------- loop


def _count_tokens(batch: dict[str, Any]) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())


def _interactive(accelerator) -> bool:
    """A progress bar on a terminal; log lines otherwise (sweep logs, CI), so files do not fill with bar redraws."""
    return accelerator.is_local_main_process and sys.stderr.isatty()


def _progress_bar(accelerator, settings: LoopSettings, start: int):
    from tqdm.auto import tqdm

    return tqdm(total=settings.max_steps, initial=start, desc=settings.description, unit="step", dynamic_ncols=True,
                disable=not _interactive(accelerator))


def run_training_loop(*, accelerator, model, optimizer, scheduler, dataloader: DataLoader, settings: LoopSettings,
                      run_folder: Path, on_step: Callable[[int], None] | None = None) -> LoopResult:
    """Train ``model`` (already prepared, as are optimizer and dataloader) until ``settings.max_steps``.

    ``model(**batch)`` must return an object with ``.loss``. Resumes from ``run_folder/state`` when present;
    ``on_step(step)`` runs after every optimizer step (intermediate checkpoints).
    """
    state = latest_state(run_folder)
    start = 0
    if state is not None:
        check_resumable(run_folder, settings)  # again: callers check before the record says "running"
        start = training_state.load_training_state(accelerator, state, model=model, optimizer=optimizer,
                                                   scheduler=scheduler)
        logger.info("Resuming %s from step %d (%s)", settings.description, start, state)
        dataloader = accelerator.skip_first_batches(dataloader, start * settings.grad_accum)
    model.train()
    step, tokens, window, history, step_losses = start, 0, [], [], []
    started = time.perf_counter()
    with _progress_bar(accelerator, settings, start) as bar:
        if start >= settings.max_steps:
            dataloader = []
        for batch in dataloader:
            tokens += _count_tokens(batch) * accelerator.num_processes
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and settings.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients and not accelerator.optimizer_step_was_skipped:
                    scheduler.step()
                optimizer.zero_grad()
            window.append(loss.detach())
            step_losses.append(window[-1])
            if not accelerator.sync_gradients:
                continue
            step += 1
            check_finite_loss(accelerator, step_losses, step, settings)
            step_losses = []
            bar.update(1)
            if step % settings.log_every == 0 or step == settings.max_steps:
                point = _log_point(accelerator, window, step, scheduler, tokens, time.perf_counter() - started,
                                   settings)
                history.append(point)
                bar.set_postfix(loss=f"{point['loss']:.4f}", tok_s=f"{point['tokens_per_s']:.0f}")
                window = []
            if on_step is not None:
                on_step(step)
            if step % settings.save_state_every == 0 and step < settings.max_steps:
                save_state_atomically(accelerator, run_folder, step, model=model, optimizer=optimizer,
                                      scheduler=scheduler)
            if step >= settings.max_steps:
                break
    check_finite_weights(model, step, settings)
    seconds = time.perf_counter() - started
    final_loss = history[-1]["loss"] if history else float("nan")
    return LoopResult(steps=step, resumed_from=start, final_loss=final_loss, tokens=tokens, seconds=seconds,
                      history=history)


def check_finite_loss(accelerator, losses: list[torch.Tensor], step: int, settings: LoopSettings) -> None:
    """Fail the run when a micro-batch loss of this optimizer step is NaN or infinite on any process.

    One reduced sum per step (NaN or inf when any term is), so every process raises together instead of the others
    waiting at the next collective; on one CPU process it costs nothing measurable."""
    total = accelerator.reduce(torch.stack(losses).float().sum(), reduction="sum").item()
    if not math.isfinite(total):
        raise UsageError(LOSS_NOT_FINITE.format(description=settings.description, loss=total, step=step,
                                                max_steps=settings.max_steps, data=settings.data))


def check_finite_weights(model, step: int, settings: LoopSettings) -> None:
    """The last optimizer step can turn the weights into NaN after the last loss was checked (an infinite gradient):
    check them once before the run is saved. Every process holds the same weights, so all raise together."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not bool(torch.isfinite(param).all()):
                raise UsageError(WEIGHTS_NOT_FINITE.format(description=settings.description, step=step,
                                                           max_steps=settings.max_steps, name=name,
                                                           data=settings.data))


def _log_point(accelerator, window: list[torch.Tensor], step: int, scheduler, tokens: int, seconds: float,
               settings: LoopSettings) -> dict:
    loss = accelerator.reduce(torch.stack(window).float().mean(), reduction="mean").item() if window else float("nan")
    point = {"step": step, "loss": loss, "lr": scheduler.get_last_lr()[0],
             "tokens_per_s": tokens / seconds if seconds > 0 else 0.0}
    accelerator.log({"train/loss": loss, "train/lr": point["lr"], "train/tokens_per_s": point["tokens_per_s"]},
                    step=step)
    if accelerator.is_main_process:
        logger.log(logging.DEBUG if _interactive(accelerator) else logging.INFO,
                   "%s: step %d/%d loss %.4f lr %.2e tokens/s %.0f", settings.description, step, settings.max_steps,
                   loss, point["lr"], point["tokens_per_s"])
    return point


def init_trackers(accelerator, *, run_id: str, config: dict[str, Any]) -> None:
    """Start the trackers (if any) with a flat, scalar-valued view of the resolved config."""
    if accelerator.log_with:
        accelerator.init_trackers(run_id, config=_flat_scalars(config))


def _flat_scalars(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_scalars(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


@contextlib.contextmanager
def eval_mode(model) -> Iterator[None]:
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train()
