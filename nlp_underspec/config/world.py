"""The synthetic world's rules that a recipe is checked against when it is read: the kinds of document its corpus
mixes (a curriculum names them), the range of every world setting, and how many STS templates its vocabulary holds.

They live here, below the world's generator (:mod:`nlp_underspec.synthetic`), so that recipe loading and the generator
share one copy without the configuration importing the data layer.
"""

from __future__ import annotations

from typing import Callable

from nlp_underspec.config.schema import WorldConfig
from nlp_underspec.errors import UsageError

# Share of corpus documents of each kind (described in nlp_underspec.synthetic.corpus).
# Most documents give the gender of a pronoun nothing to copy from, only its occupation: a pronoun repeated in a probe
# can be predicted by copying, which a small model learns long before it learns who is likely to be "she". Measured
# on a 2-layer, 64-wide BERT: bare probes ("She is the nurse.") alone teach the statistic in ~300 steps (an abrupt
# jump of the calibration slope from ~0 to ~0.5); the other kinds alone teach it not at all in 2,000 steps (slope
# <= 0.01), and switching from probes to a corpus without them unlearns it (0.6 -> 0.03 in 400 steps). Probes as 30% of
# the documents keep it (0.6-0.7): the "probe" kind, which a pretraining curriculum can also serve first.
# Cue documents are where a resolver's knowledge of the cues comes from (fine-tuning sees only some of the clauses):
# with 14% of them, 600 steps after the curriculum left a fine-tuned resolver at 0.54 on the held-out cues; with 45%,
# 0.75 and 0.64 for two seeds (measured on a 2-layer, 64-wide BERT). Statement, roster and one-person documents,
# which an earlier world had, helped neither the statistic nor the cues and are gone.
DOCUMENT_MIX = (("cue", 0.45), ("probe", 0.30), ("activity", 0.15), ("noun", 0.05), ("ambiguous", 0.05))
DOCUMENT_KINDS = tuple(kind for kind, _share in DOCUMENT_MIX)
# The largest n_sts_templates: the (action, object, place) meanings of the world's STS vocabulary, 10 actions x 4
# objects of the action's category x 7 places (nlp_underspec.synthetic.vocabulary; a test checks the count).
MAX_STS_TEMPLATES = 280


def check_world_values(config: WorldConfig, bad: Callable[[str, str], UsageError]) -> None:
    """The world's range rules, shared by :func:`nlp_underspec.synthetic.build_world` and recipe loading (which words them with the recipe's
    path). ``bad(key, problem)`` makes the error; the seed is checked by the recipe, like every other seed."""
    if not 0.0 <= config.bias_strength <= 1.0:
        raise bad("bias_strength", f"must be in [0, 1], got {config.bias_strength}.")
    if not 0.0 <= config.neutral_share < 1.0:
        raise bad("neutral_share", f"must be in [0, 1), got {config.neutral_share}.")
    if config.n_corpus_sentences < 1:
        raise bad("n_corpus_sentences", f"must be at least 1, got {config.n_corpus_sentences}.")
    for key in ("n_sts_pairs", "n_coref_examples"):
        if getattr(config, key) < 10:
            raise bad(key, f"must be at least 10 (train, dev and test each need examples), got {getattr(config, key)}.")
    if not 1 <= config.n_sts_templates <= MAX_STS_TEMPLATES:
        raise bad("n_sts_templates", f"must be between 1 and {MAX_STS_TEMPLATES}, got {config.n_sts_templates}.")
