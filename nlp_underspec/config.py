"""Recipes: YAML files resolved into frozen, validated, hashable dataclasses. The one home of configuration.

A recipe names the seed grid, the synthetic world, pretraining, fine-tuning tasks, the stress tests and how to run the
sweep. Unknown keys are errors that name the key and the closest valid one, and so is a key written twice (YAML would
keep the last one silently); types are checked (an int where a float is expected is fine, a string where a number is
expected is not). Command-line overrides use dotted keys with YAML values: ``--set pretrain.lr=3e-3 --set
seeds.pretrain=[0,1,2]``.

Each run's *resolved config* (:func:`pretrain_run_config`, :func:`finetune_run_config`) holds only the sections that
affect that run, so changing a fine-tuning setting never invalidates a finished pretraining run; its hash is recorded
in ``run.json`` and compared when a sweep resumes. Seeds are recorded beside the config, not inside it: all runs of a
family share one config hash.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import DRAWS_MAX, THREADS_MAX, too_large
from nlp_underspec.textio import read_text

# ---------------------------------------------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class SeedsConfig:
    pretrain: tuple[int, ...] = (0,)  # pretraining seeds: weight init and data order (as in MultiBERTs)
    finetune: tuple[int, ...] = (0,)  # fine-tuning seeds, crossed with every pretraining seed
    init_seed: int | None = None  # pin head init/dropout across fine-tuning seeds (default: derived from finetune seed)
    data_seed: int | None = None  # pin data order across fine-tuning seeds (default: derived from finetune seed)


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world (:mod:`nlp_underspec.synthetic`); used wherever a data source is ``synthetic``."""

    seed: int = 0  # the world's own seed: same seed, same corpus and stress sets
    bias_strength: float = 1.0  # 0 = pronouns independent of occupation, 1 = share of "she" follows BLS % female
    n_corpus_sentences: int = 60000
    n_sts_pairs: int = 4000
    n_coref_examples: int = 4000
    n_sts_templates: int = 40  # "A man/woman ..." base sentences in the STS stress file
    neutral_share: float = 0.1  # share of pronouns that are "they" (the planted she/he split applies to the rest)


@dataclass(frozen=True)
class ModelConfig:
    """BertConfig fields for pretraining from scratch (vocab_size comes from the tokenizer)."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 128
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1


@dataclass(frozen=True)
class PretrainConfig:
    corpus: str = "synthetic"  # "synthetic", a text file or folder of .txt files, or a Hub dataset id
    corpus_config: str | None = None  # Hub dataset config name
    corpus_split: str = "train"
    text_column: str = "text"
    tokenizer: str = "train"  # "train" = WordPiece trained on the corpus, else a tokenizer path or Hub id
    vocab_size: int | None = None  # WordPiece size when training (None: 8192); with a given tokenizer: None or its size
    model: ModelConfig = field(default_factory=ModelConfig)
    max_seq_length: int = 128
    pack: bool = True  # concatenate sentences into full-length blocks: no compute spent on padding
    mlm_probability: float = 0.15
    mask_seed: int | None = None  # default: derived from the pretraining seed
    curriculum_steps: int = 0  # the first steps read only curriculum_documents (synthetic corpus); 0: no curriculum
    curriculum_documents: tuple[str, ...] = ("probe",)  # kinds of the synthetic world's documents (DOCUMENT_MIX)
    batch_size: int = 128  # per optimizer step, across devices and accumulation
    grad_accum: int = 1
    lr: float = 1e-4
    warmup_steps: int = 100
    max_steps: int = 1000
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    checkpoint_steps: tuple[int, ...] = ()  # steps to keep as step_<K>/ HF checkpoints
    save_state_every: int = 500  # accelerate state for resume
    log_every: int = 50


@dataclass(frozen=True)
class TaskConfig:
    # "synthetic", a local path in one of the task's layouts, or a Hub id; or a list of them, whose training examples
    # are pooled (e.g. DPR and WinoGrande for coref)
    data: str | tuple[str, ...] = "synthetic"
    # Named sources scored one by one after training, each into run.json as dev_<metric>_<name> (and pooled as
    # dev_<metric>): e.g. {dpr_test: dpr/test.c.txt, wsc273: wsc273/wsc-273.jsonl}. None: each source of ``data`` at
    # ``dev_split``. Left out of the run's identity when None, so runs made before it existed keep their hash.
    dev_data: dict[str, str] | None = None
    train_split: str = "train"
    dev_split: str = "dev"
    lr: float = 5e-5
    batch_size: int = 32
    grad_accum: int = 1
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    max_seq_length: int = 128
    save_state_every: int = 200
    max_train_examples: int | None = None  # subsample the training set (seeded by data_seed) for quick runs
    head: str | None = None  # None: the task's default head (TASK_HEADS[task][0]); see TASK_HEADS


TASKS = ("stsb", "coref")
# The heads a task can train, its default first. stsb: "cross_encoder" (one regression output over the sentence pair)
# or "bi_encoder" (each sentence mean-pooled, cosine regressed on gold / 5, as Sentence-BERT); coref: "span_pair"
# (an MLP over pooled pronoun and candidate spans) or "ranking" (the masked-LM head scores each candidate in an
# appended probe, "She is the [MASK].", trained with a cross-entropy over the candidates: the pronoun stays visible,
# and the encoder's own prior over who "she" is reaches the decision) or "cross_encoder" (each sentence with its
# pronoun marked, paired with "She is the nurse." per candidate, scored by one new output: any encoder, no MLM head)
# or "substitution" (the same cross-encoder, paired with the sentence whose pronoun is replaced by the candidate).
TASK_HEADS = {"stsb": ("cross_encoder", "bi_encoder"),
              "coref": ("span_pair", "ranking", "cross_encoder", "substitution")}


def task_sources(settings: "TaskConfig") -> tuple[str, ...]:
    """The training sources of a task, one or many."""
    return (settings.data,) if isinstance(settings.data, str) else tuple(settings.data)


def task_head(task: str, settings: "TaskConfig") -> str:
    """The head a task trains: its ``head`` setting, or the task's default."""
    return settings.head or TASK_HEADS[task][0]


