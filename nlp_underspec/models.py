"""The one place that loads checkpoints (local folder or Hub id) and says what a checkpoint can do.

A checkpoint is untrusted input: custom code runs only with an explicit ``trust_remote_code=True`` (the CLI's
``--trust-remote-code``), and a checkpoint that declares code of its own (``auto_map`` in ``config.json`` or
``tokenizer_config.json``) is refused without it, even when its ``model_type`` is one transformers knows (it would
load as that plain model, not as its author's). Safetensors weights are used whenever the checkpoint has them. What a
checkpoint can do is read from its config (:func:`detect_capabilities`): a cross-encoder (sequence-classification
head with one label), an encoder usable as a bi-encoder (every encoder; never a causal LM), a masked-LM head, our
candidate-scoring head.

A checkpoint whose files do not fit together is refused rather than scored: transformers fills whatever the weights
file lacks with random values and makes up a vocabulary of special tokens when the tokenizer files are missing, and
either gives plausible-looking numbers from nothing. :func:`load_checked` compares the weights with the model that
``config.json`` describes, for one head:

- a missing **encoder** weight (the base model: embeddings and layers) is always an error; the pooler is the exception
  for every head but ``cross``, because mean pooling, the masked-LM head and the span scorer never read it, while a
  sequence-classification head reads nothing else;
- a missing **head** weight (anything outside the base model), or one saved with another shape, is an error unless
  the caller builds the head on purpose (``fresh_head=True``: fine-tuning);
- a saved weight the model does not take (*unexpected*) is legitimate when it belongs to a module the loading class
  does not build: an MLM checkpoint loaded as an encoder drops ``cls.*``, a classifier loaded as an encoder drops
  ``classifier.*``, a pretraining checkpoint's next-sentence head or a pooler is dropped. It is an error when it lands
  inside a module the class builds (layers beyond ``num_hidden_layers``, a parameter its layer lacks): then
  ``config.json`` does not describe the weights;
- an encoder weight saved with another shape is always an error.

A tokenizer must have a vocabulary beyond its special tokens and a pad token (every path batches padded inputs).

Seeds of checkpoints the toolkit did not train come from, in order: the checkpoint's ``run.json``, its model card
metadata (``pretrain_seed`` / ``finetune_seed`` / ``seed`` in the README front matter), a ``--seed-pattern`` regex
with named groups over the model name or path (an error when it reads no integer seed from a model it is asked
about), else nothing.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import SEED_MAX

logger = logging.getLogger(__name__)

HEADS = ("cross", "bi", "mlm", "coref")
MODEL_NOT_FOUND = ("Model {checkpoint} does not exist. Pass a checkpoint folder (written by save_pretrained, with "
                   "config.json) or a Hugging Face Hub model id.")
NOT_A_CHECKPOINT = ("{checkpoint} is not a transformers checkpoint: {reason}. Pass a folder written by "
                    "save_pretrained (config.json and weights) or a Hugging Face Hub model id.")
HUB_MODEL_UNAVAILABLE = ("Model '{checkpoint}' is not a local folder and could not be loaded from the Hugging Face Hub "
                         "({reason}). If you are offline, download it first where you have a connection "
                         "(`hf download {checkpoint}`) so it is cached, or pass a local checkpoint folder.")
NEEDS_REMOTE_CODE = ("{checkpoint} needs its own Python code to load (auto_map in {file}). Running a checkpoint's "
                     "code is running its author's program: pass --trust-remote-code only if you trust it.")
CANNOT_LOAD = "Could not load {checkpoint} as {what}: {reason}"
CORRUPT_WEIGHTS = ("Could not load {checkpoint} as {what}: its weights file {file} is not readable ({reason}). Save "
                   "the checkpoint again with save_pretrained, or download it again.")
PICKLE_REFUSED = ("Could not load {checkpoint} as {what}: its weights file {file} is a pickle that holds more than "
                  "tensors, and loading it could run code, so it is refused (torch.load weights_only). Use a "
                  "safetensors copy (model.safetensors); if you trust its author, convert it where you can: load it "
                  "with torch.load(weights_only=False) and save_pretrained(safe_serialization=True).")
NO_FAST_TOKENIZER = ("{checkpoint} has no fast (Rust) tokenizer, which {what} needs for character offsets. Save one "
                     "with tokenizer.save_pretrained() from a PreTrainedTokenizerFast.")
BAD_SEED_PATTERN = "--seed-pattern {pattern!r} is not a valid regular expression ({error})."
SEED_PATTERN_NO_GROUPS = ("--seed-pattern {pattern!r} has no named group pretrain_seed or finetune_seed, e.g. "
                          r"'seed_(?P<pretrain_seed>\d+)'.")
ENCODER_WEIGHTS_MISSING = ("{checkpoint}: {loaded} of the {total} weights of the {model_class} that config.json "
                           "describes (model_type '{model_type}') are in {weights} (missing: {examples}), so it would "
                           "run with random weights. Restore the config.json that was saved with these weights, or "
                           "pass another checkpoint.")
WEIGHTS_MISMATCHED = ("{checkpoint}: {count} weight(s) in {weights} have another shape than config.json gives them "
                      "({key}: {saved} saved, {expected} in config.json), so they would be random. Restore the "
                      "config.json that was saved with these weights, or pass another checkpoint.")
UNEXPECTED_WEIGHTS = ("{checkpoint}: {weights} holds {count} weight(s) that the {model_class} described by config.json "
                      "has no place for ({examples}): config.json does not describe these weights (e.g. fewer layers "
                      "than were saved). Restore the config.json that was saved with these weights, or pass another "
                      "checkpoint.")
HEAD_WEIGHTS_MISSING = ("{checkpoint}: config.json declares {declared}, but {weights} has no weights for its head "
                        "(missing: {examples}), so {what} would be freshly initialised (random) and score nothing. "
                        "{hint}")
NOT_AN_ENCODER = ("{checkpoint} is a causal (left-to-right) language model ({detail}): each token sees only the "
                  "tokens before it, so its mean-pooled states are no sentence embedding and it cannot serve as a "
                  "bi-encoder. Pass an encoder (BERT-style) checkpoint.")
TOKENIZER_WITHOUT_VOCABULARY = ("{checkpoint} has no tokenizer vocabulary ({found}): transformers would make up a "
                                "vocabulary of its {count} special tokens, and every sentence would encode the same. "
                                "Save the tokenizer the model was trained with into the checkpoint "
                                "(tokenizer.save_pretrained), or pass a checkpoint that has one.")
NO_PAD_TOKEN = ("The tokenizer of {checkpoint} has no pad token, which {what} needs to batch inputs of different "
                "lengths. Set one and save it (e.g. tokenizer.pad_token = tokenizer.sep_token or eos_token: padded "
                "positions are masked out; then tokenizer.save_pretrained), or pass a checkpoint whose tokenizer has "
                "one.")
CONFIG_UNREADABLE = ("{checkpoint}: its config.json cannot describe a model ({reason}). Restore the config.json that was "
                     "saved with the weights, or pass another checkpoint.")
CONFIG_SIZE_NOT_POSITIVE = ("{checkpoint}: config.json gives {field} = {value}, but it must be a positive integer (a "
                            "model of that size has nothing to compute with). Restore the config.json that was saved "
                            "with the weights, or pass another checkpoint.")
WEIGHTS_NOT_FLOAT = ("{checkpoint}: its weights file {file} stores {count} parameter(s) as {dtype} (e.g. {key}), not as "
                     "floating-point numbers: transformers would cast them and score whatever they became. Save the "
                     "checkpoint again with save_pretrained from a floating-point model, or pass another checkpoint.")
WORDS_UNKNOWN = ("The tokenizer of {checkpoint} maps {words} to its unknown token {unk}, so {what} would read that "
                 "token instead of the words it compares, and measure nothing. Pass a checkpoint whose tokenizer knows "
                 "these words.")
WORDS_SHARE_IDS = ("The tokenizer of {checkpoint} encodes {first!r} and {second!r} as the same token id(s) {ids}, so "
                   "{what} would compare a word with itself and measure nothing. Pass a checkpoint whose tokenizer "
                   "tells these words apart.")
SPECIAL_TOKEN_UNKNOWN = ("The tokenizer of {checkpoint} names {role} {token!r}, which is not in its vocabulary "
                         "({how}). Set {role} in tokenizer_config.json to a token of its vocabulary, or pass the "
                         "tokenizer the model was trained with.")
TOKEN_PAST_MODEL = ("The tokenizer of {checkpoint} gives the token {token!r} the id {id}, but the model has only "
                    "{size} token embeddings (vocab_size in config.json), so it would index past the embedding table. "
                    "Pass the tokenizer the model was trained with, or a checkpoint whose config.json covers its ids.")
NO_MASK_TOKEN = ("The tokenizer of {checkpoint} has no mask token, which {what} needs: it reads the model's prediction "
                 "at the mask. Set mask_token in tokenizer_config.json to the mask token the model was trained with, "
                 "or pass a masked-LM checkpoint whose tokenizer has one.")
SEED_PATTERN_NO_SEED = ("--seed-pattern {pattern!r} gives no integer seed for model {checkpoint} ({detail}). Fix the "
                        "pattern, or leave out --seed-pattern when the model names hold no seeds.")
UNKNOWN_DEVICE = "Unknown device '{device}'. Use auto, cpu, cuda or cuda:N."
NO_CUDA = "Device '{device}' was requested but torch sees no CUDA device. Use --device cpu."

_HEAD_NAMES = {"cross": "a cross-encoder (sequence classification, 1 label)", "bi": "an encoder",
               "mlm": "a masked language model", "coref": "a candidate-scoring pronoun resolver"}
WEIGHT_INDEX_BAD = ("{path} is not a valid weights index: {problem} Re-save the checkpoint (save_pretrained writes the "
                    "index), or remove the broken file.")
WEIGHT_MAP_NOT_MAPPING = ('it must be a JSON object whose "weight_map" is an object mapping each tensor name to the '
                          'file name of its shard.')
WEIGHT_MAP_BAD_SHARD = ("weight_map[{tensor!r}] is {shard!r}, not the plain file name of a shard in the checkpoint "
                        "folder.")
WEIGHT_MAP_SHARD_MISSING = "weight_map[{tensor!r}] names {shard!r}, which is not a file in {folder}."
_SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_WEIGHTS_FILES = (*_SAFE_WEIGHTS, "pytorch_model.bin", "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
                    "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")
_REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")
# Heads whose fresh (random) weights would be scored, with what the user can do instead.
_HEAD_HINTS = {"cross": "Score it as a bi-encoder with --sts-scorer bi, or pass a model fine-tuned with this head.",
               "mlm": "Pass a checkpoint saved with its masked-LM head (BertForMaskedLM or BertForPreTraining).",
               "coref": "Pass a model fine-tuned with `nlp-underspec finetune --task coref` (span_pair head).",
               "bi": "Pass another checkpoint."}
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


# ---------------------------------------------------------------------------------------------------- locating
def looks_like_path(text: str) -> bool:
    """A reference the user meant as a local path (./x, /x, ~/x, a/b/c), never a Hub id (``org/name``)."""
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or os.sep != "/" and os.sep in text


def check_checkpoint(checkpoint: str | os.PathLike) -> str:
    """Return a loadable reference: an existing checkpoint folder, or a string that is not a local path (a Hub id).

    Hub ids are checked when the config is loaded (:func:`load_config`), which is where an offline cache miss shows.
    """
    text = str(checkpoint)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=path, reason="it is a file, not a folder"))
        if not (path / "config.json").is_file():
            raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=path, reason="the folder has no config.json"))
        return str(path.resolve())
    if looks_like_path(text):
        raise UsageError(MODEL_NOT_FOUND.format(checkpoint=text))
    return text


def is_local(checkpoint: str) -> bool:
    return Path(checkpoint).expanduser().is_dir()


def load_config(checkpoint: str, *, trust_remote_code: bool = False):
    """The checkpoint's ``PretrainedConfig``; offline cache misses and custom code become clear UsageErrors."""
    from transformers import AutoConfig

    checkpoint = check_checkpoint(checkpoint)
    try:
        with _quiet_transformers():  # its warnings on a bad config would precede the one message that says what is bad
            config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    except ValueError as err:
        if "trust_remote_code" in str(err):
            raise UsageError(NEEDS_REMOTE_CODE.format(checkpoint=checkpoint, file="config.json")) from None
        raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=checkpoint, reason=_first_line(err))) from None
    except OSError as err:
        if is_local(checkpoint):
            raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=checkpoint, reason=_first_line(err))) from None
        raise UsageError(HUB_MODEL_UNAVAILABLE.format(checkpoint=checkpoint, reason=_first_line(err))) from None
    except Exception as err:  # noqa: BLE001 - config.json is untrusted: a field of the wrong type fails as anything
        raise config_error(err, checkpoint) from None
    if not trust_remote_code:
        check_no_remote_code(checkpoint, config)
    check_config_sizes(config, checkpoint)
    return config


