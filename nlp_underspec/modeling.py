"""Model heads the toolkit adds to BERT: pronoun resolution (two ways) and bi-encoder similarity.

- :class:`BertForCandidateScoring` (the ``span_pair`` coref head) encodes a sentence once, mean-pools the token states
  of the pronoun span and of each candidate span, scores each (pronoun, candidate) pair with a small MLP over
  ``[p, c, p * c]``, and normalises with a softmax over the sentence's candidates. Nothing is inserted into the text,
  so the pronoun stays as written; but the new MLP starts from nothing, so it cannot use what the encoder's masked-LM
  head knew about who "she" is likely to be. It loads from any BERT checkpoint with ``from_pretrained``, which
  initialises only the scorer; no ``trust_remote_code`` is involved because the class is ours.
- :class:`CandidateRanker` (the ``ranking`` coref head) keeps the masked-LM head and asks it: the sentence stays as
  written (pronoun and gender visible) and a probe naming the antecedent is appended with the candidate's tokens
  masked ("... because she had fixed the problem. She is the [MASK]."); a candidate's score is the mean
  log-probability of its own tokens there (the only tokens that differ between candidates, so no evidence is diluted
  by averaging over the whole probe). Training is a cross-entropy over the candidates' scores; the saved checkpoint is
  a plain masked LM (marked :data:`RANKING_HEAD`), which the Winogender ``mlm_probe`` resolver scores the same way.
  Because the scores are the masked LM's own, the prior it learnt in pretraining reaches the decision, as it does in
  a pretrained model probed without fine-tuning.
- :class:`CandidateCrossEncoder` (the coref ``cross_encoder`` head) needs no masked-LM head, so it fine-tunes any
  encoder (all-MiniLM-L6-v2 has none): each (sentence, candidate) pair is one input, the sentence as written with the
  pronoun marked (``*she*``: which pronoun is meant, and its gender, stay visible) and, as the second segment, the
  probe statement the ranking head masks, unmasked ("She is the nurse."). One new linear output scores the pair; a
  softmax over the sentence's candidates is trained with a cross-entropy. The checkpoint is saved as a
  one-output sequence classifier marked :data:`CROSS_ENCODER_HEAD` (so it is never taken for an STS cross-encoder),
  which the Winogender ``cross_encoder`` resolver scores the same way.
- :class:`CosineSimilarityRegressor` (the stsb ``bi_encoder`` head) mean-pools each sentence and regresses the cosine
  of the two on gold / 5 (Sentence-BERT's objective); the saved checkpoint is a plain encoder, which ``sts_gender``
  scores as a bi-encoder with the same pooling.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import ModelOutput
from dataclasses import dataclass

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError

CANDIDATE_HEAD = "candidate_scoring"  # recorded in config.nlp_underspec_head so loaders can detect the head
RANKING_HEAD = "candidate_ranking"  # a masked LM fine-tuned by CandidateRanker
BI_ENCODER_HEAD = "sts_bi_encoder"  # an encoder fine-tuned by CosineSimilarityRegressor
CROSS_ENCODER_HEAD = "candidate_cross_encoder"  # a one-output sequence classifier fine-tuned by CandidateCrossEncoder
PRONOUN_MARK = "*"  # around the pronoun in the cross-encoder's sentence: "... that *she* could ..."
# What the cross-encoder pairs the marked sentence with, per candidate: the probe statement ("She is the nurse.") or
# the sentence with the pronoun replaced by the candidate ("... that the nurse could ..."; WinoGrande's own form).
PAIR_STATEMENTS = ("probe", "substitution")
UNKNOWN_PAIR_STATEMENT = ("{checkpoint} records nlp_underspec_pair_statement {value!r} in its config.json; known: "
                          "probe, substitution. Re-run the fine-tuning, or fix that field.")
STS_SCALE = 5.0  # STS-B gold runs 0-5; a cosine of 1 means 5
PROBE_TOO_LONG = ("The probe text '{text}' is longer than the model's {limit} tokens, so its probe would be cut off. "
                  "Use a model with more positions, or shorter sentences.")


@dataclass
class CandidateScoringOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, C); -inf where a candidate slot is padding


class BertForCandidateScoring(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        config.nlp_underspec_head = CANDIDATE_HEAD
        hidden = config.hidden_size
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.scorer = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.post_init()

    @staticmethod
    def _pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # states (B, T, H); mask (B, T) or (B, C, T) of 0/1 -> mean over masked tokens: (B, H) or (B, C, H)
        mask = mask.to(states.dtype)
        if mask.dim() == 2:
            return torch.einsum("bt,bth->bh", mask, states) / mask.sum(-1, keepdim=True).clamp(min=1)
        return torch.einsum("bct,bth->bch", mask, states) / mask.sum(-1, keepdim=True).clamp(min=1)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, pronoun_mask=None,
                candidate_mask=None, candidate_valid=None, labels=None, **kwargs) -> CandidateScoringOutput:
        states = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        states = self.dropout(states)  # (B, T, H)
        pronoun = self._pool(states, pronoun_mask)  # (B, H)
        candidates = self._pool(states, candidate_mask)  # (B, C, H)
        pronoun = pronoun.unsqueeze(1).expand_as(candidates)  # (B, C, H)
        logits = self.scorer(torch.cat([pronoun, candidates, pronoun * candidates], dim=-1)).squeeze(-1)  # (B, C)
        if candidate_valid is not None:
            logits = logits.masked_fill(~candidate_valid.bool(), float("-inf"))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels)
        return CandidateScoringOutput(loss=loss, logits=logits)


def _span_token_mask(offsets: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    # offsets (T, 2) character ranges of tokens; special tokens have (0, 0). A token belongs to the span if they overlap.
    start, end = span
    return ((offsets[:, 0] < end) & (offsets[:, 1] > start) & (offsets[:, 1] > offsets[:, 0])).long()


def encode_candidate_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128) -> dict[str, torch.Tensor]:
    """Tokenize examples and turn their character spans into token masks (needs a fast tokenizer for offsets).

    Returns ``input_ids, attention_mask, token_type_ids, pronoun_mask (B, T), candidate_mask (B, C, T),
    candidate_valid (B, C)`` and ``labels (B,)`` when every example has one. A span cut off by ``max_length`` gets an
    empty mask and pools to zeros rather than failing.
    """
    batch = tokenizer([e.text for e in examples], padding=True, truncation=True, max_length=max_length,
                      return_offsets_mapping=True, return_tensors="pt")
    offsets = batch.pop("offset_mapping")  # (B, T, 2)
    n_candidates = max(len(e.candidates) for e in examples)
    B, T = batch["input_ids"].shape
    pronoun_mask = torch.zeros(B, T, dtype=torch.long)
    candidate_mask = torch.zeros(B, n_candidates, T, dtype=torch.long)
    candidate_valid = torch.zeros(B, n_candidates, dtype=torch.bool)
    for i, example in enumerate(examples):
        pronoun_mask[i] = _span_token_mask(offsets[i], example.pronoun)
        for j, span in enumerate(example.candidates):
            candidate_mask[i, j] = _span_token_mask(offsets[i], span)
            candidate_valid[i, j] = True
    batch = dict(batch)
    batch.update(pronoun_mask=pronoun_mask, candidate_mask=candidate_mask, candidate_valid=candidate_valid)
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch


def is_candidate_scorer(config) -> bool:
    """Whether a checkpoint's config describes our candidate-scoring head."""
    return getattr(config, "nlp_underspec_head", None) == CANDIDATE_HEAD or \
        "BertForCandidateScoring" in (getattr(config, "architectures", None) or [])