@dataclass(frozen=True)
class FinetuneConfig:
    from_checkpoints: tuple[str, ...] = ()  # fine-tune these (paths/Hub ids) instead of this recipe's pretraining runs
    tasks: dict[str, TaskConfig] = field(default_factory=dict)  # task name -> settings; names from TASKS


@dataclass(frozen=True)
class EvaluateConfig:
    tests: tuple[str, ...] = ("sts_gender", "winogender")
    stsb: str = "synthetic"  # STS-B source for sts_gender: "synthetic" or any layout `nlp-underspec evaluate --stsb` takes
    stsb_split: str = "test"
    winogender: str = "synthetic"  # Winogender source: "synthetic" or the original repo layout / Hub id
    score_pretrained: bool = True  # also score each pretrained checkpoint with the mlm_probe resolver
    n_boot: int = 1000
    batch_size: int = 64


@dataclass(frozen=True)
class SweepConfig:
    executor: str = "local"  # "local" or "ray"
    jobs: int = 1  # runs at a time (local executor)
    cpus_per_run: float = 1.0  # Ray resources per run
    gpus_per_run: float = 0.0
    ray_address: str | None = None  # None: start a local Ray
    accelerate_config: str | None = None  # passed to `accelerate launch --config_file` for every run


@dataclass(frozen=True)
class Recipe:
    name: str = "experiment"
    threads: int = 2  # torch intra-op threads per run; CPU weights are bit-identical only at the same count
    log_with: tuple[str, ...] = ()  # experiment trackers ("tensorboard", "trackio", ...); not part of any run config
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    pretrain: PretrainConfig | None = None  # None: no pretraining (fine-tune finetune.from_checkpoints instead)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


# -------------------------------------------------------------------------------------------------------------- messages

RECIPE_NOT_FOUND = "Recipe {path} does not exist. Recipes live in recipes/ (e.g. recipes/tiny.yaml)."
RECIPE_IS_FOLDER = "Recipe {path} is a folder, not a recipe file. Pass a YAML file, e.g. recipes/tiny.yaml."
RECIPE_TOO_LARGE = ("{where}: its YAML aliases (*name) expand to more than {limit} values, or refer to themselves. "
                    "Write the values out instead of aliasing them.")
RECIPE_TOO_DEEP = "Recipe {path} nests lists or mappings too deeply to read. A recipe is a few levels deep."
RECIPE_BAD_YAML = "Recipe {path} is not valid YAML: {error}"
DUPLICATE_KEY = ("Recipe {path}: key '{key}' is set twice, on line {first} and line {second} (YAML would silently keep "
                 "line {second}). Delete one of them.")
