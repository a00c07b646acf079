"""Checks that need more than a type: ranges and cross-field rules. Every number of a recipe has a range here (or in
the world's rules, :mod:`.world`): a value outside it would train or score nonsense to "complete" without a word."""

from __future__ import annotations

import re
from typing import Any

from nlp_underspec.config.schema import (INTERVENTION_KINDS, INTERVENTION_SIDES, INTERVENTION_STAGES,
                                         EvaluateConfig, InterventionConfig, ModelConfig, PretrainConfig, Recipe, SweepConfig, TaskConfig,
                                         TASK_HEADS, WorldConfig, task_sources)
from nlp_underspec.config.world import DOCUMENT_KINDS, check_world_values
from nlp_underspec.errors import UsageError, did_you_mean
from nlp_underspec.seeding import DRAWS_MAX, SEED_MAX, THREADS_MAX, check_seed, too_large

BAD_VALUE = "{where}: '{key}' {problem}"


def validate_values(recipe: Recipe, where: str) -> None:
    """Raise the first rule ``recipe`` breaks, worded with ``where`` (the recipe's path)."""

    def bad(key: str, problem: str) -> UsageError:
        return UsageError(BAD_VALUE.format(where=where, key=key, problem=problem))

    _validate_name(recipe.name, bad)
    if recipe.threads < 1:
        raise bad("threads", f"must be at least 1, got {recipe.threads}.")
    if problem := too_large(recipe.threads, THREADS_MAX):
        raise bad("threads", problem)
    _validate_seeds(recipe, bad)
    _validate_world(recipe.world, bad)
    if recipe.pretrain is not None:
        _validate_pretrain(recipe.pretrain, bad)
    for task, t in recipe.finetune.tasks.items():
        _validate_task(task, t, bad)
    _validate_evaluate(recipe.evaluate, bad)
    _validate_sweep(recipe.sweep, bad)
    if recipe.intervention is not None:
        _validate_intervention(recipe.intervention, recipe, bad)


def _validate_name(name: str, bad) -> None:
    """The name heads status, the report and the cards: an empty one prints as ": 15 runs", a multi-line one breaks
    every one-line summary and the cards' YAML header."""
    if not name.strip():
        raise bad("name", "is empty: name the experiment, e.g. name: tiny.")
    if any(not ch.isprintable() for ch in name):
        raise bad("name", f"must be a single line of printable text, got {name!r}.")


def _at_least(section: Any, prefix: str, minimum: int, keys: tuple[str, ...], bad) -> None:
    for key in keys:
        value = getattr(section, key)
        if value is not None and value < minimum:
            raise bad(f"{prefix}{key}", f"must be at least {minimum}, got {value}.")


def _not_negative(section: Any, prefix: str, keys: tuple[str, ...], bad) -> None:
    for key in keys:
        if getattr(section, key) < 0:
            raise bad(f"{prefix}{key}", f"must not be negative, got {getattr(section, key)}.")


def _is_seed(value: int) -> bool:
    try:
        check_seed("seed", value)
    except UsageError:
        return False
    return True


def _validate_seeds(recipe: Recipe, bad) -> None:
    """Every seed of a recipe obeys :func:`nlp_underspec.seeding.check_seed` (what the trainers accept), here at load
    rather than deep in a run."""
    # An empty list plans no runs of its kind, and the sweep then reports a vacuous success; refuse it where it is read.
    if not recipe.seeds.pretrain and recipe.pretrain is not None and not recipe.finetune.from_checkpoints:
        raise bad("seeds.pretrain", "is empty, so nothing would be pretrained. List at least one seed, e.g. [0, 1, 2].")
    if not recipe.seeds.finetune and recipe.finetune.tasks:
        raise bad("seeds.finetune", "is empty, so nothing would be fine-tuned. List at least one seed, e.g. [0, 1, 2].")
    for name, seeds in (("seeds.pretrain", recipe.seeds.pretrain), ("seeds.finetune", recipe.seeds.finetune)):
        if not all(_is_seed(s) for s in seeds):
            raise bad(name, f"must hold integers in [0, {SEED_MAX}], got {list(seeds)}.")
        if len(set(seeds)) != len(seeds):
            raise bad(name, f"lists a seed twice: {list(seeds)}.")
    singles = {"seeds.init_seed": recipe.seeds.init_seed, "seeds.data_seed": recipe.seeds.data_seed,
               "world.seed": recipe.world.seed, "evaluate.bootstrap_seed": recipe.evaluate.bootstrap_seed,
               "pretrain.mask_seed": recipe.pretrain.mask_seed if recipe.pretrain is not None else None}
    for name, seed in singles.items():
        if seed is not None and not _is_seed(seed):
            raise bad(name, f"must be an integer in [0, {SEED_MAX}], got {seed}.")


