"""Seed analysis: how much of a family's stress-test spread comes from the pretraining seed, with honest intervals.

Reads only predictions triplets and tidy scores (docs/design.md, contracts 3 and 4), never models. Public API, all
keyword-only past the data arguments, pandas in and out (index levels ``model``, ``pretrain_seed``, ``finetune_seed``,
``occupation``), randomness from an explicit seed or ``numpy.random.Generator``:

- :func:`multibootstrap`, :func:`report_ci`, :func:`family_bootstrap`: Multi-Bootstrap (Sellam et al. 2022);
  :func:`batched_score` declares a user's score function batched (fast for any score);
- :func:`spread`, :func:`spread_ratio`: spread of a metric and stress/iid ratio;
- :func:`seed_share`, :func:`regroup_test`: pretraining-seed share of the variance;
- :func:`rank_correlation`: iid vs stress metric (of one network: :func:`~.registered.paired_task`);
- :func:`iid_equivalence`: each iid metric's range against a declared margin; :func:`family_sentence`: the family in
  one sentence (iid-equivalent or not, and the pretraining seed's share of the stress spread);
- :func:`deviation_pca`: PCA of per-item deviations from the ensemble mean;
- :func:`cluster_by_seed`, :func:`adjusted_rand_index`: clustering of stress profiles vs seeds;
- :func:`item_variances`: each stress item's variance across the family, split between and within pretraining seeds
  (ranked with templates and occupations by :func:`.unstable_items.unstable_items`);
- :func:`example_set`: the examples of a test's metric in a triplet, read by the test itself (its
  ``triplet_metrics``; the score functions are in :mod:`nlp_underspec.stress.examples`), and the run-folder level
  :func:`analyze` / :func:`compare_families`.
"""

from nlp_underspec.analysis.batched import BatchedScore, batched_score
from nlp_underspec.analysis.bootstrap import family_bootstrap, multibootstrap, report_ci
from nlp_underspec.analysis.clustering import adjusted_rand_index, cluster_by_seed
from nlp_underspec.analysis.compare import compare_families
from nlp_underspec.analysis.correlation import rank_correlation
from nlp_underspec.analysis.dispersion import spread, spread_ratio
from nlp_underspec.analysis.equivalence import DEFAULT_MARGINS, iid_equivalence
from nlp_underspec.analysis.family import AnalysisInputs, MetricValues, load_analysis_inputs
from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.analysis.pca import DeviationPCA, deviation_pca
from nlp_underspec.analysis.scoring import ITEM_PROFILES, OCCUPATION_PROFILES, TRIPLET_METRICS, example_set
from nlp_underspec.analysis.statements import ANALYSIS, STATEMENTS, analyze, analyze_family
from nlp_underspec.analysis.unstable_items import item_variances
from nlp_underspec.analysis.variance import regroup_test, seed_share

__all__ = [
    "ANALYSIS", "DEFAULT_MARGINS", "ITEM_PROFILES", "OCCUPATION_PROFILES", "STATEMENTS", "TRIPLET_METRICS",
    "AnalysisInputs", "DeviationPCA", "MetricValues", "adjusted_rand_index", "analyze", "analyze_family", "cluster_by_seed",
    "compare_families", "deviation_pca", "example_set", "family_bootstrap", "family_sentence", "iid_equivalence",
    "load_analysis_inputs", "multibootstrap", "rank_correlation", "regroup_test", "report_ci", "seed_share", "spread",
    "spread_ratio",
]
__all__ += ["item_variances"]  # seed-unstable items (.unstable_items; its module name is not shadowed)
__all__ += ["BatchedScore", "batched_score"]  # Multi-Bootstrap for a user's score function (.batched)
