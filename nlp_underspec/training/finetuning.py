"""Seeded, resumable fine-tuning of a checkpoint on one task: ``stsb`` (regression) or ``coref`` (candidate scoring),
with one of the task's heads (``config.TASK_HEADS``; the head classes are in :mod:`nlp_underspec.modeling`).

The fine-tuning seed is split into ``init_seed`` (head init and dropout: torch's global generator) and ``data_seed``
(the shuffle order and any training subsample: generators of their own), so either can be pinned while the other
varies (Dodge et al. 2020). Both are recorded in ``run.json``, with the dev metrics (``dev_pearson``/``dev_spearman``
for stsb, ``dev_accuracy`` for coref; ``dev_loss`` for both: MSE on the 0-5 scale, cross-entropy over candidates). The
run folder is a standard HF checkpoint plus the tokenizer: ``BertForSequenceClassification`` (``num_labels=1``) for the
stsb ``cross_encoder``, a plain encoder for ``bi_encoder``; :class:`~nlp_underspec.modeling.BertForCandidateScoring`
for the coref ``span_pair`` head, a plain masked LM for ``ranking``, a one-output sequence classifier marked
``candidate_cross_encoder`` for the coref ``cross_encoder``.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nlp_underspec import records
from nlp_underspec.config import Recipe, TaskConfig, WorldConfig, finetune_run_config, task_head, task_sources
from nlp_underspec.data.hub_datasets import looks_like_hub_id
from nlp_underspec.data.stsb import MAX_SCORE, MIN_SCORE
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.models import (HUB_MODEL_UNAVAILABLE, check_config_sizes, check_pad_token, config_error, is_local,
                                   looks_like_path, max_tokens, remote_code_file, require_encoder)
from nlp_underspec.seeding import FinetuneSeeds, check_seed, numpy_rng, pin_threads, seed_everything
from nlp_underspec.training import loop, runs
from nlp_underspec.training.tokenizer import check_tokenizer_fits_model, load_tokenizer

logger = logging.getLogger(__name__)

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
GIVEN_BAD_STS_GOLD = "{where}: gold similarity {label!r} is not a finite number from 0 to 5 (the STS-B scale)."
NO_TRAINING_DATA = "Task '{task}': the '{split}' split of {source} holds no labelled examples to train on."
NO_DEV_LABELS = "Task '{task}': the '{split}' split of {source} holds no labelled examples to evaluate on."
DEV_IS_TRAINING_DATA = ("Task '{task}': dev set '{name}' is the training file {source} (one file is its own every "
                        "split), so its dev metrics are measured on training examples, not held-out ones. Name a "
                        "held-out file in dev_data.")


# ----------------------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Head:
    """How one head of a task builds its model and batches examples."""

    build_model: Callable[[str], torch.nn.Module]  # checkpoint -> model with a freshly initialised head
    collate: Callable[[Any, int], Callable[[list], dict]]  # (tokenizer, max_length) -> collate_fn


@dataclass(frozen=True)
class Task:
    """How one task loads data, which heads it can train, and how it scores the dev split."""

    name: str
    load: Callable[[str, str, WorldConfig], list]  # (source, split, world) -> labelled examples
    heads: dict[str, Head]  # config.TASK_HEADS[name] -> Head
    predictions: Callable[[Any], torch.Tensor]  # model output -> (B,) or (B, C) predictions
    score: Callable[[np.ndarray, np.ndarray], dict[str, float | None]]  # (predictions, golds) -> dev metrics


def _load_sts_examples(source: str, split: str, world: WorldConfig) -> list[tuple[str, str, float]]:
    from nlp_underspec.data.sources import load_sts_pairs

    frame = load_sts_pairs(source, split, world)
    labelled = frame[np.isfinite(frame["label"].to_numpy(dtype=float))]
    return list(zip(labelled["sentence1"].astype(str), labelled["sentence2"].astype(str),
                    labelled["label"].astype(float)))


def _load_coref_examples(source: str, split: str, world: WorldConfig) -> list:
    from nlp_underspec.data.sources import load_coref_examples

    return [e for e in load_coref_examples(source, split, world) if e.label is not None]


# The builders load through models.load_checked: the encoder must load whole (a random encoder fine-tuned would be
# garbage recorded as complete). The cross-encoder's and span-pair's heads are new on purpose (fresh_head); the
# ranking head is the checkpoint's own masked-LM head, so it must be there.


def _build_sts_model(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    from nlp_underspec.models import load_checked

    return load_checked(AutoModelForSequenceClassification, checkpoint, "cross", fresh_head=True, num_labels=1,
                        problem_type="regression", trust_remote_code=False)


def _build_bi_encoder(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModel

    from nlp_underspec.modeling import CosineSimilarityRegressor
    from nlp_underspec.models import load_checked

    return CosineSimilarityRegressor(load_checked(AutoModel, checkpoint, "bi", add_pooling_layer=False,
                                                  trust_remote_code=False))


def _build_coref_model(checkpoint: str) -> torch.nn.Module:
    from nlp_underspec.modeling import BertForCandidateScoring
    from nlp_underspec.models import load_checked

    return load_checked(BertForCandidateScoring, checkpoint, "coref", fresh_head=True, trust_remote_code=False)


def _build_ranker(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModelForMaskedLM

    from nlp_underspec.modeling import CandidateRanker
    from nlp_underspec.models import load_checked

    return CandidateRanker(load_checked(AutoModelForMaskedLM, checkpoint, "mlm", trust_remote_code=False))


def _build_candidate_cross_encoder(checkpoint: str, statement: str = "probe") -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    from nlp_underspec.modeling import CandidateCrossEncoder
    from nlp_underspec.models import load_checked

    return CandidateCrossEncoder(load_checked(AutoModelForSequenceClassification, checkpoint, "cross",
                                              fresh_head=True, num_labels=1, trust_remote_code=False), statement)


def _build_substitution_cross_encoder(checkpoint: str) -> torch.nn.Module:
    return _build_candidate_cross_encoder(checkpoint, "substitution")


def _sts_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    def collate(examples: list[tuple[str, str, float]]) -> dict[str, torch.Tensor]:
        first, second, labels = zip(*examples)
        batch = dict(tokenizer(list(first), list(second), padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt"))  # each (B, T)
        batch["labels"] = torch.tensor(labels, dtype=torch.float32)  # (B,)
        return batch

    return collate


def _bi_encoder_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.modeling import encode_sentence_pairs

    def collate(examples: list[tuple[str, str, float]]) -> dict[str, torch.Tensor]:
        return encode_sentence_pairs(tokenizer, examples, max_length=max_length)

    return collate


def _coref_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.modeling import encode_candidate_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_candidate_examples(tokenizer, examples, max_length=max_length)

    return collate


def _ranking_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.modeling import encode_ranking_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_ranking_examples(tokenizer, examples, max_length=max_length)

    return collate


def _pair_collate(tokenizer, max_length: int, statement: str = "probe") -> Callable[[list], dict]:
    from nlp_underspec.modeling import encode_pair_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_pair_examples(tokenizer, examples, max_length=max_length, statement=statement)

    return collate


def _substitution_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    return _pair_collate(tokenizer, max_length, "substitution")


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None  # run.json is strict JSON: no NaN


def _score_sts(predictions: np.ndarray, golds: np.ndarray) -> dict[str, float | None]:
    from scipy import stats

    loss = _finite(np.mean((predictions - golds) ** 2)) if len(golds) else None  # on the gold's 0-5 scale
    if len(predictions) < 2 or np.std(predictions) == 0 or np.std(golds) == 0:
        return {"dev_pearson": None, "dev_spearman": None, "dev_loss": loss, "n_dev": int(len(golds))}
    return {"dev_pearson": _finite(stats.pearsonr(predictions, golds)[0]),
            "dev_spearman": _finite(stats.spearmanr(predictions, golds)[0]), "dev_loss": loss, "n_dev": int(len(golds))}


def _score_coref(logits: np.ndarray, golds: np.ndarray) -> dict[str, float | None]:
    """Accuracy of the top candidate, and the log-loss (mean cross-entropy over the candidates) that ranks resolvers
    whose accuracies tie."""
    golds = golds.astype(np.int64)
    with np.errstate(invalid="ignore"):  # padded candidate slots hold -inf
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
    loss = float(np.mean(log_norm - shifted[np.arange(len(golds)), golds]))
    return {"dev_accuracy": _tie_aware_accuracy(logits, golds), "dev_loss": _finite(loss), "n_dev": int(len(golds))}


def _tie_aware_accuracy(logits: np.ndarray, golds: np.ndarray) -> float:
    """Share of examples whose gold candidate scores highest, a tie among k top candidates counting 1/k (an argmax
    would give every tie to candidate 0: a resolver that scores all candidates alike would be perfect on data that
    lists the answer first, as WSC273's 4-line file and WikiCREM do).

    >>> _tie_aware_accuracy(np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]]), np.array([0, 0, 0]))
    0.5
    """
    top = logits == logits.max(axis=1, keepdims=True)  # (B, C)
    return float(np.mean(top[np.arange(len(golds)), golds] / top.sum(axis=1)))


TASK_REGISTRY: dict[str, Task] = {
    "stsb": Task("stsb", _load_sts_examples,
                 {"cross_encoder": Head(_build_sts_model, _sts_collate),
                  "bi_encoder": Head(_build_bi_encoder, _bi_encoder_collate)},
                 predictions=lambda output: output.logits.reshape(len(output.logits), -1)[:, 0], score=_score_sts),
    "coref": Task("coref", _load_coref_examples,
                  {"span_pair": Head(_build_coref_model, _coref_collate),
                   "ranking": Head(_build_ranker, _ranking_collate),
                   "cross_encoder": Head(_build_candidate_cross_encoder, _pair_collate),
                   "substitution": Head(_build_substitution_cross_encoder, _substitution_collate)},
                  predictions=lambda output: output.logits, score=_score_coref),
}


def get_task(name: str) -> Task:
    if name not in TASK_REGISTRY:
        raise UsageError(unknown_name_message("task", name, TASK_REGISTRY))
    return TASK_REGISTRY[name]


def _gold(example) -> float:
    return example[2] if isinstance(example, tuple) else example.label


# ----------------------------------------------------------------------------------------------------- checkpoints


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


def _load_model_config(start: StartingPoint, head: str):
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
        from nlp_underspec.models import detect_capabilities

        caps = detect_capabilities(config)
        if not caps.mlm:
            raise UsageError(FROM_WITHOUT_MLM.format(name=start.checkpoint,
                                                     architectures=", ".join(caps.architectures) or "none"))
    return config


# ------------------------------------------------------------------------------------------------------------ data


class CyclingExamples(Dataset):
    """A list of examples indexed by the loop's virtual indices (epoch * n + i)."""

    def __init__(self, examples: Sequence):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, virtual_index: int):
        return self.examples[int(virtual_index) % len(self.examples)]


