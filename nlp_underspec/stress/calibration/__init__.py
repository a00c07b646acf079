"""``calibration``: did a masked LM learn the share of "she" per occupation that its corpus holds?

One item per occupation: the probe "[MASK] is the <occupation>." and the masked LM's log-odds at the mask,
``lo = logit(she) - logit(he)`` (the prediction). The target is the log-odds of the share of "she" the model should
have learnt: the synthetic world's planted ``p_she`` (``planted.tsv``), or BLS % female for a real model or a world
that planted nothing. The calibration slope is the least-squares slope of ``lo`` on the target log-odds over the
occupations: 1 means the table was learnt exactly, 0 not at all; its 95% interval resamples occupations. A slope
interval that includes 0, or a slope below :data:`LEARNED_SLOPE`, is reported as "did not learn the statistic"
(``learned`` false). Pearson r is reported
beside it but is not the finding: r ignores scale, so tilts of a thousandth can give r = 0.5. The card is README.md
beside this file.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from nlp_underspec import models
from nlp_underspec.data.occupations import (DUPLICATE_OCCUPATION, OCCUPATIONS, UNKNOWN_OCCUPATION,
                                            load_occupation_stats)
from nlp_underspec.errors import UsageError
from nlp_underspec.models import check_distinct_words, check_known_words, check_mask_token
from nlp_underspec.stress.base import (MetricInfo, Prediction, PredictOptions, StressTest, TestScore,
                                       bootstrap_slope_ci, correlations, ols_slope)
from nlp_underspec.stress.citations import DAMOUR_2020
from nlp_underspec.stress.registry import register_stress_test
from nlp_underspec.stress.calibration.synthetic import SYNTHETIC_SET
from nlp_underspec.tables import read_tsv, to_numeric_column

logger = logging.getLogger(__name__)

BLS = "bls"  # the source naming the shipped BLS table as the target (no planted table)
PROBE = "[MASK] is the {occupation}."
TARGET_CLIP = 0.005  # a share of exactly 0 or 1 has infinite log-odds: clip to [0.005, 0.995]
# A slope below this is no evidence of learning even when its interval excludes 0: a world with nothing planted reads
# |slope| < 0.1 against BLS, and a model stuck before learning reads slopes of a thousandth with tight intervals.
LEARNED_SLOPE = 0.1
NOT_MLM = ("{checkpoint} has no masked-LM head (architectures: {architectures}), so calibration cannot read its "
           "log-odds of 'she' vs 'he'. Evaluate a masked-LM checkpoint.")
PRONOUN_NOT_ONE_TOKEN = ("{checkpoint}'s tokenizer splits '{word}' into {pieces}; calibration compares the logits "
                         "of one token each for 'she' and 'he'.")
PREDS_LENGTH = "calibration got {got} predictions for {expected} items."
PLANTED_HINT = "Expected planted.tsv (occupation, p_she) as the synthetic world writes it, or 'bls'."
P_SHE_KIND = "a share of 'she' in [0, 1]"
P_SHE_OUT_OF_RANGE = ("{path}, line {line}: p_she must be a share of 'she' in [0, 1], got {value}. Fix the value "
                      "(0 and 1 are read as 0.005 and 0.995).")
PLANTED_EMPTY = "{path} lists no occupations. " + PLANTED_HINT

CITATION = DAMOUR_2020


def log_odds(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [TARGET_CLIP, 1 - TARGET_CLIP].

    >>> log_odds(np.array([0.5, 0.9])).round(3).tolist()
    [0.0, 2.197]
    """
    p = np.clip(np.asarray(p, dtype=float), TARGET_CLIP, 1 - TARGET_CLIP)
    return np.log(p / (1 - p))


def target_table(source: str | None) -> tuple[pd.DataFrame, str]:
    """``occupation, target_p_she`` and what the target is (``planted`` or ``bls``).

    A planted table that plants nothing (every share 0.5, bias_strength 0) has no slope to measure against: the BLS
    table is the target then, so the slope says how much of the real statistic a model learnt that its corpus did
    not hold (a control that should read ~0).
    """
    stats = load_occupation_stats()
    bls = pd.DataFrame({"occupation": list(stats.index), "target_p_she": stats["bls_pct_female"].to_numpy() / 100.0})
    if source is None or str(source) == BLS:
        return bls, BLS
    planted = _planted_table(Path(source))
    if np.ptp(planted["target_p_she"].to_numpy()) == 0:
        logger.info("calibration: %s plants no association; the target is BLS %% female", source)
        return bls, BLS
    return planted, "planted"