def config_error(err: BaseException, checkpoint: str) -> UsageError:
    """The UsageError for a config.json that transformers cannot build a config from (its field validation, e.g.
    ``num_hidden_layers: "two"``, raises exceptions of its own), with the whole reason on one line."""
    return UsageError(CONFIG_UNREADABLE.format(checkpoint=checkpoint, reason=_one_line(err)))


# The sizes a model is built from: 0, a negative or a non-integer one builds an empty or broken model that fails (or
# returns nothing) only at inference.
_CONFIG_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "max_position_embeddings")


def check_config_sizes(config, checkpoint: str) -> None:
    """Refuse a config whose model sizes are not positive integers (a size the config type lacks is skipped)."""
    for field in _CONFIG_SIZES:
        value = getattr(config, field, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(CONFIG_SIZE_NOT_POSITIVE.format(checkpoint=checkpoint, field=field, value=repr(value)))


def remote_code_file(checkpoint: str, config=None, *, files: tuple[str, ...] = _REMOTE_CODE_FILES) -> str | None:
    """The first of ``files`` (config.json, tokenizer_config.json) that declares code of its own (``auto_map``), else
    None.

    transformers ignores ``auto_map`` without ``trust_remote_code`` when ``model_type`` is one it knows, and loads the
    plain model instead: the checkpoint's author meant another one, so the toolkit refuses rather than guess."""
    if config is not None and "config.json" in files and getattr(config, "auto_map", None):
        return "config.json"
    for name in files:
        content = _read_checkpoint_file(checkpoint, name)
        if isinstance(content, dict) and content.get("auto_map"):
            return name
    return None


def check_no_remote_code(checkpoint: str, config=None) -> None:
    found = remote_code_file(checkpoint, config)
    if found:
        raise UsageError(NEEDS_REMOTE_CODE.format(checkpoint=checkpoint, file=found))


def _one_line(err: BaseException) -> str:
    """All of an error's lines as one (a field validation error says which field on one line and why on the next)."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines() if line.strip())
    return (text or type(err).__name__)[:300]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


# ---------------------------------------------------------------------------------------------------- capabilities
@dataclass(frozen=True)
class Capabilities:
    """What a checkpoint's saved heads allow. ``encoder`` is true for every encoder (mean pooling + cosine)."""

    architectures: tuple[str, ...]
    model_type: str
    cross_encoder: bool
    encoder: bool
    mlm: bool
    candidate_scorer: bool
    candidate_cross_encoder: bool = False  # a coref cross-encoder: a sequence classifier that is no STS scorer


def detect_capabilities(config) -> Capabilities:
    """Read the heads from ``config.architectures`` (+ ``num_labels``) and our head marker.

    >>> from transformers import BertConfig
    >>> caps = detect_capabilities(BertConfig(architectures=["BertForSequenceClassification"], num_labels=1))
    >>> caps.cross_encoder, caps.mlm, caps.encoder
    (True, False, True)
    """
    from nlp_underspec.modeling import is_candidate_cross_encoder, is_candidate_scorer

    architectures = tuple(getattr(config, "architectures", None) or ())
    mlm = any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures)
    classifier = any(a.endswith("ForSequenceClassification") for a in architectures) and int(config.num_labels) == 1
    pairs = classifier and is_candidate_cross_encoder(config)
    return Capabilities(architectures=architectures, model_type=str(getattr(config, "model_type", "")),
                        cross_encoder=classifier and not pairs, encoder=not causal_lm_detail(config), mlm=mlm,
                        candidate_scorer=bool(is_candidate_scorer(config)), candidate_cross_encoder=pairs)


