"""The recipe's schema: frozen dataclasses whose field defaults are the defaults of every recipe.

Each section is one dataclass; a field's comment says what it sets. Unknown keys, types and ranges are checked where a
recipe is read (:mod:`.coercion`, :mod:`.validation`), not here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_VOCAB_SIZE = 8192  # WordPiece size when pretrain.vocab_size is not set and the tokenizer is trained


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
    # The seed of every bootstrap draw of scoring and analysis. None: the world's seed (world.seed), which drew every
    # experiment's intervals before this key existed, so their numbers and config hashes stay as they were.
    bootstrap_seed: int | None = None
    batch_size: int = 64


@dataclass(frozen=True)
class SweepConfig:
    executor: str = "local"  # "local" or "ray"
    jobs: int = 1  # runs at a time (local executor)
    cpus_per_run: float = 1.0  # Ray resources per run
    gpus_per_run: float = 0.0
    ray_address: str | None = None  # None: start a local Ray
    accelerate_config: str | None = None  # passed to `accelerate launch --config_file` for every run


INTERVENTION_KINDS = ("cda",)  # each kind's code: nlp_underspec.data.interventions
INTERVENTION_STAGES = ("pretrain", "finetune")
INTERVENTION_SIDES = ("two", "one")


@dataclass(frozen=True)
class InterventionConfig:
    """A change to the training data (:mod:`nlp_underspec.data.interventions`), never to evaluation or stress data."""

    kind: str = "cda"  # "cda": counterfactual data augmentation, gendered words swapped (he <-> she, man <-> woman, ...)
    where: tuple[str, ...] = ("pretrain",)  # the stages it applies to: "pretrain" (the corpus), "finetune" (training sets)
    probability: float = 1.0  # the share of documents (texts, training examples) swapped, each drawn on its own
    sided: str = "two"  # "two": both ways; "one": male -> female words only
    seed: int = 0  # which documents are swapped: a pure function of (seed, stage, document index)


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
    # None: no intervention. Left out of every identity while None, so experiments made before it keep their hashes.
    intervention: InterventionConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def to_plain(obj: Any) -> Any:
    """Dataclasses to dicts, tuples to lists: the JSON/YAML form of a config."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