RECIPE_NOT_MAPPING = "Recipe {path} must be a mapping of keys to values at the top level."
UNKNOWN_KEY = "{where}: unknown key '{key}'.{hint} Valid keys{section}: {valid}."
WRONG_TYPE = "{where}: '{key}' must be {expected}, got {value!r}."
BAD_OVERRIDE = "Override '{text}' must look like KEY=VALUE, e.g. pretrain.lr=3e-3."
UNKNOWN_TASK = "{where}: unknown task '{key}'.{hint} Available: {valid}."
BAD_VALUE = "{where}: '{key}' {problem}"
NO_PRETRAIN = ("This recipe has no 'pretrain' section: nothing to pretrain. Add one, or fine-tune "
               "finetune.from_checkpoints instead.")
DEFAULT_VOCAB_SIZE = 8192  # WordPiece size when pretrain.vocab_size is not set and the tokenizer is trained

# ----------------------------------------------------------------------------------------------------------- machinery


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin is tuple:
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(typing.get_args(tp)[0], "values")
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples, mappings to dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], where, key)
        # `str | tuple[str, ...]` (a task's data): the list form for a list, else the first; the error names both
        chosen = next((a for a in inner if (typing.get_origin(a) is tuple) == isinstance(value, (list, tuple))), inner[0])
        try:
            return _coerce(value, chosen, where, key)
        except UsageError:
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected=_type_name(tp).removesuffix(" or null"),
                                               value=value)) from None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a mapping", value=value))
        return _build(tp, value, where, prefix=f"{key}.")
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # `seeds.pretrain=3` means [3]
        if not isinstance(value, (list, tuple)):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected=_type_name(tp), value=value))
        return tuple(_coerce(v, item_tp, where, key) for v in value)
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a mapping", value=value))
        return {str(k): _coerce(v if v is not None else {}, value_tp, where, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="true or false", value=value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="an integer", value=value))
        return value
    if tp is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads "3e-3" as a string; accept what is plainly a number
                value = float(value)
            except ValueError:
                pass
        # .nan and .inf are YAML floats, but no setting of a recipe means anything at them (an infinite lr trains a
        # NaN model; a NaN ratio passes every range check, since every comparison with NaN is false).
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a finite number", value=value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a string", value=value))
        return value
    raise TypeError(f"unsupported config annotation {tp!r}")


def _unknown_key(where: str, key: str, valid: list[str], section: str) -> UsageError:
    close = difflib.get_close_matches(key.split(".")[-1], valid, n=1, cutoff=0.5)
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
    return UsageError(UNKNOWN_KEY.format(where=where, key=key, hint=hint,
                                         section=f" in '{section}'" if section else "", valid=", ".join(valid)))


def _build(cls: type, data: Mapping[str, Any], where: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise _unknown_key(where, f"{prefix}{key}", valid, prefix.rstrip("."))
        if cls is FinetuneConfig and key == "tasks" and isinstance(value, Mapping):
            for task in value:
                if task not in TASKS:
                    close = difflib.get_close_matches(str(task), TASKS, n=1, cutoff=0.5)
                    raise UsageError(UNKNOWN_TASK.format(where=where, key=task,
                                                         hint=f" Did you mean '{close[0]}'?" if close else "",
                                                         valid=", ".join(TASKS)))
        kwargs[key] = _coerce(value, hints[key], where, f"{prefix}{key}")
    return cls(**kwargs)


def to_plain(obj: Any) -> Any:
    """Dataclasses to dicts, tuples to lists: the JSON/YAML form of a config."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text or text.startswith("="):
        raise UsageError(BAD_OVERRIDE.format(text=text))
    key, raw = text.split("=", 1)
    try:
        value = _load_override_value(raw, f"Override '{text}'") if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = raw
    return key.strip().split("."), value


def _load_override_value(raw: str, where: str) -> Any:
    """``yaml.safe_load`` with the recipe file's bound on alias expansion."""
    loader = yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_override_path(path: list[str], where: str) -> None:
    """Reject an override key that names nothing, before merging, so the message shows the whole dotted key."""
    cls: Any = Recipe
    for depth, part in enumerate(path):
        if cls is None:
            return
        if dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            if part not in hints:
                raise _unknown_key(where, ".".join(path[: depth + 1]), [f.name for f in dataclasses.fields(cls)],
                                   ".".join(path[:depth]))
            tp = hints[part]
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if typing.get_origin(tp) in (typing.Union, types.UnionType) and args:
                tp = args[0]
            if typing.get_origin(tp) is dict:
                cls = "tasks"
            else:
                cls = tp if dataclasses.is_dataclass(tp) else None
        elif cls == "tasks":
            if part not in TASKS:
                close = difflib.get_close_matches(part, TASKS, n=1, cutoff=0.5)
                raise UsageError(UNKNOWN_TASK.format(where=where, key=part,
                                                     hint=f" Did you mean '{close[0]}'?" if close else "",
                                                     valid=", ".join(TASKS)))
            cls = TaskConfig


def apply_overrides(data: dict[str, Any], overrides: list[str], where: str = "command line") -> dict[str, Any]:
    """Merge ``KEY=VALUE`` overrides into a raw recipe mapping (before validation)."""
    data = _deep_copy(data)
    for text in overrides:
        path, value = _parse_override(text)
        _check_override_path(path, f"{where} override '{text}'")
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _validate_values(recipe: Recipe, where: str) -> None:
    """Checks that need more than a type: ranges and cross-field rules. Every number of a recipe has a range here (or
    in the world's rules): a value outside it would train or score nonsense to "complete" without a word."""

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
    from nlp_underspec.seeding import check_seed

    try:
        check_seed("seed", value)
    except UsageError:
        return False
    return True


def _validate_seeds(recipe: Recipe, bad) -> None:
    """Every seed of a recipe obeys :func:`nlp_underspec.seeding.check_seed` (what the trainers accept), here at load
    rather than deep in a run."""
    from nlp_underspec.seeding import SEED_MAX

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
               "world.seed": recipe.world.seed,
               "pretrain.mask_seed": recipe.pretrain.mask_seed if recipe.pretrain is not None else None}
    for name, seed in singles.items():
        if seed is not None and not _is_seed(seed):
            raise bad(name, f"must be an integer in [0, {SEED_MAX}], got {seed}.")


