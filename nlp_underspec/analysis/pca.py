"""Where in the stress test do the models of a family disagree? PCA of per-item deviations from the ensemble mean.

As in D'Amour et al. (2020, Fig. 9): take each model's per-item score (e.g. sim(occupation, woman) - sim(occupation, man)
per template and occupation), subtract the mean over models, and find the directions along which models deviate most.
A first component that explains much of the variance, loaded on a few items, says the family disagrees about those
items in one coordinated way. Components are computed by SVD of the centred ``(n_models, n_items)`` matrix; the sign of
each is fixed so that its largest-magnitude loading is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import MODEL_LEVEL, check_count, check_finite, plain
from nlp_underspec.errors import UsageError

PCA_FEW = "{what}: PCA of deviations needs at least 2 models and 2 items, got {models} model(s) x {items} item(s)."
PCA_IDENTICAL = "{what}: every model gives the same per-item scores, so there is no deviation to analyse."


@dataclass
class DeviationPCA:
    """Explained variance per component, item loadings ``(n_items, k)`` and model coordinates ``(n_models, k)``."""

    explained_variance_ratio: pd.Series
    loadings: pd.DataFrame
    model_coords: pd.DataFrame

    def to_dict(self, *, top_k: int = 5) -> dict:
        """The analysis.json entry: ratios, the ``top_k`` items by |loading| per component, model coordinates."""
        top = []
        for number, column in enumerate(self.loadings.columns, start=1):
            ranked = self.loadings[column].abs().sort_values(ascending=False, kind="stable").index[:top_k]
            top += [{"component": number, "item": str(item), "loading": float(self.loadings.loc[item, column])}
                    for item in ranked]
        return {"n_models": len(self.model_coords), "n_items": len(self.loadings),
                "explained_variance_ratio": [float(v) for v in self.explained_variance_ratio], "top_items": top,
                "model_coords": {str(model): [float(v) for v in row]
                                 for model, row in zip(_model_names(self.model_coords.index),
                                                       self.model_coords.to_numpy())}}


def _model_names(index: pd.Index) -> list:
    return list(index.get_level_values(MODEL_LEVEL)) if MODEL_LEVEL in (index.names or ()) else list(index)


def deviation_pca(item_scores: pd.DataFrame, *, n_components: int = 2, what: str = "item scores") -> DeviationPCA:
    """PCA of ``item_scores`` (rows: models, columns: items) after subtracting each item's mean over models.

    >>> scores = pd.DataFrame([[0.1, 0.0, 0.3], [0.3, 0.0, 0.1], [0.2, 0.0, 0.2]], columns=["a", "b", "c"],
    ...                       index=pd.Index(["m0", "m1", "m2"], name="model"))
    >>> pca = deviation_pca(scores, n_components=2)
    >>> [round(v, 3) for v in pca.explained_variance_ratio], pca.to_dict(top_k=1)["top_items"][0]["item"]
    ([1.0], 'a')
    """
    n_components = check_count("n_components", n_components)
    x = item_scores.to_numpy(dtype=float)  # (n_models, n_items)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise UsageError(PCA_FEW.format(what=what, models=x.shape[0], items=x.shape[1] if x.ndim == 2 else 0))
    check_finite(x, what=what, labels=lambda i: f"model {plain(item_scores.index[i // x.shape[1]])!r}, "
                                                f"item {plain(item_scores.columns[i % x.shape[1]])!r}")
    deviations = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(deviations, full_matrices=False)  # u (n_models, r), s (r,), vt (r, n_items)
    total = float(np.sum(s**2))
    if total <= 1e-24 * max(1.0, float(np.abs(x).max())) ** 2:
        raise UsageError(PCA_IDENTICAL.format(what=what))
    keep = int(min(n_components, np.sum(s**2 > 1e-12 * total)))  # centred data has rank <= n_models - 1
    signs = np.sign(vt[np.arange(keep), np.argmax(np.abs(vt[:keep]), axis=1)])
    components = pd.Index(range(1, keep + 1), name="component")
    loadings = pd.DataFrame((vt[:keep] * signs[:, None]).T, index=item_scores.columns, columns=components)
    coords = pd.DataFrame(u[:, :keep] * s[:keep] * signs, index=item_scores.index, columns=components)
    return DeviationPCA(pd.Series(s[:keep] ** 2 / total, index=components), loadings, coords)