# ------------------------------------------------------------------------------------------------- ranking head

# The pronoun's nominative form and verb for the probe, from the pronoun as written (any case, any form).
_PROBE_SUBJECT = {word: ("she", "is") for word in ("she", "her", "hers", "herself")}
_PROBE_SUBJECT.update({word: ("he", "is") for word in ("he", "him", "his", "himself")})
_PROBE_SUBJECT.update({word: ("they", "are") for word in ("they", "them", "their", "theirs", "themselves", "themself")})
_PROBE_SUBJECT.update({word: ("it", "is") for word in ("it", "its", "itself")})
_DETERMINERS = ("the ", "a ", "an ", "his ", "her ", "their ", "its ", "my ", "our ", "your ", "this ", "that ")
_BARE_NOUN_PHRASES = ("someone", "somebody", "everyone", "nobody", "anyone")


def probe_subject(pronoun: str) -> tuple[str, str]:
    """("She", "is") for "her", ("They", "are") for "them"; any other word is used as written, with "is".

    >>> probe_subject("Her"), probe_subject("them")
    (('She', 'is'), ('They', 'are'))
    """
    nominative, verb = _PROBE_SUBJECT.get(pronoun.lower(), (pronoun, "is"))
    return nominative[:1].upper() + nominative[1:], verb


