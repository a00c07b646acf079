"""Loading a checkpoint's tokenizer for scoring, and the checks that it can serve: a vocabulary beyond its special
tokens (transformers makes up one of special tokens alone when the tokenizer files are missing, and every sentence
would then encode the same), a pad token (every path batches padded inputs), ids that fit the model, and words a
probe compares that it knows and tells apart."""

from __future__ import annotations

from pathlib import Path

from nlp_underspec.errors import UsageError
from nlp_underspec.models.checkpoint import (CANNOT_LOAD, check_checkpoint, check_no_remote_code, first_few, first_line, is_local,
                                             load_config, read_checkpoint_file)

NO_FAST_TOKENIZER = ("{checkpoint} has no fast (Rust) tokenizer, which {what} needs for character offsets. Save one "
                     "with tokenizer.save_pretrained() from a PreTrainedTokenizerFast.")
TOKENIZER_WITHOUT_VOCABULARY = ("{checkpoint} has no tokenizer vocabulary ({found}): transformers would make up a "
                                "vocabulary of its {count} special tokens, and every sentence would encode the same. "
                                "Save the tokenizer the model was trained with into the checkpoint "
                                "(tokenizer.save_pretrained), or pass a checkpoint that has one.")
NO_PAD_TOKEN = ("The tokenizer of {checkpoint} has no pad token, which {what} needs to batch inputs of different "
                "lengths. Set one and save it (e.g. tokenizer.pad_token = tokenizer.sep_token or eos_token: padded "
                "positions are masked out; then tokenizer.save_pretrained), or pass a checkpoint whose tokenizer has "
                "one.")
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
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
                    "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")


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
        raise UsageError(CANNOT_LOAD.format(checkpoint=checkpoint, what="a tokenizer", reason=first_line(err))) from None
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
        raise UsageError(WORDS_UNKNOWN.format(checkpoint=checkpoint, words=first_few(f"'{w}'" for w in unknown),
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
    saved = read_checkpoint_file(checkpoint, "tokenizer.json")
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