def _validate_world(world: WorldConfig, bad) -> None:
    from nlp_underspec.synthetic import check_world_values  # the world imports this module: import at use

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
                  "(e.g. [sts_gender, winogender]), or leave the key out for the default.")
    if len(set(e.tests)) != len(e.tests):
        raise bad("evaluate.tests", f"lists a test twice: {list(e.tests)}.")


def _validate_sweep(s: SweepConfig, bad) -> None:
    if s.executor not in ("local", "ray"):
        raise bad("sweep.executor", f"must be 'local' or 'ray', got '{s.executor}'.")
    _at_least(s, "sweep.", 1, ("jobs",), bad)
    _not_negative(s, "sweep.", ("cpus_per_run", "gpus_per_run"), bad)


def _validate_curriculum(p: PretrainConfig, bad) -> None:
    from nlp_underspec.synthetic import DOCUMENT_KINDS  # the world imports this module: import at use

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


def recipe_from_dict(data: Mapping[str, Any], *, where: str = "recipe") -> Recipe:
    if not isinstance(data, Mapping):
        raise UsageError(RECIPE_NOT_MAPPING.format(path=where))
    recipe = _build(Recipe, data, where)
    _validate_values(recipe, where)
    return recipe


def read_recipe_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise UsageError(RECIPE_IS_FOLDER.format(path=path))
    if not path.is_file():
        raise UsageError(RECIPE_NOT_FOUND.format(path=path))
    text = read_text(path)
    try:
        data = _load_yaml_unique(text, path)
    except yaml.YAMLError as err:
        raise UsageError(RECIPE_BAD_YAML.format(path=path, error=str(err).replace("\n", " "))) from None
    except RecursionError:  # the composer and every walk over the values recurse once per level
        raise UsageError(RECIPE_TOO_DEEP.format(path=path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(RECIPE_NOT_MAPPING.format(path=path))
    return data


def _load_yaml_unique(text: str, path: Path) -> Any:
    """``yaml.safe_load``, but a key written twice in one mapping is an error: YAML keeps the last one silently, so a
    pasted ``max_steps`` below an old one would change a run without a word."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique_keys(node, path, prefix="")
        _check_expanded_size(node, f"Recipe {path}")
        return loader.construct_document(node)
    finally:
        loader.dispose()


MAX_RECIPE_VALUES = 100_000  # values after alias expansion; real recipes hold a few hundred


def _check_expanded_size(root: yaml.Node, where: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_RECIPE_VALUES` values (a "billion laughs" file: ten
    lines that copying or validating would blow up to all memory) or that contains itself. Counted on the composed
    nodes, where an alias is one shared node, so the count is memoised and costs one pass over the file."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in in_progress:  # an alias to an enclosing node: infinitely large once expanded
            raise UsageError(RECIPE_TOO_LARGE.format(where=where, limit=MAX_RECIPE_VALUES))
        in_progress.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        if total > MAX_RECIPE_VALUES:
            raise UsageError(RECIPE_TOO_LARGE.format(where=where, limit=MAX_RECIPE_VALUES))
        in_progress.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _check_unique_keys(node: yaml.Node, path: Path, *, prefix: str, seen_nodes: set[int] | None = None) -> None:
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias points at a node already checked (and may point at itself)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = f"{prefix}{key_node.value}"
                identity = (key_node.tag, key_node.value)  # 1 and '1' are different keys
                line = key_node.start_mark.line + 1
                if identity in lines:
                    raise UsageError(DUPLICATE_KEY.format(path=path, key=key, first=lines[identity], second=line))
                lines[identity] = line
                _check_unique_keys(value_node, path, prefix=f"{key}.", seen_nodes=seen_nodes)
            else:
                _check_unique_keys(value_node, path, prefix=prefix, seen_nodes=seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_unique_keys(item, path, prefix=f"{prefix.rstrip('.')}[{index}].", seen_nodes=seen_nodes)


def load_recipe(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override, validate. Relative data paths stay as written (they are relative to the working directory)."""
    data = apply_overrides(read_recipe_yaml(path), list(overrides))
    return recipe_from_dict(data, where=str(path))


# ----------------------------------------------------------------------------------------------- per-run resolved config


def _world_if_used(recipe: Recipe, *sources: str) -> dict[str, Any] | None:
    return to_plain(recipe.world) if "synthetic" in sources else None


def pretrain_run_config(recipe: Recipe) -> dict[str, Any]:
    """What a pretraining run depends on (seeds are recorded beside it, not in it)."""
    if recipe.pretrain is None:
        raise UsageError(NO_PRETRAIN)
    return {"kind": "pretrain", "threads": recipe.threads, "pretrain": to_plain(recipe.pretrain),
            "world": _world_if_used(recipe, recipe.pretrain.corpus)}


def finetune_run_config(recipe: Recipe, task: str, *, parent: str) -> dict[str, Any]:
    """What a fine-tuning run depends on: the task's settings and the checkpoint it starts from.

    ``parent`` identifies the starting checkpoint: the parent pretraining run's config hash for runs of this recipe,
    or the path / Hub id of an outside checkpoint.
    """
    if task not in recipe.finetune.tasks:
        close = difflib.get_close_matches(task, list(recipe.finetune.tasks) or list(TASKS), n=1, cutoff=0.5)
        raise UsageError(UNKNOWN_TASK.format(where="finetune", key=task, hint=f" Did you mean '{close[0]}'?" if close else "",
                                             valid=", ".join(recipe.finetune.tasks) or "(none in this recipe)"))
    settings = recipe.finetune.tasks[task]
    sources = (*task_sources(settings), *(settings.dev_data or {}).values())
    return {"kind": "finetune", "task": task, "threads": recipe.threads, "settings": task_identity(settings),
            "parent": parent, "world": _world_if_used(recipe, *sources)}


# TaskConfig settings added after runs existed: left out of a run's (and an experiment's) identity while unset, so
# the runs and experiments made before them keep their config hashes (and are not re-run or re-scored).
LATER_TASK_SETTINGS = ("dev_data",)


def task_identity(settings: TaskConfig) -> dict[str, Any]:
    """A task's settings as its runs' config (and hash) record them."""
    plain = to_plain(settings)
    for key in LATER_TASK_SETTINGS:
        if plain.get(key) is None:
            plain.pop(key, None)
    return plain


def recipe_identity(recipe: Recipe) -> dict[str, Any]:
    """The whole recipe as an experiment's config hash sees it (each task as :func:`task_identity`)."""
    plain = to_plain(recipe)
    for name, settings in recipe.finetune.tasks.items():
        plain["finetune"]["tasks"][name] = task_identity(settings)
    return plain


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (for 'the recipe changed' messages)."""
    keys = sorted(set(old) | set(new))
    changed = []
    missing = object()  # a key present in one config only differs even when the other side holds None
    for key in keys:
        a, b = old.get(key, missing), new.get(key, missing)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed.extend(config_diff(a, b, prefix=f"{name}."))
        elif a is missing or b is missing or a != b:
            changed.append(name)
    return changed