def probe_phrase(candidate: str) -> str:
    """How the probe names a candidate: "the nurse"; as written when it is a name, "someone" or has a determiner
    (a sentence-initial one lowered: the probe names it mid-sentence).

    >>> probe_phrase("nurse"), probe_phrase("someone"), probe_phrase("the city council"), probe_phrase("Mary")
    ('the nurse', 'someone', 'the city council', 'Mary')
    >>> probe_phrase("The city councilmen")
    'the city councilmen'
    """
    lowered = candidate.lower()
    if lowered.startswith(_DETERMINERS):
        return lowered[:1] + candidate[1:]
    if lowered in _BARE_NOUN_PHRASES or candidate[:1].isupper():
        return candidate
    return f"the {candidate}"


def probe_statement(pronoun: str, candidate: str) -> str:
    """The statement that names ``candidate`` as the pronoun's antecedent.

    >>> probe_statement("her", "patient"), probe_statement("_", "Mary")
    ('She is the patient.', '_ is Mary.')
    """
    subject, verb = probe_subject(pronoun)
    return f"{subject} {verb} {probe_phrase(candidate)}."


def probe_text(sentence: str, pronoun: str, candidate: str) -> tuple[str, tuple[int, int]]:
    """The sentence with its probe appended, and the character span of the candidate inside the probe.

    >>> probe_text("The nurse met the patient because she was early.", "she", "patient")
    ('The nurse met the patient because she was early. She is the patient.', (60, 67))
    """
    text = f"{sentence} {probe_statement(pronoun, candidate)}"
    end = len(text) - 1
    return text, (end - len(candidate), end)