def _validate_world(world: WorldConfig, bad) -> None:
    check_world_values(world, lambda key, problem: bad(f"world.{key}", problem))


MODEL_SIZE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "max_position_embeddings")
MIN_SEQ_LENGTH = 8  # [CLS] and [SEP] (twice for a pair) leave room for a few tokens of text


def _validate_model(m: ModelConfig, bad) -> None:
    _at_least(m, "pretrain.model.", 1, MODEL_SIZE_KEYS, bad)
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if not 0.0 <= getattr(m, key) < 1.0:
            raise bad(f"pretrain.model.{key}", f"must be in [0, 1), got {getattr(m, key)}.")
    if m.hidden_size % m.num_attention_heads:
        raise bad("pretrain.model.hidden_size", f"({m.hidden_size}) must be divisible by "
                  f"pretrain.model.num_attention_heads ({m.num_attention_heads}).")


def _validate_pretrain(p: PretrainConfig, bad) -> None:
    if not 0.0 < p.mlm_probability < 1.0:
        raise bad("pretrain.mlm_probability", f"must be in (0, 1), got {p.mlm_probability}.")
    _at_least(p, "pretrain.", 1, ("max_steps", "batch_size", "grad_accum", "save_state_every", "log_every"), bad)
    if p.max_seq_length < MIN_SEQ_LENGTH:
        raise bad("pretrain.max_seq_length", f"must be at least {MIN_SEQ_LENGTH} (room for the special tokens), "
                  f"got {p.max_seq_length}.")
    _not_negative(p, "pretrain.", ("warmup_steps", "weight_decay", "max_grad_norm"), bad)
    if p.batch_size % p.grad_accum:
        raise bad("pretrain.batch_size", f"({p.batch_size}) must be divisible by pretrain.grad_accum ({p.grad_accum}).")
    _validate_model(p.model, bad)
    if p.max_seq_length > p.model.max_position_embeddings:
        raise bad("pretrain.max_seq_length", f"({p.max_seq_length}) exceeds pretrain.model.max_position_embeddings "
                  f"({p.model.max_position_embeddings}).")
    if p.vocab_size is not None and p.vocab_size < 16:
        raise bad("pretrain.vocab_size", f"must be at least 16, got {p.vocab_size}.")
    if p.lr <= 0:
        raise bad("pretrain.lr", f"must be positive, got {p.lr}.")
    if any(k < 1 or k > p.max_steps for k in p.checkpoint_steps):
        raise bad("pretrain.checkpoint_steps", f"must lie in [1, pretrain.max_steps={p.max_steps}], "
                  f"got {list(p.checkpoint_steps)}.")
    _validate_curriculum(p, bad)


def _validate_evaluate(e: EvaluateConfig, bad) -> None:
    _at_least(e, "evaluate.", 1, ("n_boot", "batch_size"), bad)
    if problem := too_large(e.n_boot, DRAWS_MAX):
        raise bad("evaluate.n_boot", problem)
    if not e.tests:
        raise bad("evaluate.tests", "is empty: a family is scored on its stress tests. Name at least one "
                  f"(e.g. [{', '.join(EvaluateConfig.tests)}]), or leave the key out for the default.")
    if len(set(e.tests)) != len(e.tests):
        raise bad("evaluate.tests", f"lists a test twice: {list(e.tests)}.")


def _validate_sweep(s: SweepConfig, bad) -> None:
    if s.executor not in ("local", "ray"):
        raise bad("sweep.executor", f"must be 'local' or 'ray', got '{s.executor}'.")
    _at_least(s, "sweep.", 1, ("jobs",), bad)
    _not_negative(s, "sweep.", ("cpus_per_run", "gpus_per_run"), bad)


def _validate_curriculum(p: PretrainConfig, bad) -> None:
    if p.curriculum_steps < 0 or p.curriculum_steps >= p.max_steps:
        raise bad("pretrain.curriculum_steps", f"must lie in [0, pretrain.max_steps={p.max_steps}), "
                  f"got {p.curriculum_steps}.")
    if not p.curriculum_steps:
        return
    if p.corpus != "synthetic":
        raise bad("pretrain.curriculum_steps", "needs pretrain.corpus: synthetic (a curriculum selects the world's "
                  f"documents by kind), got corpus '{p.corpus}'. Set it to 0.")
    if p.pack:
        raise bad("pretrain.curriculum_steps", "needs pretrain.pack: false (packed blocks mix documents of every "
                  "kind).")
    unknown = [kind for kind in p.curriculum_documents if kind not in DOCUMENT_KINDS]
    if unknown or not p.curriculum_documents:
        raise bad("pretrain.curriculum_documents", f"must name kinds of the synthetic world's documents "
                  f"({', '.join(DOCUMENT_KINDS)}), got {list(p.curriculum_documents)}.")


