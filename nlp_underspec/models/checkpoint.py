"""Finding a checkpoint (a local folder or a Hub id), reading its files and its config, and refusing custom code.

A checkpoint is untrusted input: custom code runs only with an explicit ``trust_remote_code=True`` (the CLI's
``--trust-remote-code``), and a checkpoint that declares code of its own (``auto_map`` in ``config.json`` or
``tokenizer_config.json``) is refused without it, even when its ``model_type`` is one transformers knows (it would
load as that plain model, not as its author's). Files are read from a local folder or from the Hub cache, never
downloaded here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

from nlp_underspec.errors import UsageError

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
CONFIG_UNREADABLE = ("{checkpoint}: its config.json cannot describe a model ({reason}). Restore the config.json that was "
                     "saved with the weights, or pass another checkpoint.")
CONFIG_SIZE_NOT_POSITIVE = ("{checkpoint}: config.json gives {field} = {value}, but it must be a positive integer (a "
                            "model of that size has nothing to compute with). Restore the config.json that was saved "
                            "with the weights, or pass another checkpoint.")
_REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")

logger = logging.getLogger(__name__)


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
        with quiet_transformers():  # its warnings on a bad config would precede the one message that says what is bad
            config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    except ValueError as err:
        if "trust_remote_code" in str(err):
            raise UsageError(NEEDS_REMOTE_CODE.format(checkpoint=checkpoint, file="config.json")) from None
        raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=checkpoint, reason=first_line(err))) from None
    except OSError as err:
        if is_local(checkpoint):
            raise UsageError(NOT_A_CHECKPOINT.format(checkpoint=checkpoint, reason=first_line(err))) from None
        raise UsageError(HUB_MODEL_UNAVAILABLE.format(checkpoint=checkpoint, reason=first_line(err))) from None
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
        content = read_checkpoint_file(checkpoint, name)
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


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def first_few(keys, limit: int = 3) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown} and {len(keys) - limit} more" if len(keys) > limit else shown


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
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


def read_checkpoint_file(checkpoint: str, filename: str) -> Any:
    """A JSON/text file of a local folder or of a cached Hub repo (never downloads); None when absent."""
    path = local_or_cached(checkpoint, filename)
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if filename.endswith(".json") else text
    except (OSError, ValueError):
        logger.warning("ignoring unreadable %s of %s", filename, checkpoint)
        return None


def local_or_cached(checkpoint: str, filename: str) -> str | None:
    if is_local(checkpoint):
        path = Path(checkpoint).expanduser() / filename
        return str(path) if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(checkpoint, filename)
    except Exception:  # an id that is not a valid repo name: nothing cached
        return None
    return found if isinstance(found, str) else None