def encode_ranking_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128) -> dict[str, torch.Tensor]:
    """One masked probe text per (example, candidate), identical texts once (single-token candidates of one
    sentence share a text: only the masked token's identity differs), and where each candidate's tokens are.

    Returns ``input_ids, attention_mask, token_type_ids (N, T)`` over the distinct texts, ``candidate_text (B, C)``
    (which text), ``candidate_positions, candidate_tokens (B, C, K)`` and ``candidate_token_valid (B, C, K)`` (the
    candidate's token positions and ids, K = most tokens of a candidate), ``candidate_valid (B, C)``, and ``labels
    (B,)`` when every example has one. A probe longer than ``max_length`` is an error (cutting it would score nothing).
    """
    texts, spans, owners = [], [], []
    for i, example in enumerate(examples):
        pronoun = example.span_text(example.pronoun)
        for j, span in enumerate(example.candidates):
            text, candidate_span = probe_text(example.text, pronoun, example.candidate_name(j))
            texts.append(text)
            spans.append(candidate_span)
            owners.append((i, j))
    encoded = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True, truncation=False)
    distinct: dict[tuple[int, ...], int] = {}
    sequences, located = [], []
    for text, ids, offsets, span in zip(texts, encoded["input_ids"], encoded["offset_mapping"], spans):
        if len(ids) > max_length:
            raise UsageError(PROBE_TOO_LONG.format(text=text, limit=max_length))
        positions = [k for k, (first, last) in enumerate(offsets) if last > first and first < span[1] and last > span[0]]
        masked = list(ids)
        for k in positions:
            masked[k] = tokenizer.mask_token_id
        index = distinct.setdefault(tuple(masked), len(sequences))
        if index == len(sequences):
            sequences.append(masked)
        located.append((index, positions, [ids[k] for k in positions]))
    n_candidates = max(len(e.candidates) for e in examples)
    width = max(len(positions) for _, positions, _ in located)
    B = len(examples)
    candidate_text = torch.zeros(B, n_candidates, dtype=torch.long)
    candidate_positions = torch.zeros(B, n_candidates, width, dtype=torch.long)
    candidate_tokens = torch.zeros(B, n_candidates, width, dtype=torch.long)
    candidate_token_valid = torch.zeros(B, n_candidates, width, dtype=torch.bool)
    candidate_valid = torch.zeros(B, n_candidates, dtype=torch.bool)
    for (i, j), (index, positions, tokens) in zip(owners, located):
        candidate_text[i, j] = index
        candidate_positions[i, j, :len(positions)] = torch.tensor(positions, dtype=torch.long)
        candidate_tokens[i, j, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        candidate_token_valid[i, j, :len(positions)] = True
        candidate_valid[i, j] = bool(positions)
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), tokenizer.pad_token_id, dtype=torch.long)  # (N, T)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(sequences):
        input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, :len(ids)] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids),
             "candidate_text": candidate_text, "candidate_positions": candidate_positions,
             "candidate_tokens": candidate_tokens, "candidate_token_valid": candidate_token_valid,
             "candidate_valid": candidate_valid}
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch


def mlm_parts(model):
    """(encoder, vocabulary head) of a BERT- or RoBERTa-style masked LM, so the head runs where it is needed only;
    (None, None) for other layouts."""
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    return (encoder, head) if encoder is not None and head is not None else (None, None)


def candidate_scores(mlm, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean log-probability of each candidate's tokens at their masked positions: ``(B, C)``, -inf for padding."""
    encoder, head = mlm_parts(mlm)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    positions, valid = batch["candidate_positions"], batch["candidate_token_valid"]  # (B, C, K)
    texts = batch["candidate_text"].unsqueeze(-1).expand_as(positions)  # (B, C, K)
    if head is not None:
        hidden = encoder(**inputs).last_hidden_state  # (N, T, H)
        logits = head(hidden[texts, positions])  # (B, C, K, V)
    else:
        logits = mlm(**inputs).logits[texts, positions]  # (B, C, K, V)
    token_logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["candidate_tokens"].unsqueeze(-1))
    token_logp = token_logp.squeeze(-1) * valid  # (B, C, K)
    scores = token_logp.sum(-1) / valid.sum(-1).clamp(min=1)  # (B, C)
    return scores.masked_fill(~batch["candidate_valid"], float("-inf"))


class CandidateRanker(nn.Module):
    """A masked LM trained to rank candidates by :func:`candidate_scores` (cross-entropy over the candidates).

    ``save_pretrained`` saves the masked LM inside, marked :data:`RANKING_HEAD`.
    """

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    @property
    def config(self):
        return self.mlm.config

    def forward(self, labels=None, **batch) -> CandidateScoringOutput:
        logits = candidate_scores(self.mlm, batch)  # (B, C)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return CandidateScoringOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder, **kwargs) -> None:
        self.mlm.config.nlp_underspec_head = RANKING_HEAD
        self.mlm.save_pretrained(folder, **kwargs)


# ------------------------------------------------------------------------------------------- cross-encoder head


def marked_sentence(example: CorefExample) -> str:
    """The sentence with its pronoun between :data:`PRONOUN_MARK` s: which of two "she"s is meant stays visible.

    >>> marked_sentence(CorefExample("The nurse said she would.", (15, 18), ((4, 9), (0, 3)), 0))
    'The nurse said *she* would.'
    """
    start, end = example.pronoun
    return f"{example.text[:start]}{PRONOUN_MARK}{example.text[start:end]}{PRONOUN_MARK}{example.text[end:]}"


