"""Seeded, resumable fine-tuning of a checkpoint on one task (:mod:`nlp_underspec.training.finetune_tasks`): the run.

The fine-tuning seed is split into ``init_seed`` (head init and dropout: torch's global generator) and ``data_seed``
(the shuffle order and any training subsample: generators of their own), so either can be pinned while the other
varies (Dodge et al. 2020). Both are recorded in ``run.json``, with the dev metrics
(:mod:`nlp_underspec.training.dev_evaluation`). The run folder is a standard HF checkpoint plus the tokenizer:
``BertForSequenceClassification`` (``num_labels=1``) for the stsb ``cross_encoder``, a plain encoder for
``bi_encoder``; :class:`~nlp_underspec.models.span_pair_head.BertForCandidateScoring` for the coref ``span_pair``
head, a plain masked LM for ``ranking``, a one-output sequence classifier marked ``candidate_cross_encoder`` for the
coref ``cross_encoder``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import DataLoader

from nlp_underspec import records
from nlp_underspec.config import Recipe, TaskConfig, finetune_run_config, task_head, task_sources
from nlp_underspec.models import check_pad_token, max_tokens
from nlp_underspec.seeding import FinetuneSeeds, check_seed, pin_threads, seed_everything
from nlp_underspec.training import loop, runs
from nlp_underspec.training.dev_evaluation import evaluate_dev, finite
from nlp_underspec.training.finetune_tasks import Head, Task, get_task
from nlp_underspec.training.starting_point import StartingPoint, load_model_config, resolve_starting_point
from nlp_underspec.training.task_data import (CyclingExamples, data_name, labelled_dev_sets,
                                              intervened_training_examples, labelled_training_examples,
                                              subsample, task_settings)
from nlp_underspec.training.tokenizer import check_tokenizer_fits_model, load_training_tokenizer

logger = logging.getLogger(__name__)


def build_loop_settings(settings: TaskConfig, *, n_train: int, description: str,
                        data: str = "as configured") -> loop.LoopSettings:
    max_steps = settings.max_steps or loop.steps_for_epochs(n_train, epochs=settings.epochs,
                                                            batch_size=settings.batch_size)
    return loop.LoopSettings(max_steps=max_steps, batch_size=settings.batch_size, grad_accum=settings.grad_accum,
                             lr=settings.lr, weight_decay=settings.weight_decay,
                             warmup_steps=int(round(settings.warmup_ratio * max_steps)),
                             max_grad_norm=settings.max_grad_norm, save_state_every=settings.save_state_every,
                             log_every=max(1, min(50, max_steps // 20)), description=description, data=data)


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
    settings = task_settings(recipe, task)
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
    model_config = load_model_config(start, head)
    tokenizer = load_training_tokenizer(start.checkpoint)
    check_pad_token(tokenizer, start.checkpoint, purpose="fine-tuning")
    check_tokenizer_fits_model(tokenizer, model_vocab_size=model_config.vocab_size, name=start.checkpoint)
    train_examples = intervened_training_examples(labelled_training_examples(spec, settings, recipe.world, train),
                                                  recipe.intervention)
    dev_sets = labelled_dev_sets(spec, settings, recipe.world, dev)
    train_examples = subsample(train_examples, limit=settings.max_train_examples, data_seed=seeds.data_seed)
    loop_settings = build_loop_settings(settings, n_train=len(train_examples),
                                        description=f"{task} {run.record.run_id}",
                                        data=data_name(settings, "train", train))
    accelerator = loop.build_accelerator(grad_accum=settings.grad_accum, log_with=trackers,
                                         project_dir=run.path / "logs")
    loop.check_batch_split(accelerator, loop_settings, f"finetune.tasks.{task}.batch_size")
    loop.check_resumable(run.path, loop_settings)  # a tampered resume state: refused before the record says "running"
    return run.train_recorded(accelerator, lambda record: _train_and_evaluate(
        accelerator, record, run.path, spec, spec.heads[head], settings, loop_settings, start, tokenizer,
        train_examples, dev_sets, seeds))


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
    return {**dev_metrics, "head": task_head(spec.name, settings), "steps": result.steps, "final_loss": finite(result.final_loss),
            "resumed_from_step": result.resumed_from, "train_seconds": round(result.seconds, 3),
            "n_train": len(train_examples), "epochs": round(result.steps * loop_settings.batch_size /
                                                            len(train_examples), 3),
            "num_processes": accelerator.num_processes, "mixed_precision": str(accelerator.mixed_precision),
            "device": str(accelerator.device)}


def save_finetuned(accelerator, model, tokenizer, folder: Path) -> None:
    accelerator.wait_for_everyone()
    accelerator.unwrap_model(model).save_pretrained(folder, is_main_process=accelerator.is_main_process,
                                                    save_function=accelerator.save)
    if accelerator.is_main_process:
        tokenizer.save_pretrained(folder)
    accelerator.wait_for_everyone()
