"""Tokenizers for pretraining: a WordPiece vocabulary trained on the corpus, or an existing tokenizer by path / Hub id.

A trained tokenizer is saved as a standard ``BertTokenizer`` (lower-cased, BERT normalisation and pre-tokenisation),
so ``AutoTokenizer.from_pretrained(run_folder)`` loads it with the model. Training is deterministic for a given
corpus and size (``tokenizers`` counts words exactly and breaks ties by a fixed order; a test checks it).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Sequence

from nlp_underspec.errors import UsageError
from nlp_underspec.models import check_tokenizer_fits, check_vocabulary, remote_code_file

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4, BERT's order of roles

TOKENIZER_NOT_LOADABLE = ("Could not load a tokenizer from '{name}' ({reason}). Pass a folder saved with "
                          "save_pretrained, a Hub id, or 'train' to train a WordPiece vocabulary on the corpus.")
TOKENIZER_NOT_FAST = ("Tokenizer '{name}' is a slow (Python) tokenizer; the toolkit needs a fast one (tokenizer.json) "
                      "for character offsets. Re-save it with a tokenizers-backed class.")
TOKENIZER_LACKS_SPECIALS = ("Tokenizer '{name}' has no {missing} token(s); BERT pretraining needs [CLS], [SEP], [PAD] "
                            "and [MASK]. Use a BERT-style tokenizer or pretrain.tokenizer: train.")
RECIPE_VOCAB_MISMATCH = ("{where}: pretrain.vocab_size is {recipe_size} but tokenizer '{name}' has {tokenizer_size} "
                         "tokens. Remove pretrain.vocab_size or set it to {tokenizer_size}.")
TOKENIZER_NEEDS_REMOTE_CODE = ("Tokenizer '{name}' ships its own Python code (auto_map in {file}), which training never "
                               "runs: loaded without it, it would be another tokenizer than its author's. Use a "
                               "tokenizer without custom code, or pretrain.tokenizer: train.")
MODEL_VOCAB_MISMATCH = ("Tokenizer of '{name}' has {tokenizer_size} tokens but the model's vocabulary (config.vocab_size) "
                        "has {model_size}: token ids would index past the embedding table. Use the tokenizer the model "
                        "was trained with.")


# The WordPiece trainer of `tokenizers` is not deterministic: it numbers "##" sub-word units in hash-map order and
# those numbers break ties between equally frequent merges (huggingface/tokenizers#1794). We therefore train its BPE
# trainer without a sub-word prefix on words whose non-initial characters are shifted into the private-use planes:
# every unit is then a plain alphabet character, numbered in sorted order, so ties break the same way in every run.
# Shifted characters become "##" pieces again afterwards.
_SHIFTS = ((0x0000, 0x10000, 0xF0000), (0x10000, 0x20000, 0x100000))  # (from, to, private-use base): BMP, plane 1


def _shift(char: str) -> str:
    code = ord(char)
    for low, high, base in _SHIFTS:
        if low <= code < high:
            return chr(base + code - low)
    return char  # planes 2+ (rare CJK extensions): left as is


def _unshift(char: str) -> tuple[str, bool]:
    code = ord(char)
    for low, high, base in _SHIFTS:
        if base <= code < base + (high - low):
            return chr(code - base + low), True
    return char, False


def _mark_continuations(word: str) -> str:
    """``"doctor"`` -> ``"d"`` + shifted ``"octor"``: continuing characters become distinct alphabet symbols."""
    return word[:1] + "".join(_shift(c) for c in word[1:])


def _wordpiece_token(unit: str) -> str:
    first, shifted = _unshift(unit[0])
    rest = "".join(_unshift(c)[0] for c in unit[1:])
    return f"##{first}{rest}" if shifted else f"{first}{rest}"


def _word_counts(texts: Sequence[str], *, chunk: int = 2000) -> Counter:
    """Counts of words after BERT normalisation and pre-tokenisation, as BertTokenizer applies them when encoding.

    Texts are joined into chunks first: one call into `tokenizers` per chunk instead of per text (words never span
    the joining space, because the pre-tokenizer splits on whitespace).
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for start in range(0, len(texts), chunk):
        normalized = normalizer.normalize_str(" ".join(texts[start:start + chunk]))
        counts.update(word for word, _span in pre_tokenizer.pre_tokenize_str(normalized))
    return counts