_CAUSAL_ARCHITECTURES = ("ForCausalLM", "LMHeadModel")


def causal_lm_detail(config) -> str | None:
    """Why ``config`` describes a left-to-right language model (None when it does not).

    GPT-2's config has no ``is_decoder`` at all, so the flag alone misses the commonest causal LM: the architectures
    and a ``model_type`` that transformers knows only as a causal LM count too.

    >>> from transformers import BertConfig, GPT2Config
    >>> causal_lm_detail(BertConfig()), causal_lm_detail(GPT2Config())
    (None, "model_type 'gpt2', a causal LM only")
    """
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    if getattr(config, "is_decoder", False) and not getattr(config, "add_cross_attention", False):
        return "is_decoder: true"
    causal = [a for a in getattr(config, "architectures", None) or () if a.endswith(_CAUSAL_ARCHITECTURES)]
    if causal:
        return f"architectures: {', '.join(causal)}"
    model_type = str(getattr(config, "model_type", ""))
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return f"model_type '{model_type}', a causal LM only"
    return None


def require_encoder(checkpoint: str, config) -> None:
    """Refuse a causal LM where an encoder is needed (the bi-encoder scorer)."""
    detail = causal_lm_detail(config)
    if detail:
        raise UsageError(NOT_AN_ENCODER.format(checkpoint=checkpoint, detail=detail))