_POSSESSIVES = ("his", "its", "their", "theirs", "hers")
# After "her", these words make it an object ("told her that"), anything else a possessive ("her shift").
_AFTER_OBJECT_HER = frozenset("a an the that this to and or but so because if as when while with for from of in on "
                              "at by about into up down out off back over again too very not".split())


def substituted_sentence(example: CorefExample, index: int) -> str:
    """The sentence with its pronoun (or blank) replaced by candidate ``index`` as the probe names it: "'s" added
    for a possessive pronoun ("his", "their", and "her" before a word that is no preposition, conjunction or
    determiner), the first letter capitalised where the pronoun was. Verb agreement is left as written ("they were"
    becomes "the nurse were").

    >>> substituted_sentence(CorefExample("The nurse said she would.", (15, 18), ((4, 9), (0, 3)), 0), 0)
    'The nurse said the nurse would.'
    >>> substituted_sentence(CorefExample("Her shift ends, the nurse said.", (0, 3), ((20, 25), (4, 9)), 0), 0)
    "The nurse's shift ends, the nurse said."
    """
    start, end = example.pronoun
    written, after = example.text[start:end], example.text[end:]
    phrase = probe_phrase(example.candidate_name(index))
    next_word = after.split(maxsplit=1)[0].strip(".,;:!?").lower() if after.strip() else ""
    possessive = written.lower() in _POSSESSIVES or (
        written.lower() == "her" and next_word.isalpha() and next_word not in _AFTER_OBJECT_HER)
    if possessive:
        phrase = f"{phrase}'s"
    if written[:1].isupper():
        phrase = phrase[:1].upper() + phrase[1:]
    return f"{example.text[:start]}{phrase}{after}"


def pair_statement(example: CorefExample, index: int, statement: str = "probe") -> str:
    """The second segment of candidate ``index``'s pair (:data:`PAIR_STATEMENTS`)."""
    if statement == "substitution":
        return substituted_sentence(example, index)
    return probe_statement(example.span_text(example.pronoun), example.candidate_name(index))


def encode_pair_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128,
                         statement: str = "probe") -> dict[str, torch.Tensor]:
    """One (marked sentence, statement) pair per (example, candidate), row ``i * C + j``; the statement is the probe
    statement or the substituted sentence (``statement``, one of :data:`PAIR_STATEMENTS`).

    Returns ``input_ids, attention_mask, token_type_ids (B * C, T)``, ``candidate_valid (B, C)`` and ``labels (B,)``
    when every example has one. An example with fewer than C candidates repeats its last pair in the spare rows,
    which ``candidate_valid`` leaves out. With ``probe`` only the sentence is cut to ``max_length`` (``only_first``),
    so the statement that names the candidate survives; a substituted sentence is as long as the sentence, so both
    are cut (``longest_first``), which can cut the candidate off a long passage: keep ``max_seq_length`` above twice
    the longest sentence for ``substitution``.
    """
    n_candidates = max(len(e.candidates) for e in examples)
    sentences, statements = [], []
    candidate_valid = torch.zeros(len(examples), n_candidates, dtype=torch.bool)
    for i, example in enumerate(examples):
        named = [pair_statement(example, j, statement) for j in range(len(example.candidates))]
        candidate_valid[i, :len(named)] = True
        statements += named + [named[-1]] * (n_candidates - len(named))
        sentences += [marked_sentence(example)] * n_candidates
    truncation = "only_first" if statement == "probe" else "longest_first"
    # what the tokenizer returns and no more: a model without segment embeddings takes no token_type_ids
    batch = dict(tokenizer(sentences, statements, padding=True, truncation=truncation, max_length=max_length,
                           return_tensors="pt"))  # each (B * C, T)
    batch["candidate_valid"] = candidate_valid
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch


class CandidateCrossEncoder(nn.Module):
    """A one-output sequence classifier that scores each (sentence, candidate) pair; trained with a cross-entropy
    over a sentence's candidates. ``save_pretrained`` saves the classifier inside, marked :data:`CROSS_ENCODER_HEAD`.
    """

    def __init__(self, classifier, statement: str = "probe"):
        super().__init__()
        self.classifier = classifier
        self.statement = statement

    @property
    def config(self):
        return self.classifier.config

    def forward(self, candidate_valid=None, labels=None, **inputs) -> CandidateScoringOutput:
        scores = self.classifier(**inputs).logits.float().view(candidate_valid.shape)  # (B, C)
        scores = scores.masked_fill(~candidate_valid.bool(), float("-inf"))
        loss = nn.functional.cross_entropy(scores, labels) if labels is not None else None
        return CandidateScoringOutput(loss=loss, logits=scores)

    def save_pretrained(self, folder, **kwargs) -> None:
        self.classifier.config.nlp_underspec_head = CROSS_ENCODER_HEAD
        self.classifier.config.nlp_underspec_pair_statement = self.statement  # the resolver pairs as trained
        self.classifier.save_pretrained(folder, **kwargs)


def trained_pair_statement(config, checkpoint: str) -> str:
    """The statement form a coref cross-encoder was trained with (``probe`` for checkpoints that do not say)."""
    value = getattr(config, "nlp_underspec_pair_statement", "probe")
    if value not in PAIR_STATEMENTS:
        raise UsageError(UNKNOWN_PAIR_STATEMENT.format(checkpoint=checkpoint, value=value))
    return value


def is_candidate_cross_encoder(config) -> bool:
    """Whether a checkpoint's config describes a coref cross-encoder (not an STS one)."""
    return getattr(config, "nlp_underspec_head", None) == CROSS_ENCODER_HEAD


# ---------------------------------------------------------------------------------------------- bi-encoder head


@dataclass
class SimilarityOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B,) cosine similarity x STS_SCALE: on the gold's 0-5 scale


def encode_sentence_pairs(tokenizer, pairs: Sequence[tuple[str, str, float]], *, max_length: int) -> dict[str, torch.Tensor]:
    """Each sentence of (sentence1, sentence2, gold) tokenized on its own, all in one padded batch: rows ``0..B-1``
    are the first sentences, ``B..2B-1`` the second ones (``input_ids, attention_mask (2B, T)``), ``labels (B,)``.

    One encoder pass over both sides costs less than two on a CPU, where a tiny model's time goes to per-op overhead.
    """
    first, second, golds = zip(*pairs)
    batch = dict(tokenizer(list(first) + list(second), padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt"))  # each (2B, T)
    batch["labels"] = torch.tensor(golds, dtype=torch.float32)  # (B,)
    return batch


class CosineSimilarityRegressor(nn.Module):
    """An encoder whose mean-pooled sentence embeddings have cosine ~ gold / 5 (MSE), as Sentence-BERT trains it.

    ``save_pretrained`` saves the encoder inside, marked :data:`BI_ENCODER_HEAD`.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    @property
    def config(self):
        return self.encoder.config

    def embed(self, **side) -> torch.Tensor:
        hidden = self.encoder(**side).last_hidden_state  # (B, T, H)
        mask = side["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H): the pooling sts_gender's bi scorer uses

    def forward(self, labels=None, **batch) -> SimilarityOutput:
        embeddings = self.embed(**batch)  # (2B, H): first sentences, then second ones
        first, second = embeddings.chunk(2, dim=0)  # (B, H) each
        cosine = nn.functional.cosine_similarity(first, second, dim=-1)  # (B,)
        loss = nn.functional.mse_loss(cosine, labels / STS_SCALE) if labels is not None else None
        return SimilarityOutput(loss=loss, logits=cosine * STS_SCALE)

    def save_pretrained(self, folder, **kwargs) -> None:
        self.encoder.config.nlp_underspec_head = BI_ENCODER_HEAD
        self.encoder.save_pretrained(folder, **kwargs)