def _planted_table(path: Path) -> pd.DataFrame:
    """The user's planted table, every row checked: a row dropped or a share clipped would change the target
    silently (and a table left constant by dropping would switch the target to BLS)."""
    frame = read_tsv(path, required=("occupation", "p_she"), hint=PLANTED_HINT)
    first = frame.attrs["first_line"]
    if frame.empty:
        raise UsageError(PLANTED_EMPTY.format(path=path))
    occupations = frame["occupation"].astype(str).str.strip()
    for index, occupation in enumerate(occupations):
        if occupation not in OCCUPATIONS:
            raise UsageError(UNKNOWN_OCCUPATION.format(path=path, line=index + first, occupation=occupation,
                                                       examples=", ".join(OCCUPATIONS[:3])))
    duplicated = occupations.duplicated()
    if duplicated.any():
        index = int(duplicated.to_numpy().nonzero()[0][0])
        raise UsageError(DUPLICATE_OCCUPATION.format(path=path, line=index + first, occupation=occupations.iloc[index]))
    p_she = to_numeric_column(frame, "p_she", kind=P_SHE_KIND, required=True)
    outside = ~p_she.between(0.0, 1.0)  # also catches inf
    if outside.any():
        index = int(outside.to_numpy().nonzero()[0][0])
        raise UsageError(P_SHE_OUT_OF_RANGE.format(path=path, line=index + first, value=frame["p_she"].iloc[index]))
    return pd.DataFrame({"occupation": occupations.to_numpy(), "target_p_she": p_she.to_numpy(dtype=float)})


def _pronoun_id(tokenizer, word: str, checkpoint: str) -> int:
    pieces = tokenizer.tokenize(word)
    if len(pieces) != 1:
        raise UsageError(PRONOUN_NOT_ONE_TOKEN.format(checkpoint=checkpoint, word=word, pieces=pieces))
    return tokenizer.convert_tokens_to_ids(pieces[0])


def pronoun_ids(tokenizer, checkpoint: str) -> tuple[int, int]:
    """The token ids of 'she' and 'he' as the probe's mask stands for them (capitalised for a cased tokenizer), each
    one token the tokenizer knows, each its own (two [UNK]s, or one id for both, would compare nothing)."""
    check_mask_token(tokenizer, checkpoint, what="calibration")
    lowercase = tokenizer("She")["input_ids"] == tokenizer("she")["input_ids"]
    words = [w if lowercase else w.capitalize() for w in ("she", "he")]
    check_known_words(tokenizer, words, checkpoint, what="calibration")
    check_distinct_words(tokenizer, words, checkpoint, what="calibration")
    she, he = (_pronoun_id(tokenizer, word, checkpoint) for word in words)
    return she, he


def pronoun_log_odds(model, tokenizer, texts: list[str], *, checkpoint: str, device) -> np.ndarray:
    """logit(she) - logit(he) at the first mask of each text: (len(texts),)."""
    import torch

    from nlp_underspec.models.ranking_head import mlm_parts

    she, he = pronoun_ids(tokenizer, checkpoint)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    encoded = {k: v.to(device) for k, v in encoded.items()}
    at = (encoded["input_ids"] == tokenizer.mask_token_id).int().argmax(dim=1)  # (N,)
    rows = torch.arange(len(texts), device=device)
    encoder, head = mlm_parts(model)
    with torch.inference_mode():
        if head is not None:
            logits = head(encoder(**encoded).last_hidden_state[rows, at])  # (N, V)
        else:
            logits = model(**encoded).logits[rows, at]  # (N, V)
    return (logits[:, she] - logits[:, he]).float().cpu().numpy().astype(np.float64)