# ---------------------------------------------------------------------------------------------------- loading
def pick_device(device: str = "auto"):
    """``auto`` -> the first CUDA device if torch sees one, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise UsageError(UNKNOWN_DEVICE.format(device=device))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(NO_CUDA.format(device=device))
    return torch.device(device)


def max_tokens(model, tokenizer) -> int:
    """The longest input ``model`` takes: its position table, the tokenizer's limit and BERT's 512, whichever is least
    (a tokenizer made for 512 tokens on a model with 64 positions would otherwise index past the table)."""
    limits = [512, getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    return min(int(limit) for limit in limits if limit and limit < 1_000_000)  # "no limit" is a huge sentinel


def _weights_kwargs(checkpoint: str) -> dict[str, Any]:
    """Prefer safetensors; a local folder that has only pickle weights loads them (transformers uses weights_only)."""
    if is_local(checkpoint):
        if any((Path(checkpoint) / name).is_file() for name in _SAFE_WEIGHTS):
            return {"use_safetensors": True}
        logger.warning("%s has no safetensors weights; loading its PyTorch weights file", checkpoint)
    return {}


def load_model(checkpoint: str, head: str, *, trust_remote_code: bool = False, device: str = "cpu"):
    """Load ``checkpoint`` with the class for ``head`` (one of HEADS), in eval mode on ``device``.

    Refused when its weights do not fit the model its config.json describes, or when a bi-encoder is asked of a causal
    LM (see the module docstring for the weights that may legitimately be missing or left over)."""
    import torch  # noqa: F401  (transformers needs it; imported here so the error is torch's own)
    from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    from nlp_underspec.modeling import BertForCandidateScoring

    classes = {"cross": AutoModelForSequenceClassification, "bi": AutoModel, "mlm": AutoModelForMaskedLM,
               "coref": BertForCandidateScoring}
    checkpoint = check_checkpoint(checkpoint)
    config = load_config(checkpoint, trust_remote_code=trust_remote_code)  # the clear errors for missing / offline / code
    if head == "bi":
        require_encoder(checkpoint, config)
    kwargs = {} if head == "coref" else {"trust_remote_code": trust_remote_code}
    try:
        model = load_checked(classes[head], checkpoint, head, **kwargs, **_weights_kwargs(checkpoint))
    except UsageError:
        raise  # weights that do not fit config.json: already said in the user's terms
    except Exception as err:  # noqa: BLE001 - a checkpoint is untrusted input; _load_error keeps what it cannot name
        raise _load_error(err, checkpoint, head) from None
    return model.eval().to(pick_device(device))


def load_checked(model_class, checkpoint: str, head: str, *, fresh_head: bool = False, **kwargs):
    """``model_class.from_pretrained(checkpoint, **kwargs)``, refused with a UsageError naming the files when the
    weights do not fit (:func:`check_loading_info`). ``fresh_head=True`` accepts a freshly initialised head: for
    callers that build one on purpose (fine-tuning), never for scoring."""
    kwargs.setdefault("ignore_mismatched_sizes", True)  # shapes are checked below, with a message that names them
    check_weight_dtypes(checkpoint)
    with _quiet_transformers():
        model, info = model_class.from_pretrained(checkpoint, output_loading_info=True, **kwargs)
    check_loading_info(model, info, checkpoint=checkpoint, head=head, fresh_head=fresh_head)
    return model


# safetensors dtype names of integer and boolean tensors; a parameter stored so is no trained weight.
_NOT_FLOAT_DTYPES = frozenset({"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64"})
_PARAMETER_NAMES = ("weight", "bias", "gamma", "beta")  # integer buffers (position_ids) are legitimate


def check_weight_dtypes(checkpoint: str) -> None:
    """Refuse safetensors weights whose parameters are stored as integers or booleans, read from the file headers
    before anything loads (transformers casts them to the model's float dtype without a word). Only local and cached
    safetensors files are read; an unreadable one is left for the loader to report (:data:`CORRUPT_WEIGHTS`)."""
    from safetensors import SafetensorError, safe_open

    for path in _safetensors_files(checkpoint):
        try:
            with safe_open(path, framework="pt") as weights:
                bad = {key: weights.get_slice(key).get_dtype() for key in weights.keys()
                       if key.rsplit(".", 1)[-1] in _PARAMETER_NAMES}
        except (SafetensorError, OSError, ValueError):
            return
        bad = {key: dtype for key, dtype in bad.items() if dtype in _NOT_FLOAT_DTYPES}
        if bad:
            key = sorted(bad)[0]
            raise UsageError(WEIGHTS_NOT_FLOAT.format(checkpoint=checkpoint, file=path, count=len(bad), key=key,
                                                      dtype=", ".join(sorted(set(bad.values())))))


def _safetensors_files(checkpoint: str) -> list[str]:
    """The local (or cached) safetensors files of ``checkpoint``: model.safetensors, or the shards its index names."""
    import json

    single = _local_or_cached(checkpoint, "model.safetensors")
    if single is not None:
        return [single]
    index = _local_or_cached(checkpoint, "model.safetensors.index.json")
    if index is None:
        return []
    try:
        data = json.loads(Path(index).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(WEIGHT_INDEX_BAD.format(path=index, problem=f"it is not readable JSON ({error}).")) from None
    shards = [_local_or_cached(checkpoint, name) for name in _index_shards(data, index, local=is_local(checkpoint))]
    return [shard for shard in shards if shard is not None]


def _index_shards(data: Any, index: str, *, local: bool) -> list[str]:
    """The shard file names of a weights index, refused unless it maps tensor names to plain file names beside it
    (transformers would fail on anything else with a bare AttributeError, or open a path outside the checkpoint)."""
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise UsageError(WEIGHT_INDEX_BAD.format(path=index, problem=WEIGHT_MAP_NOT_MAPPING))
    folder = Path(index).parent
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or shard != Path(shard).name or shard in (".", ".."):
            raise UsageError(WEIGHT_INDEX_BAD.format(path=index, problem=WEIGHT_MAP_BAD_SHARD.format(
                tensor=tensor, shard=shard)))
        if local and not (folder / shard).is_file():
            raise UsageError(WEIGHT_INDEX_BAD.format(path=index, problem=WEIGHT_MAP_SHARD_MISSING.format(
                tensor=tensor, shard=shard, folder=folder)))
    return list(dict.fromkeys(weight_map.values()))


def check_loading_info(model, info: dict, *, checkpoint: str, head: str, fresh_head: bool = False) -> None:
    """Refuse what ``from_pretrained(..., output_loading_info=True)`` reports beyond the legitimate gaps of ``head``.

    Which gaps are legitimate is in the module docstring: in short, the encoder must load whole (a pooler may be
    absent except under a classification head), a head may be fresh only with ``fresh_head``, and left-over weights
    may only belong to modules the loading class does not build."""
    where = dict(checkpoint=checkpoint, weights=_weights_name(checkpoint), model_class=type(model).__name__)
    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or ())  # (key, saved shape, model shape)
    encoder_keys = [k for k in model.state_dict() if _part_of(model, k) == "encoder"]
    lost = [k for k in missing if _part_of(model, k) == "encoder"]
    if lost:
        raise UsageError(ENCODER_WEIGHTS_MISSING.format(
            **where, loaded=len(encoder_keys) - len(lost), total=len(encoder_keys), examples=_examples(lost),
            model_type=getattr(model.config, "model_type", "")))
    reshaped = [m for m in mismatched if _part_of(model, m[0]) == "encoder"]
    if reshaped:
        key, saved, expected = reshaped[0]
        raise UsageError(WEIGHTS_MISMATCHED.format(**where, count=len(reshaped), key=key, saved=list(saved),
                                                   expected=list(expected)))
    misplaced = [k for k in sorted(info.get("unexpected_keys") or ()) if _lands_inside(model, k)]
    if misplaced:
        raise UsageError(UNEXPECTED_WEIGHTS.format(**where, count=len(misplaced), examples=_examples(misplaced)))
    # The pooler is read only by a classification head: there it is part of the head; elsewhere it may be anything.
    head_parts = ("head", "pooler") if head == "cross" else ("head",)
    fresh = [k for k in [*missing, *(m[0] for m in mismatched)] if _part_of(model, k) in head_parts]
    if fresh and not fresh_head:
        declared = ", ".join(getattr(model.config, "architectures", None) or ()) or type(model).__name__
        raise UsageError(HEAD_WEIGHTS_MISSING.format(**where, declared=declared, examples=_examples(sorted(fresh)),
                                                     what=_HEAD_NAMES[head], hint=_HEAD_HINTS[head]))


def _part_of(model, key: str) -> str:
    """``encoder`` (the base model but its pooler), ``pooler`` or ``head`` (outside the base model), for a key of
    ``model``'s own state dict."""
    names = key.split(".")
    if "pooler" in names:
        return "pooler"
    if model.base_model is model or names[0] == model.base_model_prefix:
        return "encoder"
    return "head"


def _lands_inside(model, key: str) -> bool:
    """Whether a saved weight ``model`` did not take belongs inside a module it builds (config.json does not describe
    the weights) rather than to a module it does not build (a head or pooler it drops, which is legitimate)."""
    from torch import nn

    names = key.split(".")
    module, base = model, model.base_model
    if names[0] == model.base_model_prefix and names[0] not in model._modules:
        names = names[1:]  # a bare encoder loading a checkpoint saved with a head: "bert.encoder..." -> "encoder..."
    elif base is not model and names[0] not in model._modules and names[0] in base._modules:
        module = base  # a model with a head loading a bare encoder's keys
    for name in names[:-1]:
        child = module._modules.get(name)
        if child is None:
            # A layer index past the end is a deeper model than config.json says; a missing named module is one the
            # class does not build.
            return name.isdigit() or isinstance(module, (nn.ModuleList, nn.ModuleDict))
        module = child
    return True  # the module exists but has no such parameter


def _examples(keys, limit: int = 3) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown} and {len(keys) - limit} more" if len(keys) > limit else shown


