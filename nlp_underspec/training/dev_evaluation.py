"""Scoring a fine-tuned model on its dev sets: predictions gathered from every process, then the task's metrics
(``dev_pearson``/``dev_spearman`` for stsb, ``dev_accuracy`` for coref; ``dev_loss`` for both: MSE on the 0-5 scale,
cross-entropy over candidates), pooled and per set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nlp_underspec.training import loop

if TYPE_CHECKING:
    from nlp_underspec.training.finetune_tasks import Task


def finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None  # run.json is strict JSON: no NaN


def score_sts(predictions: np.ndarray, golds: np.ndarray) -> dict[str, float | None]:
    from scipy import stats

    loss = finite(np.mean((predictions - golds) ** 2)) if len(golds) else None  # on the gold's 0-5 scale
    if len(predictions) < 2 or np.std(predictions) == 0 or np.std(golds) == 0:
        return {"dev_pearson": None, "dev_spearman": None, "dev_loss": loss, "n_dev": int(len(golds))}
    return {"dev_pearson": finite(stats.pearsonr(predictions, golds)[0]),
            "dev_spearman": finite(stats.spearmanr(predictions, golds)[0]), "dev_loss": loss, "n_dev": int(len(golds))}


def score_coref(logits: np.ndarray, golds: np.ndarray) -> dict[str, float | None]:
    """Accuracy of the top candidate, and the log-loss (mean cross-entropy over the candidates) that ranks resolvers
    whose accuracies tie."""
    golds = golds.astype(np.int64)
    with np.errstate(invalid="ignore"):  # padded candidate slots hold -inf
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
    loss = float(np.mean(log_norm - shifted[np.arange(len(golds)), golds]))
    return {"dev_accuracy": _tie_aware_accuracy(logits, golds), "dev_loss": finite(loss), "n_dev": int(len(golds))}


def _tie_aware_accuracy(logits: np.ndarray, golds: np.ndarray) -> float:
    """Share of examples whose gold candidate scores highest, a tie among k top candidates counting 1/k (an argmax
    would give every tie to candidate 0: a resolver that scores all candidates alike would be perfect on data that
    lists the answer first, as WSC273's 4-line file and WikiCREM do).

    >>> _tie_aware_accuracy(np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]]), np.array([0, 0, 0]))
    0.5
    """
    top = logits == logits.max(axis=1, keepdims=True)  # (B, C)
    return float(np.mean(top[np.arange(len(golds)), golds] / top.sum(axis=1)))


def evaluate_dev(accelerator, model, dev_loaders: dict, spec: Task, *, by_source: bool = False) -> dict[str, Any]:
    """Predictions over every dev set on every process, gathered, then scored: pooled over all sets (``dev_accuracy``
    ...), and with ``by_source`` also per set (``dev_accuracy_<name>`` ...), listed in ``dev_sources``."""
    scored = {name: _dev_predictions(accelerator, model, loader, spec) for name, loader in dev_loaders.items()}
    pooled = spec.score(np.concatenate([p for p, _ in scored.values()]), np.concatenate([g for _, g in scored.values()]))
    if not by_source:
        return pooled
    for name, (predictions, golds) in scored.items():
        pooled.update({f"{metric}_{name}": value for metric, value in spec.score(predictions, golds).items()})
    return {**pooled, "dev_sources": list(scored)}


def _dev_predictions(accelerator, model, dev_loader, spec: Task) -> tuple[np.ndarray, np.ndarray]:
    predictions, golds = [], []
    with loop.eval_mode(model):
        for batch in dev_loader:
            labels = batch.pop("labels")
            output = model(**batch)
            gathered = accelerator.gather_for_metrics((spec.predictions(output).float(), labels.float()))
            predictions.append(gathered[0].cpu())
            golds.append(gathered[1].cpu())
    return torch.cat(predictions).numpy(), torch.cat(golds).numpy()
