"""The checkpoint a fine-tuning run starts from (``--from``): checked, and identified the way the sweep's plan
identifies it, so their config hashes agree; and its config, checked for what the chosen head needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nlp_underspec import records
from nlp_underspec.config import Recipe
from nlp_underspec.data.hub_datasets import looks_like_hub_id
from nlp_underspec.errors import UsageError
from nlp_underspec.models import (check_config_sizes, config_error, detect_capabilities, is_local, looks_like_path,
                                  remote_code_file, require_encoder)
from nlp_underspec.models.checkpoint import HUB_MODEL_UNAVAILABLE

FROM_NOT_FOUND = ("--from {path} does not exist. Pass a pretraining run folder (e.g. runs/tiny/pretrain/p00), a folder "
                  "saved with save_pretrained, or a Hub model id.")
FROM_NOT_CHECKPOINT = ("--from {path} is not a Hugging Face checkpoint (no config.json). Pass a pretraining run folder "
                       "or a folder saved with save_pretrained.")
FROM_SEED_DISAGREES = ("--pretrain-seed {given} contradicts --from {path}, whose run.json records pretraining seed "
                       "{recorded}. Leave --pretrain-seed out (a run folder's own seed is used), or pass the run of "
                       "seed {given}.")
FROM_UNFINISHED = ("--from {path} is an unfinished run (status '{status}'). Finish it first (re-run the command that "
                   "made it with --out {path}) or pass a complete run.")
FROM_NOT_LOADABLE = "--from {name} could not be loaded as a model ({reason})."
FROM_NOT_BERT = ("--from {name} is a '{model_type}' model; the coref span_pair head is built on BERT encoders "
                 "(model_type 'bert'). Use a BERT checkpoint, or head: ranking with a masked-LM checkpoint.")
FROM_WITHOUT_MLM = ("--from {name} has no masked-LM head (architectures: {architectures}), and the coref ranking head "
                    "scores candidates with it. Use a masked-LM checkpoint, or set finetune.tasks.coref.head: "
                    "span_pair.")
FROM_NEEDS_REMOTE_CODE = ("--from {name} ships its own Python code (auto_map in {file}), which fine-tuning never runs: "
                          "loaded as a plain '{model_type}' it would be another model than its author's. Fine-tune a "
                          "checkpoint without custom code.")


@dataclass(frozen=True)
class StartingPoint:
    """The checkpoint a fine-tuning run starts from, and what the run records about it."""

    checkpoint: str  # path or Hub id passed to from_pretrained
    identity: str  # ``parent`` in the resolved config: a pretraining run's config hash, else the path/id as given
    pretrain_seed: int | None  # from the parent's run.json when it has one


def resolve_starting_point(from_checkpoint: str | os.PathLike, recipe: Recipe, *,
                           pretrain_seed: int | None = None) -> StartingPoint:
    """Check ``--from`` and work out its identity, the way the sweep's plan does (so config hashes agree).

    A pretraining run of this recipe (run.json of kind ``pretrain``, recipe without ``finetune.from_checkpoints``) is
    identified by its config hash; anything else by the path or id exactly as given.
    """
    text = str(from_checkpoint)
    path = Path(text)
    if not path.exists():
        if looks_like_hub_id(text) and not looks_like_path(text):  # the rule evaluate's models.check_checkpoint uses
            return StartingPoint(text, text, pretrain_seed)
        raise UsageError(FROM_NOT_FOUND.format(path=text))
    if not (path / "config.json").is_file():
        raise UsageError(FROM_NOT_CHECKPOINT.format(path=text))
    record = records.read_run_record(path)
    if record is None:
        return StartingPoint(text, text, pretrain_seed)
    if record.get("status") != records.STATUS_COMPLETE:
        raise UsageError(FROM_UNFINISHED.format(path=text, status=record.get("status")))
    recorded_seed = (record.get("seeds") or {}).get("pretrain_seed")
    if recorded_seed is not None and pretrain_seed is not None and pretrain_seed != recorded_seed:
        raise UsageError(FROM_SEED_DISAGREES.format(given=pretrain_seed, path=text, recorded=recorded_seed))
    seed = recorded_seed if recorded_seed is not None else pretrain_seed
    if record.get("kind") == "pretrain" and not recipe.finetune.from_checkpoints:
        return StartingPoint(text, record["config_hash"], seed)
    return StartingPoint(text, text, seed)


def load_model_config(start: StartingPoint, head: str):
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(start.checkpoint, trust_remote_code=False)
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        if isinstance(err, OSError) and not is_local(start.checkpoint):  # offline, or no such repo: what evaluate says
            raise UsageError(HUB_MODEL_UNAVAILABLE.format(checkpoint=start.checkpoint, reason=reason)) from None
        raise UsageError(FROM_NOT_LOADABLE.format(name=start.checkpoint, reason=reason)) from None
    except Exception as err:  # noqa: BLE001 - a field of config.json with the wrong type fails as anything
        raise config_error(err, start.checkpoint) from None
    check_config_sizes(config, start.checkpoint)
    code = remote_code_file(start.checkpoint, config)  # transformers would ignore it and load the plain model
    if code:
        raise UsageError(FROM_NEEDS_REMOTE_CODE.format(name=start.checkpoint, file=code, model_type=config.model_type))
    if head == "span_pair" and config.model_type != "bert":
        raise UsageError(FROM_NOT_BERT.format(name=start.checkpoint, model_type=config.model_type))
    if head == "bi_encoder":
        require_encoder(start.checkpoint, config)
    if head == "ranking":
        caps = detect_capabilities(config)
        if not caps.mlm:
            raise UsageError(FROM_WITHOUT_MLM.format(name=start.checkpoint,
                                                     architectures=", ".join(caps.architectures) or "none"))
    return config


def parent_identity(from_checkpoint: str | os.PathLike, recipe: Recipe) -> str:
    """The ``parent`` a fine-tuning run from ``from_checkpoint`` records in its resolved config."""
    return resolve_starting_point(from_checkpoint, recipe).identity