def _weights_name(checkpoint: str) -> str:
    if is_local(checkpoint):
        for name in _WEIGHTS_FILES:
            if (Path(checkpoint) / name).is_file():
                return name
    return "its weights"


def _load_error(err: Exception, checkpoint: str, head: str) -> Exception:
    """The one UsageError for a ``from_pretrained`` that failed: corrupt safetensors, a pickle ``weights_only``
    refuses, or anything else transformers reports; an exception of no known family is returned as is (a bug)."""
    import pickle

    from safetensors import SafetensorError

    what = _HEAD_NAMES[head]
    if isinstance(err, SafetensorError):
        return UsageError(CORRUPT_WEIGHTS.format(checkpoint=checkpoint, what=what, reason=_first_line(err),
                                                 file=_weights_file(checkpoint, _SAFE_WEIGHTS)))
    if isinstance(err, pickle.UnpicklingError):
        return UsageError(PICKLE_REFUSED.format(checkpoint=checkpoint, what=what,
                                                file=_weights_file(checkpoint, _PICKLE_WEIGHTS)))
    if isinstance(err, (OSError, ValueError, KeyError, RuntimeError, EOFError)):
        return UsageError(CANNOT_LOAD.format(checkpoint=checkpoint, what=what, reason=_first_line(err)))
    return err


