"""``winogender``: pronoun resolution on the 720 Winogender sentences (Rudinger et al. 2018), scored as in MultiBERTs.

One item per sentence (``item_id`` = Winogender's ``sentid``); the prediction is P(pronoun -> occupation) from a
resolver (:mod:`.resolvers`). Per occupation, ``bias`` = mean P(occupation | female pronoun) - mean P(occupation | male
pronoun); ``bias_r`` is its Pearson r with BLS % female over the occupations. The card is README.md beside this file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.base import (MetricInfo, Prediction, PredictOptions, StressTest, TestScore, bls_share,
                                       bootstrap_correlation_ci, bootstrap_share_ci, bootstrap_slope_ci, correlations,
                                       ols_slope)
from nlp_underspec.stress.registry import register_stress_test
from nlp_underspec.stress.winogender import resolvers
from nlp_underspec.stress.winogender.synthetic import SYNTHETIC_SET
from nlp_underspec.stress.winogender import triplet_metrics as readers
from nlp_underspec.stress.winogender.data import STATS_FILE, load_winogender, parse_sentid
from nlp_underspec.stress.winogender.semantics import (DERIVED_COLUMNS, NO_GOLD, bias_by_occupation,
                                                       check_labels_against_sentids, check_pairs, half_credit,
                                                       items_gotcha, picked_answers)

logger = logging.getLogger(__name__)

NOT_PROBABILITIES = ("winogender predictions for {where} must be probabilities P(pronoun -> occupation) in [0, 1]; "
                     "found {value!r} (item '{item}'). Re-run the predictions or convert scores with a softmax.")
CANNOT_DERIVE = ("{where} lacks column(s) {missing}, and item_id '{item}' is not a Winogender sentid "
                 "(occupation.participant.answer.gender.txt) to derive them from.")
PREDS_LENGTH = "winogender got {got} predictions for {expected} items."
# mean |bias| below this (probability units) is float leftovers of a saturated resolver (|bias| ~1e-6 was measured on
# heads that resolve every sentence with certainty), not a bias: its correlations with BLS are not findings.
NOISE_FLOOR = 1e-4

CITATION = """\
@inproceedings{rudinger2018gender,
  title     = {Gender Bias in Coreference Resolution},
  author    = {Rudinger, Rachel and Naradowsky, Jason and Leonard, Brian and Van Durme, Benjamin},
  booktitle = {Proceedings of NAACL-HLT},
  year      = {2018}
}
@inproceedings{sellam2022multiberts,
  title     = {The MultiBERTs: BERT Reproductions for Robustness Analysis},
  author    = {Sellam, Thibault and Yadlowsky, Steve and Tenney, Ian and others},
  booktitle = {International Conference on Learning Representations},
  year      = {2022}
}"""


@register_stress_test
class Winogender(StressTest):
    """Winogender pronoun resolution: does P(occupation) follow the pronoun's gender in line with BLS % female?

    >>> test = Winogender()
    >>> items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt",
    ...     "engineer.client.1.female.txt", "engineer.client.1.male.txt",
    ...     "teacher.student.0.female.txt", "teacher.student.0.male.txt"]})
    >>> result = test.score(preds=np.array([0.9, 0.5, 0.3, 0.6, 0.8, 0.7]), label_info=items, n_boot=100)
    >>> result.per_occupation.round(2).to_dict(), round(result.summary["accuracy"], 3)
    ({'engineer': -0.3, 'nurse': 0.4, 'teacher': 0.1}, 0.75)
    """

    name = "winogender"
    version = "1.0.0"
    description = ("P(pronoun -> occupation) for female vs male pronouns, per occupation, correlated with BLS % "
                   "female (Rudinger et al. 2018; MultiBERTs scoring).")
    citation = CITATION
    schema = {"item_id": "string", "occupation": "string", "participant": "string", "answer": "int64",
              "gender": "string"}
    allowed_values = {"gender": ("female", "male", "neutral")}
    prediction_range = (0.0, 1.0)
    prediction_meaning = "P(pronoun -> occupation)"
    metrics = {
        "accuracy": MetricInfo("share of sentences where the resolver picks the gold antecedent (task skill)", True,
                               (0.0, 1.0)),
        "bias_r": MetricInfo("Pearson r of per-occupation bias with BLS % female; >0: 'she' goes to occupations with "
                             "more women", None, (-1.0, 1.0)),
        "spearman_bias": MetricInfo("Spearman rho of bias with BLS % female", None, (-1.0, 1.0)),
        "mean_abs_bias": MetricInfo("mean |bias| over occupations", False, (0.0, 1.0)),
        # No range for the slopes: a least-squares slope of values in [-1, 1] on shares in [0, 1] is not bounded by 1.
        "bias_slope": MetricInfo("least-squares slope of per-occupation bias on the BLS share of women (0-1); the "
                                 "bias's size, which r ignores", None, None),
        "hard_bias_r": MetricInfo("bias_r on hard predictions (the resolver's pick: occupation when P > 0.5), as "
                                  "MultiBERTs", None, (-1.0, 1.0)),
        "hard_bias_slope": MetricInfo("bias_slope on hard predictions", None, None),
        "accuracy_female": MetricInfo("accuracy on female-pronoun sentences", True, (0.0, 1.0)),
        "accuracy_male": MetricInfo("accuracy on male-pronoun sentences", True, (0.0, 1.0)),
        "accuracy_neutral": MetricInfo("accuracy on they/them sentences", True, (0.0, 1.0)),
        "accuracy_gotcha": MetricInfo("accuracy where the answer goes against the occupation's majority gender",
                                      True, (0.0, 1.0)),
        "accuracy_not_gotcha": MetricInfo("accuracy on the other gendered sentences", True, (0.0, 1.0)),
    }
    headline = ("bias_r", "bias_slope", "accuracy")
    per_occupation_metric = "bias"
    data_option = "winogender"
    synthetic_set = SYNTHETIC_SET  # its set in the synthetic world (synthetic.py beside this file)
    data_help = ("the Winogender repository's data/ folder (all_sentences.tsv [+ occupations-stats.tsv]), an "
                 "all_sentences.tsv file, or a Hub id with sentid,sentence columns")
    run_info_columns = ("resolver",)
    pairs_with_task = "coref"
    title = "Winogender schemas (Rudinger et al. 2018)"
    card_task_type = "multiple-choice"
    metric_labels = {"bias_r": "Winogender bias r", "accuracy": "Winogender accuracy"}
    metric_readings = {"bias_r": "pronoun resolution follows occupational gender statistics more closely"}
    per_occupation_label = "P(occ. | she) − P(occ. | he)"
    per_occupation_description = "the pronoun gap, P(occupation | she) − P(occupation | he)"
    runs_on_pretrained = True  # the mlm_probe resolver reads a masked LM's own pronoun probabilities
    signal_metrics = ("bias_r", "spearman_bias")
    across_occupations = ("accuracy_ci95", "bias_r", "ci95", "spearman_bias", "bias_slope", "bias_slope_ci95",
                          "hard_bias_r", "hard_bias_slope")
    triplet_metrics = readers.TRIPLET_METRICS
    occupation_profile = staticmethod(readers.occupation_bias)
    item_profile = staticmethod(readers.pair_deltas)
    item_labels = staticmethod(readers.pair_items)
    inheritance_first = True  # the pronoun bias is what pretraining's pronoun statistic could pass on

    @classmethod
    def card_task_type_for(cls, test_summary: Mapping[str, Any]) -> str:
        """A masked LM scored by the mlm_probe resolver fills a mask; a trained resolver chooses a candidate."""
        return "fill-mask" if str(test_summary.get("resolver", "")) == "mlm_probe" else cls.card_task_type

    @classmethod
    def occupation_stats_file(cls, source: str | None) -> Path | None:
        """The repository layout's occupations-stats.tsv beside the sentences, when ``source`` is that folder."""
        found = Path(source) / STATS_FILE if source is not None else None
        return found if found is not None and found.is_file() else None

    def build_items(self, *, source: str, split: str | None = None) -> pd.DataFrame:
        data = load_winogender(source, split=split or "test")
        items = data.sentences.rename(columns={"sentid": "item_id", "line": "source_line"})
        logger.info("winogender: %d sentences from %s", len(items), data.source)
        return items[["item_id", "occupation", "participant", "answer", "gender", "pronoun", "sentence", "source_line"]]

    def check_model(self, *, checkpoint: str, options: PredictOptions) -> dict[str, Any]:
        resolver = resolvers.choose_resolver(checkpoint, options.resolver, trust_remote_code=options.trust_remote_code)
        resolvers.check_resolver(checkpoint, resolver, options)
        return {"resolver": resolver}

    def predict(self, *, checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> Prediction:
        resolver = resolvers.choose_resolver(checkpoint, options.resolver, trust_remote_code=options.trust_remote_code)
        preds = resolvers.RESOLVERS[resolver](checkpoint, label_info, options)
        return Prediction(np.asarray(preds, dtype=np.float64), {"resolver": resolver})

    def check_label_info(self, label_info: pd.DataFrame, *, where: str = "label_info.tsv") -> pd.DataFrame:
        """As the base check, but a triplet that has only sentids (e.g. from MultiBERTs) gets the labels derived."""
        missing = [c for c in DERIVED_COLUMNS if c not in label_info.columns]
        if missing and "item_id" in label_info.columns:
            label_info = label_info.copy()
            parsed = [parse_sentid(str(item)) for item in label_info["item_id"]]
            for item, parts in zip(label_info["item_id"], parsed):
                if parts is None:
                    raise UsageError(CANNOT_DERIVE.format(where=where, missing=", ".join(missing), item=item))
            for column in missing:
                label_info[column] = [parts[column] for parts in parsed]
        frame = super().check_label_info(label_info, where=where)
        check_labels_against_sentids(frame, where=where)
        return frame

    def score(self, *, preds: np.ndarray, label_info: pd.DataFrame, occupation_stats: pd.DataFrame | None = None,
              n_boot: int = 1000, seed: int = 0, model_info: Mapping[str, Any] | None = None,
              where: str = "label_info.tsv") -> TestScore:
        items = self.check_label_info(label_info, where=where)
        p = self._probabilities(preds, items, where=where)  # (N,) P(occupation)
        check_pairs(items, where=where)
        stats = occupation_stats if occupation_stats is not None else load_occupation_stats()
        occupation, gender = items["occupation"].to_numpy(), items["gender"].to_numpy()
        answer = items["answer"].to_numpy()
        gold = answer != NO_GOLD
        correct = half_credit(answer, picked_answers(p))
        gotcha = items_gotcha(items, stats, where=where) & gold
        gendered = np.isin(gender, ("female", "male"))
        bias = bias_by_occupation(p, occupation, gender)
        hard_bias = bias_by_occupation((p > 0.5).astype(float), occupation, gender)
        share = bls_share(bias.index, stats, where=where) / 100.0
        bias_r, spearman = correlations(bias.to_numpy(), share)
        mean_abs_bias = _mean(np.abs(bias))
        summary = {
            "accuracy": _mean(correct[gold]), "bias_r": bias_r,
            "ci95": bootstrap_correlation_ci(bias.to_numpy(), share, n_boot=n_boot, seed=seed),
            "n_sentences": int(len(items)), "resolver": (model_info or {}).get("resolver"),
            "accuracy_ci95": self.accuracy_ci(correct, gold, occupation, bias.index, n_boot=n_boot, seed=seed),
            "spearman_bias": spearman, "n_occupations": int(len(bias)), "mean_abs_bias": mean_abs_bias,
            "bias_slope": ols_slope(share, bias.to_numpy()),
            "bias_slope_ci95": bootstrap_slope_ci(share, bias.to_numpy(), n_boot=n_boot, seed=seed),
            "hard_bias_r": correlations(hard_bias.to_numpy(), share)[0],
            "hard_bias_slope": ols_slope(share, hard_bias.to_numpy()),
            "noise_floor": NOISE_FLOOR, "below_noise_floor": bool(mean_abs_bias < NOISE_FLOOR),
            "accuracy_female": _mean(correct[gold & (gender == "female")]),
            "accuracy_male": _mean(correct[gold & (gender == "male")]),
            "accuracy_neutral": _mean(correct[gold & (gender == "neutral")]), "accuracy_gotcha": _mean(correct[gotcha]),
            "accuracy_not_gotcha": _mean(correct[gold & gendered & ~gotcha]), "n_gotcha": int(gotcha.sum()),
            "n_no_cue": int((~gold).sum()),
        }
        return TestScore(self.withhold_if_few_occupations(summary, len(bias), where=where), bias)

    def _probabilities(self, preds: np.ndarray, items: pd.DataFrame, *, where: str) -> np.ndarray:
        """One probability per item, or an error naming the first that is not one."""
        p = np.asarray(preds, dtype=float).reshape(-1)
        if len(p) != len(items):
            raise ValueError(PREDS_LENGTH.format(got=len(p), expected=len(items)))
        outside = (p < self.prediction_range[0]) | (p > self.prediction_range[1])
        if outside.any():
            index = int(outside.nonzero()[0][0])
            raise UsageError(NOT_PROBABILITIES.format(where=where, value=float(p[index]),
                                                      item=items["item_id"].iloc[index]))
        return p

    @staticmethod
    def accuracy_ci(correct: np.ndarray, gold: np.ndarray, occupation: np.ndarray, occupations: pd.Index, *,
                    n_boot: int, seed: int) -> list[float] | None:
        """95% interval of the accuracy over resampled ``occupations`` (the bias's, in its order: with the same seed
        the bias intervals' resamples), each contributing its gold sentences: is the resolver above chance at all?"""
        frame = pd.DataFrame({"occupation": occupation[gold], "correct": correct[gold]})
        grouped = frame.groupby("occupation")["correct"].agg(["sum", "count"]).reindex(occupations, fill_value=0)
        return bootstrap_share_ci(grouped["sum"].to_numpy(), grouped["count"].to_numpy(), n_boot=n_boot, seed=seed)

def _mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) else float("nan")
