"""Do models group by pretraining seed? Cluster stress profiles and compare the clusters with the seed labels.

Each model's profile is its per-occupation stress score (the test's ``per_occupation_metric``). Ward hierarchical
clustering (deterministic) cuts the models into as many clusters as there are pretraining seeds; the adjusted Rand index
(Hubert & Arabie 1985) measures agreement with the seed labels (1 = the clusters are the seeds, about 0 = chance). The
permutation baseline shuffles the seed labels over the models: ``p_value`` is the share of shuffles that agree at least
as well, (1 + count) / (1 + nperm).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.cluster.hierarchy

from nlp_underspec.analysis._common import MODEL_LEVEL, check_count, check_finite, default_generator, plain, seed_labels
from nlp_underspec.errors import UsageError

CLUSTER_FEW_SEEDS = ("{what}: clustering by seed needs at least 2 pretraining seeds, found {n}. Add runs with other "
                     "pretraining seeds, or leave this statement out.")
CLUSTER_SINGLETONS = ("{what}: every pretraining seed has one model, so clusters would match seeds trivially. Add "
                      "fine-tuning seeds, or leave this statement out.")
LABELS_LENGTH = "labels_true has {a} entries but labels_pred has {b}: give one label per model in both."


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Adjusted Rand index of two labelings of the same items (1 = identical partitions, ~0 = chance).

    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]), adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1])
    (1.0, -0.5)
    """
    a, b = np.asarray(labels_true), np.asarray(labels_pred)
    if len(a) != len(b):
        raise UsageError(LABELS_LENGTH.format(a=len(a), b=len(b)))
    _, a_codes = np.unique(a, return_inverse=True)
    _, b_codes = np.unique(b, return_inverse=True)
    return _ari_of_codes(a_codes, b_codes, int(b_codes.max()) + 1)


def _ari_of_codes(a_codes: np.ndarray, b_codes: np.ndarray, n_b: int) -> float:
    """ARI of two labelings given as codes 0..k-1 (``n_b`` codes in b), from pair counts in exact integers."""
    table = np.bincount(a_codes * n_b + b_codes, minlength=(int(a_codes.max()) + 1) * n_b)  # flattened contingency
    n = len(a_codes)
    # Ordered pairs of items: together in both, in a only, in b only, apart in both.
    both = int((table**2).sum()) - n
    only_a = int((np.bincount(a_codes) ** 2).sum()) - n - both
    only_b = int((np.bincount(b_codes, minlength=n_b) ** 2).sum()) - n - both
    neither = n * n - n - both - only_a - only_b
    if only_a == 0 and only_b == 0:  # identical partitions (including both trivial)
        return 1.0
    return 2.0 * (both * neither - only_a * only_b) / ((both + only_a) * (only_a + neither)
                                                       + (both + only_b) * (only_b + neither))


def ward_clusters(profiles: pd.DataFrame, n_clusters: int) -> np.ndarray:
    """Cluster labels 0..k-1 (numbered by first appearance) from Ward linkage on the rows of ``profiles``."""
    linkage = scipy.cluster.hierarchy.linkage(profiles.to_numpy(dtype=float), method="ward")
    raw = scipy.cluster.hierarchy.fcluster(linkage, t=n_clusters, criterion="maxclust")
    order = {label: k for k, label in enumerate(dict.fromkeys(raw))}
    return np.array([order[label] for label in raw])


def cluster_by_seed(profiles: pd.DataFrame, *, nperm: int = 1000, rng, what: str = "profiles") -> dict:
    """Cluster models (rows; index with a ``pretrain_seed`` level) into one cluster per seed; ARI vs the seeds.

    >>> index = pd.MultiIndex.from_product([[0, 1, 2], [0, 1, 2]], names=["pretrain_seed", "finetune_seed"])
    >>> centres = np.array([[0.1, -0.2, 0.3], [-0.3, 0.2, 0.0], [0.2, 0.3, -0.3]])
    >>> noise = np.random.default_rng(0).normal(scale=0.01, size=(9, 3))
    >>> result = cluster_by_seed(pd.DataFrame(np.repeat(centres, 3, axis=0) + noise, index=index), nperm=200, rng=0)
    >>> result["ari"], result["p_value"] < 0.05
    (1.0, True)
    """
    nperm = check_count("nperm", nperm)
    x = profiles.to_numpy(dtype=float)
    check_finite(x, what=what, labels=lambda i: f"model {plain(profiles.index[i // x.shape[1]])!r}")
    seeds = seed_labels(pd.Series(np.zeros(len(profiles)), index=profiles.index), what=what)
    names, codes = np.unique(seeds, return_inverse=True)
    if len(names) < 2:
        raise UsageError(CLUSTER_FEW_SEEDS.format(what=what, n=len(names)))
    if len(names) == len(seeds):
        raise UsageError(CLUSTER_SINGLETONS.format(what=what))
    clusters = ward_clusters(profiles, len(names))
    observed = adjusted_rand_index(codes, clusters)
    generator = default_generator(rng)
    n_clusters = int(clusters.max()) + 1
    null = np.array([_ari_of_codes(generator.permutation(codes), clusters, n_clusters) for _ in range(nperm)])
    exceed = int(np.sum(null >= observed - 1e-12))
    models = (profiles.index.get_level_values(MODEL_LEVEL) if MODEL_LEVEL in profiles.index.names
              else [str(entry) for entry in profiles.index])
    return {"n_clusters": len(names), "n_models": len(seeds), "ari": observed,
            "null_mean": float(null.mean()), "p_value": (1 + exceed) / (1 + nperm),
            "labels": {str(model): int(label) for model, label in zip(models, clusters)}, "nperm": nperm,
            "method": "ward"}