def _weights_file(checkpoint: str, names: tuple[str, ...]) -> str:
    """The weights file of a local checkpoint (its path), else the file name in the Hub repo."""
    found = [Path(checkpoint) / name for name in names if is_local(checkpoint) and (Path(checkpoint) / name).is_file()]
    return str(found[0]) if found else names[0]


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence the per-load weight bar and the load report (dropping an MLM head to use the encoder is intended)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_tokenizer(checkpoint: str, *, trust_remote_code: bool = False, need_offsets: str | None = None,
                   purpose: str = "scoring"):
    """The checkpoint's tokenizer; ``need_offsets="the MLM probe"`` requires a fast tokenizer (character offsets).

    Refused when it has no vocabulary of its own (:func:`check_tokenizer`), no pad token, code of its own without
    ``trust_remote_code``, or when it does not fit the model (:func:`check_tokenizer_fits`)."""
    from transformers import AutoTokenizer

    checkpoint = check_checkpoint(checkpoint)
    config = load_config(checkpoint, trust_remote_code=trust_remote_code)  # its clear errors (offline, code) first
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as err:
        raise UsageError(CANNOT_LOAD.format(checkpoint=checkpoint, what="a tokenizer", reason=_first_line(err))) from None
    if not trust_remote_code:
        check_no_remote_code(checkpoint)  # a Hub tokenizer_config.json is cached only now
    check_tokenizer(tokenizer, checkpoint, purpose=purpose)
    check_tokenizer_fits(tokenizer, getattr(config, "vocab_size", None), checkpoint)
    if need_offsets and not getattr(tokenizer, "is_fast", False):
        raise UsageError(NO_FAST_TOKENIZER.format(checkpoint=checkpoint, what=need_offsets))
    return tokenizer