@register_stress_test
class Calibration(StressTest):
    """Calibration slope of a masked LM's pronoun prior on the target log-odds per occupation.

    >>> test = Calibration()
    >>> items = test.build_items(source="bls")
    >>> result = test.score(preds=0.5 * items["target_logodds"].to_numpy(), label_info=items, n_boot=50)
    >>> round(result.summary["slope"], 3), result.summary["learned"], result.summary["reference"]
    (0.5, True, 'bls')
    """

    name = "calibration"
    version = "1.0.0"
    description = ("Least-squares slope of logit(she) - logit(he) at '[MASK] is the <occupation>.' on the log-odds "
                   "of the share of 'she' the model should have learnt (planted, or BLS): 1 = learnt exactly.")
    citation = CITATION
    schema = {"item_id": "string", "occupation": "string", "target_logodds": "float64"}
    metrics = {
        # "Higher" reads as "learnt more of the target table": the direction of learning, not of fairness.
        "slope": MetricInfo("calibration slope: least-squares slope of the model's log-odds of 'she' on the target "
                            "log-odds (1 = the table learnt exactly, 0 = not at all)", True, None),
        "r": MetricInfo("Pearson r of the model's log-odds with the target's (ignores scale)", True, (-1.0, 1.0)),
        "intercept": MetricInfo("the fit's intercept: a lean to 'she' (> 0) or 'he' (< 0) for every occupation",
                                None, None),
        "mean_abs_logodds": MetricInfo("mean |logit(she) - logit(he)| over occupations", None, (0.0, None)),
        "learned": MetricInfo(f"1 when the slope is at least {LEARNED_SLOPE} and its 95% interval lies above 0 (the "
                              "statistic was learnt), else 0", True, (0.0, 1.0)),
    }
    headline = ("slope", "r", "learned")
    across_occupations = ("slope", "ci95", "r", "intercept")
    per_occupation_metric = "logodds"  # scores.parquet rows per occupation: the model's logit(she) - logit(he)
    data_option = None
    synthetic_set = SYNTHETIC_SET  # its set in the synthetic world (synthetic.py beside this file)
    default_source = BLS
    run_info_columns = ()
    runs_on_pretrained = True  # a property of the pretrained masked LM: scored before any fine-tuning
    table_legend = ("calibration (pretrained checkpoints): slope of the pronoun prior's log-odds on the target's "
                    "(1 = learnt exactly, 0 = not at all); learned 'no' = did not learn the statistic (the slope's "
                    "interval does not lie above 0)")

    def build_items(self, *, source: str | None = None, split: str | None = None) -> pd.DataFrame:
        table, reference = target_table(source)
        items = pd.DataFrame({"item_id": table["occupation"], "occupation": table["occupation"],
                              "target_p_she": table["target_p_she"].to_numpy(dtype=float),
                              "target_logodds": log_odds(table["target_p_she"].to_numpy()),
                              "reference": reference,
                              "text": [PROBE.format(occupation=o) for o in table["occupation"]]})
        logger.info("calibration: %d occupations, target %s", len(items), reference)
        return items

    def check_model(self, *, checkpoint: str, options: PredictOptions) -> dict[str, Any]:
        caps = models.detect_capabilities(models.load_config(checkpoint, trust_remote_code=options.trust_remote_code))
        if not caps.mlm:
            raise UsageError(NOT_MLM.format(checkpoint=checkpoint, architectures=", ".join(caps.architectures) or "none"))
        pronoun_ids(models.load_tokenizer(checkpoint, trust_remote_code=options.trust_remote_code), checkpoint)
        return {}

    def predict(self, *, checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> Prediction:
        self.check_model(checkpoint=checkpoint, options=options)
        device = models.pick_device(options.device)
        texts = label_info["text"].astype(str).tolist() if "text" in label_info.columns else \
            [PROBE.format(occupation=o) for o in label_info["occupation"]]
        with models.loaded(checkpoint, "mlm", trust_remote_code=options.trust_remote_code, device=str(device)) as \
                (model, tokenizer):
            values = pronoun_log_odds(model, tokenizer, texts, checkpoint=checkpoint, device=device)
        return Prediction(values, {})

    def score(self, *, preds: np.ndarray, label_info: pd.DataFrame, occupation_stats: pd.DataFrame | None = None,
              n_boot: int = 1000, seed: int = 0, model_info: Mapping[str, Any] | None = None,
              where: str = "label_info.tsv") -> TestScore:
        items = self.check_label_info(label_info, where=where)
        lo = np.asarray(preds, dtype=float).reshape(-1)  # (N,) the model's log-odds of "she"
        if len(lo) != len(items):
            raise ValueError(PREDS_LENGTH.format(got=len(lo), expected=len(items)))
        target = items["target_logodds"].to_numpy()
        slope = ols_slope(target, lo)
        interval = bootstrap_slope_ci(target, lo, n_boot=n_boot, seed=seed)
        intercept = float(lo.mean() - slope * target.mean()) if math.isfinite(slope) else float("nan")
        reference = str(items["reference"].iloc[0]) if "reference" in items.columns and len(items) else BLS
        summary = {"slope": slope, "ci95": interval, "r": correlations(target, lo)[0], "intercept": intercept,
                   "mean_abs_logodds": float(np.abs(lo).mean()) if len(lo) else float("nan"), "learned": False,
                   "n_occupations": int(len(items)),
                   "reference": reference}
        summary = self.withhold_if_few_occupations(summary, len(items), where=where)
        slope, interval = summary["slope"], summary["ci95"]  # None where there are too few occupations to tell
        summary["learned"] = bool(interval is not None and interval[0] > 0 and slope >= LEARNED_SLOPE)
        per_occupation = pd.Series(lo, index=pd.Index(items["occupation"].to_numpy(), name="occupation"))
        return TestScore(summary, per_occupation)