def subsample(examples: list, *, limit: int | None, data_seed: int) -> list:
    """At most ``limit`` examples, drawn by the data seed (original order kept)."""
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.sort(numpy_rng(data_seed, "subsample").choice(len(examples), size=limit, replace=False))
    return [examples[i] for i in keep]


def build_loop_settings(settings: TaskConfig, *, n_train: int, description: str,
                        data: str = "as configured") -> loop.LoopSettings:
    max_steps = settings.max_steps or loop.steps_for_epochs(n_train, epochs=settings.epochs,
                                                            batch_size=settings.batch_size)
    return loop.LoopSettings(max_steps=max_steps, batch_size=settings.batch_size, grad_accum=settings.grad_accum,
                             lr=settings.lr, weight_decay=settings.weight_decay,
                             warmup_steps=int(round(settings.warmup_ratio * max_steps)),
                             max_grad_norm=settings.max_grad_norm, save_state_every=settings.save_state_every,
                             log_every=max(1, min(50, max_steps // 20)), description=description, data=data)


# ------------------------------------------------------------------------------------------------------------- run


def finetune(recipe: Recipe, *, task: str, from_checkpoint: str | os.PathLike, finetune_seed: int,
             out: str | os.PathLike, init_seed: int | None = None, data_seed: int | None = None,
             pretrain_seed: int | None = None, train: Sequence | None = None, dev: Sequence | None = None,
             log_with: Sequence[str] | None = None, overwrite: bool = False,
             inputs: Sequence = ()) -> records.RunRecord:
    """Fine-tune ``from_checkpoint`` on ``task`` into ``out`` (or resume, or skip if complete); returns the record.

    ``init_seed`` / ``data_seed`` default to the recipe's ``seeds.init_seed`` / ``seeds.data_seed``, else to values
    derived from ``finetune_seed``. ``pretrain_seed`` labels an outside checkpoint (a run folder's own seed wins).
    ``train`` / ``dev`` replace the recipe's data (library use and tests): (sentence1, sentence2, score) tuples for
    stsb, :class:`~nlp_underspec.data.coref.CorefExample` for coref. ``inputs``: other paths the caller read (the
    recipe file), which ``overwrite`` must not delete, beside the checkpoint and the task's data.
    """
    spec = get_task(task)
    settings = _task_settings(recipe, task)
    seeds = FinetuneSeeds.resolve(finetune_seed, init_seed=recipe.seeds.init_seed if init_seed is None else init_seed,
                                  data_seed=recipe.seeds.data_seed if data_seed is None else data_seed)
    if pretrain_seed is not None:
        pretrain_seed = check_seed("pretrain_seed", pretrain_seed)
    start = resolve_starting_point(from_checkpoint, recipe, pretrain_seed=pretrain_seed)
    trackers = loop.check_trackers(recipe.log_with if log_with is None else tuple(log_with))
    pin_threads(recipe.threads)
    run = runs.open_run_folder(
        out, run_id=records.finetune_run_id(start.pretrain_seed, seeds.finetune_seed), kind="finetune",
        seeds={"pretrain_seed": start.pretrain_seed, "finetune_seed": seeds.finetune_seed,
               "init_seed": seeds.init_seed, "data_seed": seeds.data_seed},
        config=finetune_run_config(recipe, task, parent=start.identity), overwrite=overwrite, task=task,
        parent=start.checkpoint, inputs=[start.checkpoint, *task_sources(settings), *(settings.dev_data or {}).values(),
                                               *inputs])
    if run.complete:
        return run.record
    head = task_head(task, settings)
    model_config = _load_model_config(start, head)
    tokenizer = load_tokenizer(start.checkpoint)
    check_pad_token(tokenizer, start.checkpoint, purpose="fine-tuning")
    check_tokenizer_fits_model(tokenizer, model_vocab_size=model_config.vocab_size, name=start.checkpoint)
    train_examples = _training_examples(spec, settings, recipe.world, train)
    dev_sets = _dev_sets(spec, settings, recipe.world, dev)
    train_examples = subsample(train_examples, limit=settings.max_train_examples, data_seed=seeds.data_seed)
    loop_settings = build_loop_settings(settings, n_train=len(train_examples),
                                        description=f"{task} {run.record.run_id}",
                                        data=_data_name(settings, "train", train))
    accelerator = loop.build_accelerator(grad_accum=settings.grad_accum, log_with=trackers,
                                         project_dir=run.path / "logs")
    loop.check_batch_split(accelerator, loop_settings, f"finetune.tasks.{task}.batch_size")
    loop.check_resumable(run.path, loop_settings)  # a tampered resume state: refused before the record says "running"
    run.record_scope(accelerator.device)
    record = run.start() if accelerator.is_main_process else run.record
    try:
        metrics = _train_and_evaluate(accelerator, record, run.path, spec, spec.heads[head], settings, loop_settings,
                                      start, tokenizer, train_examples, dev_sets, seeds)
    except BaseException as err:
        if accelerator.is_main_process:
            records.mark_failed(run.path, record, records.failure_text(err))
        raise
    if accelerator.is_main_process:
        records.mark_complete(run.path, record, metrics)
    accelerator.end_training()
    return record


def _task_settings(recipe: Recipe, task: str) -> TaskConfig:
    finetune_run_config(recipe, task, parent="")  # raises the recipe's "unknown task ... Available" message
    return recipe.finetune.tasks[task]


def check_task_data(recipe: Recipe, task: str) -> None:
    """Load a task's train and dev splits once, as a run would, so a sweep meets a wrong path, layout, label or encoding
    before its first run rather than in every fine-tuning run after the whole pretraining grid."""
    spec, settings = get_task(task), _task_settings(recipe, task)
    _training_examples(spec, settings, recipe.world, None)
    _dev_sets(spec, settings, recipe.world, None)


def _training_examples(spec: Task, settings: TaskConfig, world: WorldConfig, given: Sequence | None) -> list:
    """The labelled training examples: every source of ``data`` pooled, in the order the sources are listed."""
    if given is not None:
        return _labelled_given(spec, given, "train", settings.train_split)
    return [e for source in task_sources(settings)
            for e in _labelled_source(spec, source, settings.train_split, "train", world)]


def _dev_sets(spec: Task, settings: TaskConfig, world: WorldConfig, given: Sequence | None) -> dict[str, list]:
    """The dev examples by name: ``dev_data``'s names, or one set per source of ``data`` (its ``dev_split``)."""
    if given is not None:
        return {"dev": _labelled_given(spec, given, "dev", settings.dev_split)}
    named = settings.dev_data if settings.dev_data is not None else \
        dict(zip(source_names(task_sources(settings)), task_sources(settings)))
    for name, source in named.items():
        _warn_if_training_data(spec, settings, name, source)
    return {name: _labelled_source(spec, source, settings.dev_split, "dev", world) for name, source in named.items()}


def _warn_if_training_data(spec: Task, settings: TaskConfig, name: str, source: str) -> None:
    """A dev set that is a training file is no held-out set: a single file is its own every split."""
    if source in task_sources(settings) and Path(source).is_file():
        logger.warning(DEV_IS_TRAINING_DATA.format(task=spec.name, name=name, source=source))


def source_names(sources: Sequence[str]) -> list[str]:
    """Metric-name-safe names for the sources of ``data``: a file as folder and stem, a folder by its name,
    lowercased with ``_`` for anything else (numbered when two would be alike).

    >>> source_names(["data/dpr/train.c.txt", "data/winogrande/train_l.jsonl", "data/gap", "synthetic"])
    ['dpr_train_c', 'winogrande_train_l', 'gap', 'synthetic']
    """
    names: list[str] = []
    for source in sources:
        path = Path(str(source))
        words = f"{path.parent.name} {path.name.rsplit('.', 1)[0]}" if path.suffix else path.name
        name = re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_") or "source"
        name = name if name[0].isalpha() else f"source_{name}"
        names.append(f"{name}_{len(names)}" if name in names else name)
    return names


def _labelled_source(spec: Task, source: str, split: str, which: str, world: WorldConfig) -> list:
    # the loaders check each labelled row, naming file and line
    return _with_gold(spec, spec.load(source, split, world), which, split, f"'{source}'")


def _labelled_given(spec: Task, given: Sequence, which: str, split: str) -> list:
    examples = [_check_given(spec, example, which, index) for index, example in enumerate(given)]
    return _with_gold(spec, examples, which, split, "the given examples")


def _with_gold(spec: Task, examples: list, which: str, split: str, source: str) -> list:
    """The examples that have a gold label (an unlabelled row is left out, as a file's empty score); none is an error."""
    examples = [e for e in examples if _gold(e) is not None and np.isfinite(float(_gold(e)))]
    if not examples:
        message = NO_TRAINING_DATA if which == "train" else NO_DEV_LABELS
        raise UsageError(message.format(task=spec.name, split=split, source=source))
    return examples


def _check_given(spec: Task, example, which: str, index: int):
    """A given example (library use) is held to what the loaders check: STS gold finite and 0-5, a coref label an
    index into its candidates. ``None`` means unlabelled (left out, like a file's empty score)."""
    where = f"Task '{spec.name}': given {which} example {index}"
    if spec.name == "coref":
        return example.validate(where)
    label = _gold(example)
    if label is not None and not (isinstance(label, numbers.Real) and not isinstance(label, bool)
                                  and MIN_SCORE <= label <= MAX_SCORE):  # NaN fails the comparison too
        raise UsageError(GIVEN_BAD_STS_GOLD.format(where=where, label=label))
    return example


def _data_name(settings: TaskConfig, which: str, given: Sequence | None) -> str:
    """The training data as a loss message names it."""
    split = settings.train_split if which == "train" else settings.dev_split
    named = ", ".join(f"'{source}'" for source in task_sources(settings))
    return "the given examples" if given is not None else f"{named}, {split} split"


def _max_length(model, tokenizer, wanted: int) -> int:
    """``max_seq_length``, cut to what the checkpoint takes (a 64-position model fine-tuned with 128 would crash)."""
    limit = max_tokens(model, tokenizer)
    if wanted > limit:
        logger.warning("max_seq_length %d is more than the checkpoint's %d positions: using %d", wanted, limit, limit)
    return min(wanted, limit)


def _train_and_evaluate(accelerator, record, run_path: Path, spec: Task, head: Head, settings: TaskConfig,
                        loop_settings: loop.LoopSettings, start: StartingPoint, tokenizer, train_examples: list,
                        dev_sets: dict[str, list], seeds: FinetuneSeeds) -> dict[str, Any]:
    seed_everything(seeds.init_seed)  # the new head's init and every dropout mask draw from here
    model = head.build_model(start.checkpoint)
    collate = head.collate(tokenizer, _max_length(model, tokenizer, settings.max_seq_length))
    dataset = CyclingExamples(train_examples)
    sampler = loop.EpochShuffleSampler(len(dataset), seed=seeds.data_seed,
                                       total=loop_settings.max_steps * loop_settings.batch_size)
    dataloader = loop.build_dataloader(dataset, sampler=sampler, batch_size=loop_settings.micro_batch_size,
                                       collate_fn=collate)
    dev_loaders = [DataLoader(examples, batch_size=loop_settings.micro_batch_size, shuffle=False, collate_fn=collate)
                   for examples in dev_sets.values()]
    optimizer = loop.build_optimizer(model, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = loop.build_scheduler(optimizer, warmup_steps=loop_settings.warmup_steps,
                                     max_steps=loop_settings.max_steps)
    model, optimizer, dataloader, *dev_loaders = accelerator.prepare(model, optimizer, dataloader, *dev_loaders)
    loop.init_trackers(accelerator, run_id=f"{spec.name}-{record.run_id}", config=record.config)
    result = loop.run_training_loop(accelerator=accelerator, model=model, optimizer=optimizer, scheduler=scheduler,
                                    dataloader=dataloader, settings=loop_settings, run_folder=run_path)
    dev_metrics = evaluate_dev(accelerator, model, dict(zip(dev_sets, dev_loaders)), spec,
                               by_source=len(dev_sets) > 1 or settings.dev_data is not None)
    accelerator.log({f"dev/{k}": v for k, v in dev_metrics.items() if isinstance(v, float)}, step=result.steps)
    save_finetuned(accelerator, model, tokenizer, run_path)
    if accelerator.is_main_process:
        loop.remove_state(run_path)
    logger.info("%s %s: %s", spec.name, record.run_id, dev_metrics)
    return {**dev_metrics, "head": task_head(spec.name, settings), "steps": result.steps, "final_loss": _finite(result.final_loss),
            "resumed_from_step": result.resumed_from, "train_seconds": round(result.seconds, 3),
            "n_train": len(train_examples), "epochs": round(result.steps * loop_settings.batch_size /
                                                            len(train_examples), 3),
            "num_processes": accelerator.num_processes, "mixed_precision": str(accelerator.mixed_precision),
            "device": str(accelerator.device)}


def evaluate_dev(accelerator, model, dev_loaders: dict, spec: Task, *, by_source: bool = False) -> dict[str, Any]:
    """Predictions over every dev set on every process, gathered, then scored: pooled over all sets (``dev_accuracy``
    ...), and with ``by_source`` also per set (``dev_accuracy_<name>`` ...), listed in ``dev_sources``."""
    scored = {name: _dev_predictions(accelerator, model, loader, spec) for name, loader in dev_loaders.items()}
    pooled = spec.score(np.concatenate([p for p, _ in scored.values()]), np.concatenate([g for _, g in scored.values()]))
    if not by_source:
        return pooled
    for name, (predictions, golds) in scored.items():
        pooled.update({f"{metric}_{name}": value for metric, value in spec.score(predictions, golds).items()})
    return {**pooled, "dev_sources": list(scored)}


def _dev_predictions(accelerator, model, dev_loader, spec: Task) -> tuple[np.ndarray, np.ndarray]:
    predictions, golds = [], []
    with loop.eval_mode(model):
        for batch in dev_loader:
            labels = batch.pop("labels")
            output = model(**batch)
            gathered = accelerator.gather_for_metrics((spec.predictions(output).float(), labels.float()))
            predictions.append(gathered[0].cpu())
            golds.append(gathered[1].cpu())
    return torch.cat(predictions).numpy(), torch.cat(golds).numpy()


def save_finetuned(accelerator, model, tokenizer, folder: Path) -> None:
    accelerator.wait_for_everyone()
    accelerator.unwrap_model(model).save_pretrained(folder, is_main_process=accelerator.is_main_process,
                                                    save_function=accelerator.save)
    if accelerator.is_main_process:
        tokenizer.save_pretrained(folder)
    accelerator.wait_for_everyone()


def parent_identity(from_checkpoint: str | os.PathLike, recipe: Recipe) -> str:
    """The ``parent`` a fine-tuning run from ``from_checkpoint`` records in its resolved config."""
    return resolve_starting_point(from_checkpoint, recipe).identity


__all__ = ["finetune", "get_task", "parent_identity", "resolve_starting_point", "TASK_REGISTRY"]