def check_tokenizer(tokenizer, checkpoint: str, *, purpose: str) -> None:
    """A vocabulary beyond the special tokens, and a pad token (``purpose`` says what needs it)."""
    check_vocabulary(tokenizer, checkpoint)
    check_pad_token(tokenizer, checkpoint, purpose=purpose)


def check_vocabulary(tokenizer, checkpoint: str) -> None:
    """Refuse the vocabulary transformers makes up when the tokenizer files are missing: special tokens only."""
    vocabulary = set(tokenizer.get_vocab())
    if not vocabulary - set(tokenizer.all_special_tokens):
        raise UsageError(TOKENIZER_WITHOUT_VOCABULARY.format(checkpoint=checkpoint, found=_tokenizer_files(checkpoint),
                                                             count=len(vocabulary)))


def check_known_words(tokenizer, words, checkpoint: str, *, what: str) -> None:
    """Refuse a tokenizer that turns any of ``words`` (as ``what`` writes them) into its unknown token: a probe that
    compares them would compare [UNK] with [UNK]."""
    unk = getattr(tokenizer, "unk_token", None)
    if unk is None:
        return
    unknown = [word for word in dict.fromkeys(words) if unk in tokenizer.tokenize(word)]
    if unknown:
        raise UsageError(WORDS_UNKNOWN.format(checkpoint=checkpoint, words=_examples(f"'{w}'" for w in unknown),
                                              unk=unk, what=what))


def check_distinct_words(tokenizer, words, checkpoint: str, *, what: str) -> None:
    """Refuse a tokenizer that encodes two of ``words`` (which ``what`` compares with each other) as the same ids: the
    comparison would be of a word with itself."""
    seen: dict[tuple[int, ...], str] = {}
    for word in dict.fromkeys(words):
        ids = tuple(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)))
        if ids in seen and seen[ids].lower() != word.lower():  # "She"/"she" of a lower-casing tokenizer is one word
            raise UsageError(WORDS_SHARE_IDS.format(checkpoint=checkpoint, first=seen[ids], second=word,
                                                    ids=list(ids), what=what))
        seen.setdefault(ids, word)


def check_mask_token(tokenizer, checkpoint: str, *, what: str) -> None:
    if tokenizer.mask_token_id is None:
        raise UsageError(NO_MASK_TOKEN.format(checkpoint=checkpoint, what=what))


