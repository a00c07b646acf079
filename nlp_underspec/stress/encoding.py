"""Running a model over many inputs fast: each distinct input once, length-sorted batches, ``torch.inference_mode``.

One loop (:func:`run_sorted`) serves every way a stress test uses a model: sentence embeddings for a bi-encoder,
pair scores for a cross-encoder, masked-token log-probabilities for the MLM probe and candidate scores for the coref
head. Sorting by length keeps padding (wasted work) near zero; results are scattered back to the caller's order.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from nlp_underspec.models import max_tokens


def unique_with_inverse(values: Sequence) -> tuple[list, np.ndarray]:
    """Distinct values in first-seen order, and for each input the index of its distinct value.

    >>> unique_with_inverse(["b", "a", "b"])
    (['b', 'a'], array([0, 1, 0]))
    """
    position: dict = {}
    inverse = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        inverse[i] = position.setdefault(value, len(position))
    return list(position), inverse


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over inputs sorted longest first (a too-large batch fails on the first one, not after an hour).

    >>> [b.tolist() for b in sorted_batches([3, 9, 1, 5], 2)]
    [[1, 3], [0, 2]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def run_sorted(encodings: Sequence[dict[str, list[int]]], forward: Callable, *, tokenizer, batch_size: int, device,
               desc: str = "encoding", progress: bool = True) -> np.ndarray:
    """Apply ``forward(batch, rows) -> Tensor (b, ...)`` over length-sorted, padded batches; rows in input order.

    ``encodings`` are unpadded tokenizer outputs (``input_ids``, ``attention_mask``[, ``token_type_ids``]); ``rows`` are
    the indices of the batch's encodings, for forwards that need per-input metadata (e.g. mask positions).
    """
    import torch
    from tqdm.auto import tqdm

    batches = sorted_batches([len(e["input_ids"]) for e in encodings], batch_size)
    out = None
    with torch.inference_mode(), tqdm(total=len(encodings), desc=desc, unit="seq", disable=not progress or None,
                                      leave=False) as bar:
        for rows in batches:
            batch = tokenizer.pad([encodings[i] for i in rows], padding=True, return_tensors="pt")
            batch = {key: value.to(device) for key, value in batch.items()}
            values = forward(batch, rows).float().cpu().numpy()
            if out is None:
                out = np.empty((len(encodings), *values.shape[1:]), dtype=np.float64)
            out[rows] = values
            bar.update(len(rows))
    return out if out is not None else np.empty((0,), dtype=np.float64)


def tokenize(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None, *, max_length: int,
             offsets: bool = False) -> list[dict[str, list[int]]]:
    """Unpadded encodings, one per text (or text pair), in one fast-tokenizer call; longer inputs are cut to
    ``max_length`` tokens (see :func:`nlp_underspec.models.max_tokens`)."""
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True, max_length=max_length,
                        return_offsets_mapping=offsets)
    keys = list(encoded.keys())
    return [{key: encoded[key][i] for key in keys} for i in range(len(texts))]


def mean_pool(hidden, attention_mask):
    """Mean of the token states under the attention mask: (B, T, H), (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def embed_sentences(model, tokenizer, sentences: Sequence[str], *, batch_size: int, device, progress: bool = True,
                    desc: str = "embedding") -> np.ndarray:
    """Unit-length mean-pooled embeddings (N, H) of distinct ``sentences``: cosine similarity is then a dot product."""
    import torch

    def forward(batch, rows):
        hidden = model(**batch).last_hidden_state  # (B, T, H)
        return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)  # (B, H)

    encodings = tokenize(tokenizer, sentences, max_length=max_tokens(model, tokenizer))
    return run_sorted(encodings, forward, tokenizer=tokenizer, batch_size=batch_size, device=device, desc=desc,
                      progress=progress)


def score_pairs(model, tokenizer, first: Sequence[str], second: Sequence[str], *, batch_size: int, device,
                progress: bool = True, desc: str = "scoring pairs") -> np.ndarray:
    """A cross-encoder's regression output for each (first, second) pair: (N,)."""

    def forward(batch, rows):
        return model(**batch).logits[:, 0]  # (B,)

    encodings = tokenize(tokenizer, first, second, max_length=max_tokens(model, tokenizer))
    return run_sorted(encodings, forward, tokenizer=tokenizer, batch_size=batch_size, device=device, desc=desc,
                      progress=progress)