def _training_stream(counts: Counter, *, repeat_limit: int = 10_000):
    """Each marked word repeated as often as it occurs, a few thousand copies per string (the trainer re-counts)."""
    for word, count in sorted(counts.items()):
        marked = _mark_continuations(word)
        for start in range(0, count, repeat_limit):
            yield " ".join([marked] * min(repeat_limit, count - start))


def train_wordpiece(texts: Sequence[str], *, vocab_size: int, min_frequency: int = 2):
    """A ``BertTokenizer`` whose WordPiece vocabulary (at most ``vocab_size`` entries) is learnt from ``texts``.

    Deterministic: the same texts and size give the same vocabulary in every process.
    """
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import BertTokenizer

    model = Tokenizer(BPE(unk_token="[UNK]"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    model.train_from_iterator(_training_stream(_word_counts(texts)), trainer=trainer)
    vocab: dict[str, int] = {}
    for unit, _index in sorted(model.get_vocab().items(), key=lambda item: item[1]):
        token = unit if unit in SPECIAL_TOKENS else _wordpiece_token(unit)
        vocab.setdefault(token, len(vocab))
    logger.info("Trained a WordPiece vocabulary of %d tokens on %d texts", len(vocab), len(texts))
    return BertTokenizer(vocab=vocab, do_lower_case=True)


def load_training_tokenizer(name: str):
    """``AutoTokenizer.from_pretrained(name)`` (never with remote code), as one clear error when it fails, when it
    declares code of its own (transformers would load a plain tokenizer instead) or when it has no vocabulary (the
    special tokens transformers makes up when the files are missing)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError, EnvironmentError) as err:
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UsageError(TOKENIZER_NOT_LOADABLE.format(name=name, reason=reason)) from None
    code = remote_code_file(name, files=("tokenizer_config.json",))  # a model's own code: finetuning checks --from
    if code:
        raise UsageError(TOKENIZER_NEEDS_REMOTE_CODE.format(name=name, file=code))
    check_vocabulary(tokenizer, name)
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(TOKENIZER_NOT_FAST.format(name=name))
    return tokenizer


def check_pretraining_tokenizer(tokenizer, name: str) -> None:
    missing = [role for role in ("cls", "sep", "pad", "mask") if getattr(tokenizer, f"{role}_token_id", None) is None]
    if missing:
        raise UsageError(TOKENIZER_LACKS_SPECIALS.format(name=name, missing=", ".join(f"[{m.upper()}]" for m in missing)))


def check_recipe_vocab_size(tokenizer, *, vocab_size: int | None, name: str, where: str) -> None:
    """With a given tokenizer, ``pretrain.vocab_size`` must be unset or equal to the tokenizer's size."""
    if vocab_size is not None and vocab_size != len(tokenizer):
        raise UsageError(RECIPE_VOCAB_MISMATCH.format(where=where, recipe_size=vocab_size, name=name,
                                                      tokenizer_size=len(tokenizer)))


def check_tokenizer_fits_model(tokenizer, *, model_vocab_size: int, name: str) -> None:
    """Refuse a tokenizer whose ids would index past the model's embedding table, or that names a special token
    its vocabulary lacks (:func:`nlp_underspec.models.tokenizer_checks.check_tokenizer_fits`)."""
    if len(tokenizer) > model_vocab_size:
        raise UsageError(MODEL_VOCAB_MISMATCH.format(name=name, tokenizer_size=len(tokenizer),
                                                     model_size=model_vocab_size))
    check_tokenizer_fits(tokenizer, model_vocab_size, name)