DEV_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # it becomes part of a metric name: dev_accuracy_<name>


def _validate_task(task: str, t: TaskConfig, bad) -> None:
    key = f"finetune.tasks.{task}"
    _validate_task_data(key, t, bad)
    if t.head is not None and t.head not in TASK_HEADS[task]:
        raise bad(f"{key}.head", f"must be one of {', '.join(TASK_HEADS[task])}, got '{t.head}'.")
    if t.batch_size < 1 or t.grad_accum < 1 or t.batch_size % t.grad_accum:
        raise bad(f"{key}.batch_size", f"({t.batch_size}) must be a positive multiple of {key}.grad_accum "
                  f"({t.grad_accum}).")
    if t.lr <= 0:
        raise bad(f"{key}.lr", f"must be positive, got {t.lr}.")
    _not_negative(t, f"{key}.", ("weight_decay", "max_grad_norm"), bad)
    if t.max_steps is None and t.epochs <= 0:
        raise bad(f"{key}.epochs", f"must be positive, got {t.epochs}.")
    if t.max_steps is not None and t.max_steps < 1:
        raise bad(f"{key}.max_steps", f"must be at least 1, got {t.max_steps}.")
    if not 0.0 <= t.warmup_ratio < 1.0:
        raise bad(f"{key}.warmup_ratio", f"must be in [0, 1), got {t.warmup_ratio}.")
    if t.max_train_examples is not None and t.max_train_examples < 1:
        raise bad(f"{key}.max_train_examples", f"must be at least 1, got {t.max_train_examples}.")
    if t.save_state_every < 1:
        raise bad(f"{key}.save_state_every", f"must be at least 1, got {t.save_state_every}.")
    if t.max_seq_length < MIN_SEQ_LENGTH:
        raise bad(f"{key}.max_seq_length", f"must be at least {MIN_SEQ_LENGTH} (room for the special tokens), "
                  f"got {t.max_seq_length}.")


def _validate_task_data(key: str, t: TaskConfig, bad) -> None:
    sources = task_sources(t)
    if not sources or not all(source.strip() for source in sources):
        raise bad(f"{key}.data", f"must name at least one source, none of them empty, got {list(sources)}.")
    if len(set(sources)) < len(sources):
        raise bad(f"{key}.data", f"names a source twice ({list(sources)}): its examples would count double.")
    if t.dev_data is None:
        return
    if not t.dev_data:
        raise bad(f"{key}.dev_data", "is empty. Name at least one source (name: path), or leave dev_data out.")
    for name, source in t.dev_data.items():
        if not DEV_SOURCE_NAME.match(name):
            raise bad(f"{key}.dev_data.{name}", "is not a usable name: it becomes a metric name, so lowercase "
                      "letters, digits and _ only, starting with a letter, at most 40 characters (e.g. dpr_test).")
        if not source.strip():
            raise bad(f"{key}.dev_data.{name}", "is empty. Give the path of the source to score.")



def _validate_intervention(i: InterventionConfig, recipe: Recipe, bad) -> None:
    if i.kind not in INTERVENTION_KINDS:
        raise bad("intervention.kind", f"is unknown: '{i.kind}'.{did_you_mean(i.kind, INTERVENTION_KINDS)} "
                  f"Available: {', '.join(INTERVENTION_KINDS)}.")
    if not i.where or len(set(i.where)) != len(i.where) or any(w not in INTERVENTION_STAGES for w in i.where):
        raise bad("intervention.where", f"must list one or both of {', '.join(INTERVENTION_STAGES)} (each once), "
                  f"got {list(i.where)}.")
    if "pretrain" in i.where and recipe.pretrain is None:
        raise bad("intervention.where", "names pretrain, but this recipe has no 'pretrain' section.")
    if not 0.0 <= i.probability <= 1.0:
        raise bad("intervention.probability", f"must be in [0, 1], got {i.probability}.")
    if i.sided not in INTERVENTION_SIDES:
        raise bad("intervention.sided", f"must be 'two' or 'one', got '{i.sided}'.")
    if not _is_seed(i.seed):
        raise bad("intervention.seed", f"must be an integer in [0, {SEED_MAX}], got {i.seed}.")
