"""The one place that loads a checkpoint as a model for one head (:data:`HEADS`), on a device, and frees it again.

Safetensors weights are used whenever the checkpoint has them. A load is refused, with a message in the user's terms,
when the weights do not fit ``config.json`` (:mod:`nlp_underspec.models.weight_checks`), when a bi-encoder is asked of
a causal LM (:mod:`nlp_underspec.models.capabilities`), or when the weights file is corrupt or a pickle that holds
more than tensors.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import pickle
import re
from pathlib import Path
from typing import Any, Iterator

from nlp_underspec.errors import UsageError
from nlp_underspec.models.capabilities import require_encoder
from nlp_underspec.models.checkpoint import (CANNOT_LOAD, check_checkpoint, first_line, is_local, load_config,
                                             quiet_transformers)
from nlp_underspec.models.tokenizer_checks import load_tokenizer
from nlp_underspec.models.weight_checks import (HEAD_NAMES, PICKLE_WEIGHTS, SAFE_WEIGHTS, check_loading_info,
                                                check_weight_dtypes)

logger = logging.getLogger(__name__)

HEADS = ("cross", "bi", "mlm", "coref")
CORRUPT_WEIGHTS = ("Could not load {checkpoint} as {what}: its weights file {file} is not readable ({reason}). Save "
                   "the checkpoint again with save_pretrained, or download it again.")
PICKLE_REFUSED = ("Could not load {checkpoint} as {what}: its weights file {file} is a pickle that holds more than "
                  "tensors, and loading it could run code, so it is refused (torch.load weights_only). Use a "
                  "safetensors copy (model.safetensors); if you trust its author, convert it where you can: load it "
                  "with torch.load(weights_only=False) and save_pretrained(safe_serialization=True).")
UNKNOWN_DEVICE = "Unknown device '{device}'. Use auto, cpu, cuda or cuda:N."
NO_CUDA = "Device '{device}' was requested but torch sees no CUDA device. Use --device cpu."


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
        if any((Path(checkpoint) / name).is_file() for name in SAFE_WEIGHTS):
            return {"use_safetensors": True}
        logger.warning("%s has no safetensors weights; loading its PyTorch weights file", checkpoint)
    return {}


def load_model(checkpoint: str, head: str, *, trust_remote_code: bool = False, device: str = "cpu"):
    """Load ``checkpoint`` with the class for ``head`` (one of HEADS), in eval mode on ``device``.

    Refused when its weights do not fit the model its config.json describes, or when a bi-encoder is asked of a causal
    LM (see the module docstring for the weights that may legitimately be missing or left over)."""
    import torch  # noqa: F401  (transformers needs it; imported here so the error is torch's own)
    from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    from nlp_underspec.models.span_pair_head import BertForCandidateScoring

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
    with quiet_transformers():
        model, info = model_class.from_pretrained(checkpoint, output_loading_info=True, **kwargs)
    check_loading_info(model, info, checkpoint=checkpoint, head=head, fresh_head=fresh_head)
    return model


def _load_error(err: Exception, checkpoint: str, head: str) -> Exception:
    """The one UsageError for a ``from_pretrained`` that failed: corrupt safetensors, a pickle ``weights_only``
    refuses, or anything else transformers reports; an exception of no known family is returned as is (a bug)."""
    from safetensors import SafetensorError

    what = HEAD_NAMES[head]
    if isinstance(err, SafetensorError):
        return UsageError(CORRUPT_WEIGHTS.format(checkpoint=checkpoint, what=what, reason=first_line(err),
                                                 file=_weights_file(checkpoint, SAFE_WEIGHTS)))
    if isinstance(err, pickle.UnpicklingError):
        return UsageError(PICKLE_REFUSED.format(checkpoint=checkpoint, what=what,
                                                file=_weights_file(checkpoint, PICKLE_WEIGHTS)))
    if isinstance(err, (OSError, ValueError, KeyError, RuntimeError, EOFError)):
        return UsageError(CANNOT_LOAD.format(checkpoint=checkpoint, what=what, reason=first_line(err)))
    return err


def _weights_file(checkpoint: str, names: tuple[str, ...]) -> str:
    """The weights file of a local checkpoint (its path), else the file name in the Hub repo."""
    found = [Path(checkpoint) / name for name in names if is_local(checkpoint) and (Path(checkpoint) / name).is_file()]
    return str(found[0]) if found else names[0]


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
