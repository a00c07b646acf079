"""Who a checkpoint is: its run id and seeds.

Seeds of checkpoints the toolkit did not train come from, in order: the checkpoint's ``run.json``, its model card
metadata (``pretrain_seed`` / ``finetune_seed`` / ``seed`` in the README front matter), a ``--seed-pattern`` regex
with named groups over the model name or path (an error when it reads no integer seed from a model it is asked
about), else nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nlp_underspec.errors import UsageError
from nlp_underspec.models.checkpoint import read_checkpoint_file
from nlp_underspec.seeding import SEED_MAX

BAD_SEED_PATTERN = "--seed-pattern {pattern!r} is not a valid regular expression ({error})."
SEED_PATTERN_NO_GROUPS = ("--seed-pattern {pattern!r} has no named group pretrain_seed or finetune_seed, e.g. "
                          r"'seed_(?P<pretrain_seed>\d+)'.")
SEED_PATTERN_NO_SEED = ("--seed-pattern {pattern!r} gives no integer seed for model {checkpoint} ({detail}). Fix the "
                        "pattern, or leave out --seed-pattern when the model names hold no seeds.")


@dataclass(frozen=True)
class CheckpointOrigin:
    """Who a checkpoint is: its run id and kind when the toolkit trained it, its seeds and where they came from."""

    pretrain_seed: int | None = None
    finetune_seed: int | None = None
    seeds_from: str | None = None  # "run.json" | "model card" | "--seed-pattern" | None
    run_id: str | None = None
    kind: str = "external"  # pretrained | finetuned | external


def compile_seed_pattern(pattern: str | None) -> re.Pattern | None:
    if not pattern:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise UsageError(BAD_SEED_PATTERN.format(pattern=pattern, error=err)) from None
    if not {"pretrain_seed", "finetune_seed"} & set(compiled.groupindex):
        raise UsageError(SEED_PATTERN_NO_GROUPS.format(pattern=pattern))
    return compiled


def checkpoint_origin(checkpoint: str, *, seed_pattern: str | re.Pattern | None = None,
                      name: str | None = None) -> CheckpointOrigin:
    """Seeds (and run id) of a checkpoint: run.json, else card metadata, else ``seed_pattern``, else none.

    The pattern reads ``name`` (default: ``checkpoint``): the model as the user wrote it, since a resolved path also
    holds parent folders the user never typed, whose names could match.

    >>> checkpoint_origin("google/multiberts-seed_3", seed_pattern=r"seed_(?P<pretrain_seed>\\d+)").pretrain_seed
    3
    """
    record = read_checkpoint_file(checkpoint, "run.json")
    if isinstance(record, dict) and isinstance(record.get("seeds"), dict):
        seeds = record["seeds"]
        kind = {"pretrain": "pretrained", "finetune": "finetuned"}.get(str(record.get("kind")), "external")
        return CheckpointOrigin(_int_or_none(seeds.get("pretrain_seed")), _int_or_none(seeds.get("finetune_seed")),
                                "run.json", record.get("run_id"), kind)
    card = _card_metadata(checkpoint)
    if card:
        pretrain = card.get("pretrain_seed", card.get("seed"))
        finetune = card.get("finetune_seed")
        if _int_or_none(pretrain) is not None or _int_or_none(finetune) is not None:
            return CheckpointOrigin(_int_or_none(pretrain), _int_or_none(finetune), "model card")
    pattern = compile_seed_pattern(seed_pattern) if isinstance(seed_pattern, str) else seed_pattern
    if pattern is not None:
        return _seeds_from_pattern(pattern, str(name if name is not None else checkpoint))
    return CheckpointOrigin()


def _seeds_from_pattern(pattern: re.Pattern, checkpoint: str) -> CheckpointOrigin:
    """The seeds ``pattern`` reads from the name: a pattern the user gave that reads none (no match, or a group
    that captures no integer) is an error, not a model without seeds (its analysis would silently lack them).

    A group that does not take part in the match (an optional finetune_seed on a pretrained model) is no seed."""
    match = pattern.search(checkpoint)
    if match is None:
        raise UsageError(SEED_PATTERN_NO_SEED.format(pattern=pattern.pattern, checkpoint=checkpoint,
                                                     detail="it does not match"))
    groups = {name: value for name, value in match.groupdict().items()
              if name in ("pretrain_seed", "finetune_seed") and value is not None}
    for name, value in groups.items():
        if not re.fullmatch(r"\d+", value):
            raise UsageError(SEED_PATTERN_NO_SEED.format(pattern=pattern.pattern, checkpoint=checkpoint,
                                                         detail=f"{name} captures {value!r}"))
        if int(value) > SEED_MAX:  # a seed no generator takes: it failed only after the model had run
            raise UsageError(SEED_PATTERN_NO_SEED.format(pattern=pattern.pattern, checkpoint=checkpoint,
                                                         detail=f"{name} captures {value}, more than {SEED_MAX}"))
    if not groups:
        raise UsageError(SEED_PATTERN_NO_SEED.format(pattern=pattern.pattern, checkpoint=checkpoint,
                                                     detail="no seed group takes part in the match"))
    return CheckpointOrigin(_int_or_none(groups.get("pretrain_seed")), _int_or_none(groups.get("finetune_seed")),
                            "--seed-pattern")


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _card_metadata(checkpoint: str) -> dict[str, Any]:
    """The YAML front matter of the checkpoint's README.md, or {}."""
    import yaml

    text = read_checkpoint_file(checkpoint, "README.md")
    if not isinstance(text, str) or not text.startswith("---"):
        return {}
    parts = text.split("---", 2)
    if len(parts) < 3:
        return {}
    try:
        data = yaml.safe_load(parts[1])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
