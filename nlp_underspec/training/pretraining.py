"""Seeded, resumable MLM pretraining of a BERT from scratch: one run = one pretraining seed = one run folder.

The pretraining seed sets weight init and data order (as in MultiBERTs); masking has its own ``mask_seed`` (default:
derived from the pretraining seed) and is stateless per example (:mod:`nlp_underspec.training.mlm`). The run folder is
a standard Hugging Face checkpoint (``BertForMaskedLM`` + tokenizer) with ``run.json``, ``step_<K>/`` intermediate
checkpoints, and ``state/`` (accelerate state for resume) while the run is unfinished.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Sequence

from nlp_underspec import records
from nlp_underspec.config import (DEFAULT_VOCAB_SIZE, NO_PRETRAIN, InterventionConfig, PretrainConfig, Recipe,
                                  WorldConfig, pretrain_run_config, task_sources)
from nlp_underspec.data.interventions import intervene_texts
from nlp_underspec.data.sources import load_corpus_texts, synthetic_corpus_kinds
from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import check_seed, default_mask_seed, pin_threads, seed_everything
from nlp_underspec.synthetic import build_world
from nlp_underspec.training import loop, mlm, runs
from nlp_underspec.training.tokenizer import (check_pretraining_tokenizer, check_recipe_vocab_size,
                                              load_training_tokenizer, train_wordpiece)

logger = logging.getLogger(__name__)

EMPTY_CORPUS = "Corpus '{corpus}' holds no text. Point pretrain.corpus at text files with content (or 'synthetic')."
CURRICULUM_NEEDS_KINDS = ("pretrain.curriculum_steps is set, but the texts given have no document kinds. Pass kinds= "
                          "(one per text) or use the synthetic corpus.")
CURRICULUM_EMPTY = "The corpus has no documents of the curriculum's kinds ({kinds}): nothing to serve first."
CORPUS_TOO_SMALL = ("Corpus '{corpus}' has {n_tokens} tokens, fewer than one block of pretrain.max_seq_length="
                    "{block} tokens. Use a larger corpus or a smaller pretrain.max_seq_length.")


def pretrain(recipe: Recipe, *, pretrain_seed: int, out: str | os.PathLike, texts: Sequence[str] | None = None,
             kinds: Sequence[str] | None = None, log_with: Sequence[str] | None = None, overwrite: bool = False,
             where: str = "recipe", inputs: Sequence = ()) -> records.RunRecord:
    """Pretrain (or resume, or skip if complete) run ``p{seed}`` into ``out``; returns its final record.

    ``texts`` replaces the recipe's corpus (for library use and tests), with ``kinds`` (one per text) when the recipe
    has a curriculum; ``log_with`` replaces ``recipe.log_with``. ``inputs``: other paths the caller read (the recipe
    file), which ``overwrite`` must not delete, beside the corpus.
    """
    settings = _pretrain_settings(recipe)
    pretrain_seed = check_seed("pretrain_seed", pretrain_seed)
    mask_seed = settings.mask_seed if settings.mask_seed is not None else default_mask_seed(pretrain_seed)
    trackers = loop.check_trackers(recipe.log_with if log_with is None else tuple(log_with))
    pin_threads(recipe.threads)
    run = runs.open_run_folder(out, run_id=records.pretrain_run_id(pretrain_seed), kind="pretrain",
                               seeds={"pretrain_seed": pretrain_seed, "mask_seed": mask_seed},
                               config=pretrain_run_config(recipe), overwrite=overwrite,
                               inputs=[settings.corpus, *inputs])
    if run.complete:
        return run.record
    if texts is None and not run.resuming and synthetic_corpus_cacheable(settings):
        tokenizer, blocks, block_documents, kinds = synthetic_corpus(settings, recipe.world, recipe.intervention)
    else:
        if texts is None:
            texts, kinds = _corpus_documents(recipe, settings)
        else:  # given texts replace the corpus, and are intervened on as it would be (the record says so)
            texts = intervene_texts(texts, recipe.intervention, "pretrain")
        texts = list(texts)
        tokenizer = build_tokenizer(settings, texts, resume_from=run.path if run.resuming else None, where=where)
        blocks, block_documents = build_blocks(tokenizer, texts, settings)
    curriculum = curriculum_blocks(settings, kinds, block_documents)
    accelerator = loop.build_accelerator(grad_accum=settings.grad_accum, log_with=trackers,
                                         project_dir=run.path / "logs")
    loop_settings = build_loop_settings(settings, description=f"pretrain {run.record.run_id}")
    loop.check_batch_split(accelerator, loop_settings, "pretrain.batch_size")
    loop.check_resumable(run.path, loop_settings)
    return run.train_recorded(accelerator, lambda record: _train(
        accelerator, record, run.path, settings, loop_settings, tokenizer, blocks, pretrain_seed=pretrain_seed,
        mask_seed=mask_seed, curriculum=curriculum))


def _pretrain_settings(recipe: Recipe) -> PretrainConfig:
    if recipe.pretrain is None:
        raise UsageError(NO_PRETRAIN)
    return recipe.pretrain


def _corpus_documents(recipe: Recipe, settings: PretrainConfig) -> tuple[list[str], list[str] | None]:
    """The corpus's texts (the recipe's intervention applied, if any), and their kinds when a curriculum needs them
    (the synthetic world's documents)."""
    texts = intervene_texts(load_corpus_texts(settings, recipe.world), recipe.intervention, "pretrain")
    return texts, (synthetic_corpus_kinds(recipe.world) if settings.curriculum_steps else None)


def synthetic_corpus_cacheable(settings: PretrainConfig) -> bool:
    """The synthetic world's corpus with a tokenizer trained on it: a pure function of the configs, so computed once
    per process (:func:`synthetic_corpus`)."""
    return settings.corpus == "synthetic" and settings.tokenizer == "train"


@functools.lru_cache(maxsize=2)
def _synthetic_corpus(corpus: str, vocab_size: int | None, max_seq_length: int, pack: bool, curriculum: bool,
                      world: WorldConfig, intervention: InterventionConfig | None):
    settings = PretrainConfig(corpus=corpus, vocab_size=vocab_size, max_seq_length=max_seq_length, pack=pack)
    texts, _ = _corpus_documents(Recipe(world=world, pretrain=settings, intervention=intervention), settings)
    tokenizer = build_tokenizer(settings, texts)
    blocks, block_documents = build_blocks(tokenizer, texts, settings)
    return tokenizer, blocks, block_documents, synthetic_corpus_kinds(world) if curriculum else None


def synthetic_corpus(settings: PretrainConfig, world: WorldConfig, intervention: InterventionConfig | None = None):
    """(tokenizer, blocks, block_documents, kinds) of the synthetic corpus: the WordPiece vocabulary trained on it and
    its tokenized sequences, identical for every pretraining seed of a world (~4 s each time on a 2-core CPU). Cached
    in the process, and warmed in the sweep's run template (:func:`warm_caches`), so its forked runs share one copy."""
    return _synthetic_corpus(settings.corpus, settings.vocab_size, settings.max_seq_length, settings.pack,
                             bool(settings.curriculum_steps), world, intervention)


def warm_caches(recipe: Recipe) -> None:
    """Compute what every run of ``recipe`` would compute alike (the synthetic world; its tokenized corpus), so that
    processes forked afterwards start with it. Numbers do not change: the cached values are those a run computes."""
    if "synthetic" in (recipe.pretrain.corpus if recipe.pretrain else None,
                       *(source for task in recipe.finetune.tasks.values() for source in task_sources(task)),
                       *(source for task in recipe.finetune.tasks.values() for source in (task.dev_data or {}).values()),
                       *_evaluation_options(recipe)):
        build_world(recipe.world)
    if recipe.pretrain is not None and synthetic_corpus_cacheable(recipe.pretrain):
        synthetic_corpus(recipe.pretrain, recipe.world, recipe.intervention)


def _evaluation_options(recipe: Recipe) -> list:
    """The values of the recipe's ``evaluate`` section, among them each stress test's data source (its
    ``data_option`` key): read generically, so a stress test added later is covered without naming it here."""
    return [getattr(recipe.evaluate, option.name) for option in dataclasses.fields(recipe.evaluate)]


def curriculum_blocks(settings: PretrainConfig, kinds: Sequence[str] | None, block_documents) -> list[int] | None:
    """Indices of the blocks a curriculum serves first (documents of ``curriculum_documents``), or None."""
    if not settings.curriculum_steps:
        return None
    if kinds is None:
        raise UsageError(CURRICULUM_NEEDS_KINDS)
    wanted = set(settings.curriculum_documents)
    subset = [b for b, document in enumerate(block_documents) if kinds[document] in wanted]
    if not subset:
        raise UsageError(CURRICULUM_EMPTY.format(kinds=", ".join(settings.curriculum_documents)))
    return subset


def build_tokenizer(settings: PretrainConfig, texts: Sequence[str], *, resume_from: Path | None = None,
                    where: str = "recipe"):
    """The run's tokenizer: the one an unfinished run already saved, a WordPiece trained on ``texts``, or a given one."""
    if not any(text.strip() for text in texts):
        raise UsageError(EMPTY_CORPUS.format(corpus=settings.corpus))
    if resume_from is not None and (resume_from / "tokenizer.json").is_file():
        return load_training_tokenizer(str(resume_from))
    if settings.tokenizer == "train":
        return train_wordpiece(texts, vocab_size=settings.vocab_size or DEFAULT_VOCAB_SIZE)
    tokenizer = load_training_tokenizer(settings.tokenizer)
    check_pretraining_tokenizer(tokenizer, settings.tokenizer)
    check_recipe_vocab_size(tokenizer, vocab_size=settings.vocab_size, name=settings.tokenizer, where=where)
    return tokenizer


def build_blocks(tokenizer, texts: Sequence[str], settings: PretrainConfig):
    """Packed ``(N, max_seq_length)`` blocks, or one sequence per text when ``pack`` is off; and, unpacked, the text
    each sequence came from (texts without a token are dropped), else None."""
    token_ids = mlm.tokenize_corpus(tokenizer, texts)
    kwargs = dict(block_size=settings.max_seq_length, cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id)
    blocks = mlm.pack_blocks(token_ids, **kwargs) if settings.pack else mlm.sentence_blocks(token_ids, **kwargs)
    block_documents = None if settings.pack else [i for i, ids in enumerate(token_ids) if len(ids)]
    if len(blocks) == 0:
        n_tokens = sum(len(ids) for ids in token_ids)
        raise UsageError(CORPUS_TOO_SMALL.format(corpus=settings.corpus, n_tokens=n_tokens,
                                                 block=settings.max_seq_length))
    logger.info("Corpus: %d texts -> %d %s of up to %d tokens", len(texts), len(blocks),
                "packed blocks" if settings.pack else "sequences", settings.max_seq_length)
    return blocks, block_documents


def build_loop_settings(settings: PretrainConfig, *, description: str = "pretrain") -> loop.LoopSettings:
    return loop.LoopSettings(max_steps=settings.max_steps, batch_size=settings.batch_size, grad_accum=settings.grad_accum,
                             lr=settings.lr, weight_decay=settings.weight_decay, warmup_steps=settings.warmup_steps,
                             max_grad_norm=settings.max_grad_norm, save_state_every=settings.save_state_every,
                             log_every=settings.log_every, description=description,
                             data=f"corpus '{settings.corpus}'")


def build_mlm_model(settings: PretrainConfig, tokenizer, *, seed: int):
    """A randomly initialised ``BertForMaskedLM`` (init drawn from ``seed``) sized to the tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    m = settings.model
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=m.hidden_size, num_hidden_layers=m.num_hidden_layers,
                        num_attention_heads=m.num_attention_heads, intermediate_size=m.intermediate_size,
                        max_position_embeddings=m.max_position_embeddings, hidden_dropout_prob=m.hidden_dropout_prob,
                        attention_probs_dropout_prob=m.attention_probs_dropout_prob,
                        pad_token_id=tokenizer.pad_token_id)
    seed_everything(seed)
    return BertForMaskedLM(config)


def build_pretraining_data(tokenizer, blocks, settings: PretrainConfig, *, pretrain_seed: int, mask_seed: int,
                           curriculum: Sequence[int] | None = None):
    """The masked dataset, its sampler (data order from the pretraining seed; the ``curriculum`` blocks alone for the
    first ``curriculum_steps``) and the collate fn."""
    dataset = mlm.MaskedBlocks(blocks, mask_seed=mask_seed, probability=settings.mlm_probability,
                               mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                               special_ids=tokenizer.all_special_ids, pad_id=tokenizer.pad_token_id)
    lengths = None if settings.pack else [len(block) for block in blocks]  # unpacked: batch similar lengths together
    total, micro = settings.max_steps * settings.batch_size, settings.batch_size // settings.grad_accum
    if curriculum:
        sampler = loop.CurriculumSampler(len(dataset), subset=curriculum, seed=pretrain_seed, total=total,
                                         curriculum_total=settings.curriculum_steps * settings.batch_size,
                                         lengths=lengths, batch_size=micro)
    else:
        sampler = loop.EpochShuffleSampler(len(dataset), seed=pretrain_seed, total=total, lengths=lengths,
                                           batch_size=micro)
    collate = dataset.collate
    return dataset, sampler, collate


def _train(accelerator, record, run_path: Path, settings: PretrainConfig, loop_settings: loop.LoopSettings, tokenizer,
           blocks, *, pretrain_seed: int, mask_seed: int, curriculum: Sequence[int] | None) -> dict:
    if accelerator.is_main_process:
        tokenizer.save_pretrained(run_path)
    model = mlm.MaskedPositionsMLM(build_mlm_model(settings, tokenizer, seed=pretrain_seed))
    dataset, sampler, collate = build_pretraining_data(tokenizer, blocks, settings, pretrain_seed=pretrain_seed,
                                                       mask_seed=mask_seed, curriculum=curriculum)
    dataloader = loop.build_dataloader(dataset, sampler=sampler, batch_size=loop_settings.micro_batch_size,
                                       collate_fn=collate)
    optimizer = loop.build_optimizer(model, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = loop.build_scheduler(optimizer, warmup_steps=settings.warmup_steps, max_steps=settings.max_steps)
    model, optimizer, dataloader = accelerator.prepare(model, optimizer, dataloader)
    loop.init_trackers(accelerator, run_id=record.run_id, config=record.config)
    saved_steps: list[int] = sorted(int(p.name[5:]) for p in run_path.glob("step_*") if p.name[5:].isdigit())

    def save_intermediate(step: int) -> None:
        if step in settings.checkpoint_steps and step not in saved_steps:
            save_checkpoint(accelerator, model, tokenizer, run_path / f"step_{step}")
            saved_steps.append(step)

    result = loop.run_training_loop(accelerator=accelerator, model=model, optimizer=optimizer, scheduler=scheduler,
                                    dataloader=dataloader, settings=loop_settings, run_folder=run_path,
                                    on_step=save_intermediate)
    save_checkpoint(accelerator, model, tokenizer, run_path, atomic=False)
    if accelerator.is_main_process:
        loop.remove_state(run_path)
    return {"steps": result.steps, "final_loss": result.final_loss, "resumed_from_step": result.resumed_from,
            "train_seconds": round(result.seconds, 3), "tokens_per_second": round(result.tokens_per_second, 1),
            "n_blocks": len(blocks), "n_curriculum_blocks": len(curriculum) if curriculum else 0,
            "vocab_size": len(tokenizer), "checkpoints": sorted(saved_steps),
            "num_processes": accelerator.num_processes, "mixed_precision": str(accelerator.mixed_precision),
            "device": str(accelerator.device), "loss_history": result.history}


def save_checkpoint(accelerator, model, tokenizer, folder: Path, *, atomic: bool = True) -> None:
    """Save the plain ``BertForMaskedLM`` (+ tokenizer) inside the prepared wrapper as an HF checkpoint.

    ``atomic``: write into a temporary sibling and rename, so an intermediate ``step_<K>/`` is whole or absent.
    """
    accelerator.wait_for_everyone()
    inner = accelerator.unwrap_model(model).mlm
    target = folder.with_name(f".{folder.name}.tmp") if atomic else folder
    inner.save_pretrained(target, is_main_process=accelerator.is_main_process, save_function=accelerator.save)
    if accelerator.is_main_process:
        tokenizer.save_pretrained(target)
        if atomic:
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(target, folder)
    accelerator.wait_for_everyone()