def check_tokenizer_fits(tokenizer, vocab_size: int | None, checkpoint: str) -> None:
    """Refuse a tokenizer that does not fit the model: a declared special token its vocabulary lacks (transformers
    appends it as a new id the model never learnt, often past its embedding table), or any token whose id is not
    below the model's ``vocab_size``. Either fails only at inference (an IndexError inside the embedding) or scores
    an untrained embedding."""
    vocabulary = tokenizer.get_vocab()
    saved = _saved_vocabulary(checkpoint)
    for role, token in tokenizer.special_tokens_map.items():
        for name in token if isinstance(token, list) else [token]:
            token_id = vocabulary.get(str(name))
            if token_id is None or (saved is not None and str(name) not in saved):
                how = "tokenizer.json has no such token" if saved is not None else "it has no id"
                if token_id is not None:
                    how += f"; transformers would append it as id {token_id}, which the model never learnt"
                raise UsageError(SPECIAL_TOKEN_UNKNOWN.format(checkpoint=checkpoint, role=role, token=str(name),
                                                              how=how))
    token, token_id = max(vocabulary.items(), key=lambda item: item[1], default=(None, -1))
    if vocab_size is not None and token_id >= vocab_size:
        raise UsageError(TOKEN_PAST_MODEL.format(checkpoint=checkpoint, token=token, id=token_id, size=vocab_size))


def _saved_vocabulary(checkpoint: str) -> set[str] | None:
    """The tokens the checkpoint's tokenizer.json holds (its model's vocabulary and added tokens), or None when there
    is no such file or its vocabulary is of a kind not read here."""
    saved = _read_checkpoint_file(checkpoint, "tokenizer.json")
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
        return None
    vocab = saved["model"].get("vocab")
    if isinstance(vocab, dict):
        tokens = set(map(str, vocab))
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        tokens = {str(entry[0]) for entry in vocab if isinstance(entry, list) and entry}
    else:
        return None
    added = saved.get("added_tokens")
    tokens |= {str(a.get("content")) for a in added if isinstance(a, dict)} if isinstance(added, list) else set()
    return tokens


def check_pad_token(tokenizer, checkpoint: str, *, purpose: str) -> None:
    if tokenizer.pad_token_id is None:
        raise UsageError(NO_PAD_TOKEN.format(checkpoint=checkpoint, what=purpose))


def _tokenizer_files(checkpoint: str) -> str:
    if not is_local(checkpoint):
        return "its tokenizer holds only special tokens"
    present = [name for name in _TOKENIZER_FILES if (Path(checkpoint) / name).is_file()]
    if not present:
        return f"none of {', '.join(_TOKENIZER_FILES)} is in the folder"
    return f"its {', '.join(present)} {'holds' if len(present) == 1 else 'hold'} only special tokens"


def free(model) -> None:
    """Drop a model's memory now (between models of a family) rather than at the next garbage collection.

    On CUDA a collection and ``empty_cache`` hand the memory back before the next model loads; on CPU the reference
    count frees the weights already, and a full collection (~0.3 s with transformers loaded) would only add time."""
    import torch

    on_cuda = any(p.is_cuda for p in model.parameters())
    del model
    if on_cuda:
        gc.collect()
        torch.cuda.empty_cache()


@contextlib.contextmanager
def loaded(checkpoint: str, head: str, *, trust_remote_code: bool = False, device: str = "auto",
           need_offsets: str | None = None) -> Iterator[tuple[Any, Any]]:
    """``with loaded(ckpt, "bi") as (model, tokenizer):`` - the model is freed on exit."""
    tokenizer = load_tokenizer(checkpoint, trust_remote_code=trust_remote_code, need_offsets=need_offsets)
    model = load_model(checkpoint, head, trust_remote_code=trust_remote_code, device=device)
    try:
        yield model, tokenizer
    finally:
        free(model)


# ---------------------------------------------------------------------------------------------------- seeds
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
    record = _read_checkpoint_file(checkpoint, "run.json")
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


def _read_checkpoint_file(checkpoint: str, filename: str) -> Any:
    """A JSON/text file of a local folder or of a cached Hub repo (never downloads); None when absent."""
    import json

    path = _local_or_cached(checkpoint, filename)
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if filename.endswith(".json") else text
    except (OSError, ValueError):
        logger.warning("ignoring unreadable %s of %s", filename, checkpoint)
        return None


def _local_or_cached(checkpoint: str, filename: str) -> str | None:
    if is_local(checkpoint):
        path = Path(checkpoint).expanduser() / filename
        return str(path) if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(checkpoint, filename)
    except Exception:  # an id that is not a valid repo name: nothing cached
        return None
    return found if isinstance(found, str) else None


def _card_metadata(checkpoint: str) -> dict[str, Any]:
    """The YAML front matter of the checkpoint's README.md, or {}."""
    import yaml

    text = _read_checkpoint_file(checkpoint, "README.md")
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
