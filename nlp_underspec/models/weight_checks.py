"""Refusing weights that do not fit the model ``config.json`` describes, for one head.

transformers fills whatever the weights file lacks with random values, which gives plausible-looking numbers from
nothing, so :func:`check_loading_info` compares the weights with the model:

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

Before anything loads, :func:`check_weight_dtypes` refuses parameters stored as integers or booleans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nlp_underspec.errors import UsageError
from nlp_underspec.models.checkpoint import first_few, is_local, local_or_cached

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
WEIGHTS_NOT_FLOAT = ("{checkpoint}: its weights file {file} stores {count} parameter(s) as {dtype} (e.g. {key}), not as "
                     "floating-point numbers: transformers would cast them and score whatever they became. Save the "
                     "checkpoint again with save_pretrained from a floating-point model, or pass another checkpoint.")
HEAD_NAMES = {"cross": "a cross-encoder (sequence classification, 1 label)", "bi": "an encoder",
               "mlm": "a masked language model", "coref": "a candidate-scoring pronoun resolver"}
WEIGHT_INDEX_BAD = ("{path} is not a valid weights index: {problem} Re-save the checkpoint (save_pretrained writes the "
                    "index), or remove the broken file.")
WEIGHT_MAP_NOT_MAPPING = ('it must be a JSON object whose "weight_map" is an object mapping each tensor name to the '
                          'file name of its shard.')
WEIGHT_MAP_BAD_SHARD = ("weight_map[{tensor!r}] is {shard!r}, not the plain file name of a shard in the checkpoint "
                        "folder.")
WEIGHT_MAP_SHARD_MISSING = "weight_map[{tensor!r}] names {shard!r}, which is not a file in {folder}."
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_WEIGHTS_FILES = (*SAFE_WEIGHTS, "pytorch_model.bin", "pytorch_model.bin.index.json")
# Heads whose fresh (random) weights would be scored, with what the user can do instead.
_HEAD_HINTS = {"cross": "Score it as a bi-encoder with --sts-scorer bi, or pass a model fine-tuned with this head.",
               "mlm": "Pass a checkpoint saved with its masked-LM head (BertForMaskedLM or BertForPreTraining).",
               "coref": "Pass a model fine-tuned with `nlp-underspec finetune --task coref` (span_pair head).",
               "bi": "Pass another checkpoint."}
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
    single = local_or_cached(checkpoint, "model.safetensors")
    if single is not None:
        return [single]
    index = local_or_cached(checkpoint, "model.safetensors.index.json")
    if index is None:
        return []
    try:
        data = json.loads(Path(index).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(WEIGHT_INDEX_BAD.format(path=index, problem=f"it is not readable JSON ({error}).")) from None
    shards = [local_or_cached(checkpoint, name) for name in _index_shards(data, index, local=is_local(checkpoint))]
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
            **where, loaded=len(encoder_keys) - len(lost), total=len(encoder_keys), examples=first_few(lost),
            model_type=getattr(model.config, "model_type", "")))
    reshaped = [m for m in mismatched if _part_of(model, m[0]) == "encoder"]
    if reshaped:
        key, saved, expected = reshaped[0]
        raise UsageError(WEIGHTS_MISMATCHED.format(**where, count=len(reshaped), key=key, saved=list(saved),
                                                   expected=list(expected)))
    misplaced = [k for k in sorted(info.get("unexpected_keys") or ()) if _lands_inside(model, k)]
    if misplaced:
        raise UsageError(UNEXPECTED_WEIGHTS.format(**where, count=len(misplaced), examples=first_few(misplaced)))
    # The pooler is read only by a classification head: there it is part of the head; elsewhere it may be anything.
    head_parts = ("head", "pooler") if head == "cross" else ("head",)
    fresh = [k for k in [*missing, *(m[0] for m in mismatched)] if _part_of(model, k) in head_parts]
    if fresh and not fresh_head:
        declared = ", ".join(getattr(model.config, "architectures", None) or ()) or type(model).__name__
        raise UsageError(HEAD_WEIGHTS_MISSING.format(**where, declared=declared, examples=first_few(sorted(fresh)),
                                                     what=HEAD_NAMES[head], hint=_HEAD_HINTS[head]))


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


def _weights_name(checkpoint: str) -> str:
    if is_local(checkpoint):
        for name in _WEIGHTS_FILES:
            if (Path(checkpoint) / name).is_file():
                return name
    return "its weights"
