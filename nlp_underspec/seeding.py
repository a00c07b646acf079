"""The one home of seeding. Seeds are data: every random choice in a run derives from a recorded seed.

- ``pretrain_seed`` sets weight init and data order of pretraining (as in MultiBERTs).
- ``finetune_seed`` is split into ``init_seed`` (head init, dropout) and ``data_seed`` (shuffle order); each defaults to
  a value derived from ``finetune_seed`` and either can be pinned while the other varies (Dodge et al. 2020).
- MLM masking has its own ``mask_seed`` and is a pure function of (mask_seed, epoch, batch index): nothing about it
  lives in generator state, so a resumed run masks exactly as an uninterrupted one.
- Same seeds give bit-identical weights only within one :func:`determinism_scope` (torch thread count, the CPU
  instruction set torch dispatches to, architecture, device type); every run record carries it.

Derived seeds come from a hash, not from ``seed + offset``, so seeds 1 and 2 of one stream never collide with another.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
from dataclasses import dataclass

import numpy as np

from nlp_underspec.errors import UsageError

SEED_MAX = 2**31 - 1  # numpy's legacy RandomState and torch both accept this range
DEFAULT_THREADS = 2
# What must match for same seeds to give the same bits; run records hold these fields under these names.
SCOPE_FIELDS = ("torch_threads", "cpu_capability", "machine", "device")

# One bound for every bootstrap and permutation count (--n-boot, --nboot, evaluate.n_boot): a percentile interval's
# Monte Carlo error at a million draws is far below any digit reported, while far larger counts only ask numpy for
# terabytes and die with a traceback, after the models ran.
DRAWS_MAX = 1_000_000
# One bound for torch thread counts (--threads, a recipe's threads), fixed rather than per machine so that a recipe
# valid here is valid on every machine; at tens of thousands the OpenMP runtime cannot map its thread stacks and the
# run dies with an ImportError or a segfault instead of a message.
THREADS_MAX = 512

SEED_NOT_INT = "Seed '{name}' must be a non-negative integer (at most 2147483647), got {value!r}."
TOO_LARGE = "must be at most {most:,}, got {value:,}: {why}"
DRAWS_WHY = "more draws change no digit reported and only exhaust memory."
THREADS_WHY = "more threads than that cannot start (use about one per CPU core)."


def check_seed(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 or value > SEED_MAX:
        raise UsageError(SEED_NOT_INT.format(name=name, value=value))
    return int(value)


def too_large(value: int, most: int) -> str | None:
    """The problem text of a draw or thread count above its bound (``most``: :data:`DRAWS_MAX` or
    :data:`THREADS_MAX`), for a message that names the flag or recipe key first; None when within it."""
    if value <= most:
        return None
    return TOO_LARGE.format(most=most, value=value, why=DRAWS_WHY if most == DRAWS_MAX else THREADS_WHY)


def derive_seed(seed: int, *stream: object) -> int:
    """A seed for ``stream`` (e.g. ``("mask",)`` or ``("mask", epoch, batch)``) derived from ``seed``; stable across runs.

    >>> derive_seed(3, "init") == derive_seed(3, "init")
    True
    >>> derive_seed(3, "init") != derive_seed(3, "data")
    True
    """
    key = ":".join([str(int(seed)), *map(str, stream)]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") % SEED_MAX


@dataclass(frozen=True)
class FinetuneSeeds:
    finetune_seed: int
    init_seed: int
    data_seed: int

    @classmethod
    def resolve(cls, finetune_seed: int, *, init_seed: int | None = None, data_seed: int | None = None) -> "FinetuneSeeds":
        finetune_seed = check_seed("finetune_seed", finetune_seed)
        init = derive_seed(finetune_seed, "init") if init_seed is None else check_seed("init_seed", init_seed)
        data = derive_seed(finetune_seed, "data") if data_seed is None else check_seed("data_seed", data_seed)
        return cls(finetune_seed, init, data)


def default_mask_seed(pretrain_seed: int) -> int:
    return derive_seed(pretrain_seed, "mask")


def pin_threads(num_threads: int | None = None) -> int:
    """Fix torch's intra-op thread count (CPU weights are bit-identical only at the same count) and return it."""
    import torch

    n = int(num_threads or os.environ.get("NLP_UNDERSPEC_THREADS", 0) or DEFAULT_THREADS)
    torch.set_num_threads(n)
    return n


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels dispatch to ("AVX2", "AVX512", "DEFAULT", ...).

    Kernels of different widths sum in different orders, so the same run on an AVX2 and an AVX-512 CPU ends with
    different weights even at the same thread count.
    """
    import torch

    return torch.backends.cpu.get_cpu_capability()


def determinism_scope(device=None) -> dict:
    """Where same seeds give bit-identical weights: :data:`SCOPE_FIELDS` as they are now.

    ``device`` (a ``torch.device`` or a name such as "cuda:0") is recorded by type; None while it is not yet known.
    The thread count is read back from torch rather than taken from the recipe, since accelerate may reset it.
    """
    import torch

    device_type = torch.device(device).type if device is not None else None
    values = (torch.get_num_threads(), cpu_capability(), platform.machine() or None, device_type)
    return dict(zip(SCOPE_FIELDS, values))


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed python, numpy and torch global generators (weight init and dropout draw from torch's)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def torch_generator(seed: int, *stream: object):
    """A fresh ``torch.Generator`` for one purpose (data order, masking of one batch), independent of global state."""
    import torch

    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, *stream) if stream else int(seed))
    return generator


def numpy_rng(seed: int, *stream: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *stream) if stream else int(seed))
