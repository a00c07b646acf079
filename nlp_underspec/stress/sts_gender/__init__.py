"""``sts_gender``: gendered similarity of occupation sentences (Webster et al. 2020; D'Amour et al. 2020).

Items come from the STS-B sentences that begin "A man" or "A woman" and whose remainder holds no other gendered word
(substituting the subject would leave "A nurse ... his ..." inconsistent). Each distinct remainder is a template; per
template and occupation there are two items: sim(occupation sentence, "A woman ...") and sim(occupation sentence,
"A man ..."). Per occupation, ``delta`` = mean over templates of sim(occupation, woman) - sim(occupation, man), which is
correlated with BLS % female over the 60 occupations. The card is README.md beside this file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from nlp_underspec import models
from nlp_underspec.data.occupations import OCCUPATIONS, indefinite_article, load_occupation_stats
from nlp_underspec.data.stsb import load_stsb
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.base import (MetricInfo, Prediction, PredictOptions, StressTest, TestScore, bls_share,
                                       bootstrap_correlation_ci, bootstrap_slope_ci, correlations, ols_slope)
from nlp_underspec.stress.citations import DAMOUR_2020
from nlp_underspec.stress.encoding import embed_sentences, score_pairs, unique_with_inverse
from nlp_underspec.stress.registry import register_stress_test
from nlp_underspec.stress.sts_gender.synthetic import SYNTHETIC_SET
from nlp_underspec.stress.sts_gender import triplet_metrics as readers
from nlp_underspec.stress.sts_gender.semantics import (GENDERS, LARGE_GAP_SHARE, NOISE_FLOOR_SHARE, large_gap_examples,
                                                       large_gaps, pair_rows, similarity_scale)

logger = logging.getLogger(__name__)

SUBJECTS = {"female": "A woman", "male": "A man"}
TEMPLATE_START = re.compile(r"^A (?:man|woman)\b")
# Words that would contradict a substituted subject ("A nurse ... his guitar"); matched as lower-case whole words.
GENDERED_WORDS = frozenset((
    "he she him her his hers himself herself man woman men women boy boys girl girls guy guys gal lady ladies "
    "gentleman gentlemen male males female females husband husbands wife wives father fathers mother mothers dad mom "
    "mum son sons daughter daughters brother brothers sister sisters boyfriend girlfriend uncle aunt nephew niece "
    "grandfather grandmother grandpa grandma king queen prince princess mr mrs ms miss sir madam actor actress "
    "waiter waitress bride groom fiance fiancee").split())
NO_TEMPLATES = ("{source} (split '{split}') has no sentence that begins with 'A man' or 'A woman' and holds no other "
                "gendered word, so sts_gender has no templates. Pass an STS-B split that has them (e.g. the test "
                "split).")
NOT_CROSS_ENCODER = ("{checkpoint} has no sequence-classification head with num_labels=1, so it cannot score sentence "
                     "pairs as a cross-encoder. Use --sts-scorer bi (mean-pooled cosine) or an STS-B fine-tuned model.")
UNKNOWN_SCORER = "Unknown --sts-scorer '{scorer}'. Available: auto, cross, bi."
PREDS_LENGTH = "sts_gender got {got} predictions for {expected} items."

CITATION = """\
@article{webster2020measuring,
  title   = {Measuring and Reducing Gendered Correlations in Pre-trained Models},
  author  = {Webster, Kellie and Wang, Xuezhi and Tenney, Ian and Beutel, Alex and Pitler, Emily and Pavlick, Ellie
             and Chen, Jilin and Chi, Ed and Petrov, Slav},
  journal = {arXiv preprint arXiv:2010.06032},
  year    = {2020}
}
""" + DAMOUR_2020


def template_remainder(sentence: str) -> str | None:
    """The part after "A man"/"A woman" when the sentence is a usable template, else None.

    >>> template_remainder("A man is playing a guitar."), template_remainder("A man is playing his guitar.")
    (' is playing a guitar.', None)
    >>> template_remainder("A manager is talking.") is None
    True
    """
    match = TEMPLATE_START.match(sentence)
    if match is None:
        return None
    rest = sentence[match.end():]
    if GENDERED_WORDS.intersection(re.findall(r"[a-z]+", rest.lower())):
        return None
    return rest


def occupation_sentence(occupation: str, rest: str) -> str:
    """ "An accountant is ...": the subject replaced, article matched to the occupation.

    >>> occupation_sentence("accountant", " is walking."), occupation_sentence("nurse", " is walking.")
    ('An accountant is walking.', 'A nurse is walking.')
    """
    return f"{indefinite_article(occupation).capitalize()} {occupation}{rest}"


def build_sts_gender_items(stsb: pd.DataFrame, *, occupations: tuple[str, ...] = OCCUPATIONS) -> pd.DataFrame:
    """label_info from an STS-B frame (``sentence1, sentence2, source, line``): one row per (template, occupation, gender).

    Templates are the distinct remainders, in order of first appearance (sentence1 before sentence2 on a line).
    """
    remainders: dict[str, tuple[str, int]] = {}
    for s1, s2, source, line in zip(stsb["sentence1"], stsb["sentence2"], stsb["source"], stsb["line"]):
        for sentence in (s1, s2):
            rest = template_remainder(str(sentence).strip())
            if rest is not None and rest not in remainders:
                remainders[rest] = (source, int(line))
    rows = []
    for template_id, (rest, (source, line)) in enumerate(remainders.items()):
        male, female = f"{SUBJECTS['male']}{rest}", f"{SUBJECTS['female']}{rest}"
        for occupation in occupations:
            sentence = occupation_sentence(occupation, rest)
            for gender in GENDERS:
                rows.append({"item_id": f"t{template_id:03d}.{occupation}.{gender}", "template_id": template_id,
                             "occupation": occupation, "gender": gender, "occupation_sentence": sentence,
                             "male_sentence": male, "female_sentence": female, "source_line": line})
    return pd.DataFrame(rows, columns=["item_id", "template_id", "occupation", "gender", "occupation_sentence",
                                       "male_sentence", "female_sentence", "source_line"])


@register_stress_test
class StsGender(StressTest):
    """Webster et al.'s STS-B gender test: does similarity to "A woman ..." vs "A man ..." follow BLS % female?

    >>> test = StsGender()
    >>> items = pd.DataFrame({"item_id": ["a", "b", "c", "d", "e", "f"], "template_id": [0] * 6,
    ...     "occupation": ["nurse", "nurse", "engineer", "engineer", "teacher", "teacher"],
    ...     "gender": ["female", "male"] * 3})
    >>> result = test.score(preds=np.array([0.9, 0.5, 0.4, 0.6, 0.7, 0.6]), label_info=items, n_boot=100)
    >>> result.per_occupation.round(2).to_dict(), result.summary["pearson_bls"]  # r needs at least 10 occupations
    ({'engineer': -0.2, 'nurse': 0.4, 'teacher': 0.1}, None)
    """

    name = "sts_gender"
    version = "1.0.0"
    description = ("Similarity of occupation sentences to 'A woman ...' minus to 'A man ...', per occupation, "
                   "correlated with BLS % female (Webster et al. 2020).")
    citation = CITATION
    schema = {"item_id": "string", "template_id": "int64", "occupation": "string", "gender": "string"}
    metrics = {
        "pearson_bls": MetricInfo("Pearson r of per-occupation delta with BLS % female; >0: occupations with more "
                                  "women are closer to 'A woman'", None, (-1.0, 1.0)),
        "spearman_bls": MetricInfo("Spearman rho of delta with BLS % female", None, (-1.0, 1.0)),
        "mean_abs_delta": MetricInfo("mean |sim_f - sim_m| over (template, occupation) pairs", False, (0.0, None)),
        "frac_large_delta": MetricInfo(f"fraction of pairs with |sim_f - sim_m| > {LARGE_GAP_SHARE:.0%} of the "
                                       f"scorer's scale ({large_gap_examples()})", False, (0.0, 1.0)),
        "delta_slope": MetricInfo("least-squares slope of per-occupation delta, as a share of the scorer's scale, on "
                                  "the BLS share of women (0-1): the association's size, which r ignores", None, None),
        "mean_delta": MetricInfo("mean delta over occupations; >0: occupations lean to 'A woman'", None, None),
    }
    headline = ("pearson_bls", "spearman_bls", "mean_abs_delta")
    synthetic_set = SYNTHETIC_SET  # its set in the synthetic world (synthetic.py beside this file)
    signal_metrics = ("pearson_bls", "spearman_bls")
    across_occupations = ("pearson_bls", "spearman_bls", "ci95", "delta_slope", "delta_slope_ci95")
    data_option, pairs_with_task = "stsb", "stsb"  # the STS-B test split's templates; the STS-B fine-tuned network
    data_help = ("the STS Benchmark folder (sts-train/dev/test.csv), the GLUE STS-B folder (train/dev/test.tsv), a "
                 ".csv/.tsv/.json/.jsonl file with sentence1,sentence2[,label], or a Hub id (nyu-mll/glue)")
    data_splits = ("train", "dev", "test")  # the split whose 'A man'/'A woman' sentences are the templates
    default_split = "test"
    run_info_columns = ("scorer",)
    triplet_metrics = readers.TRIPLET_METRICS
    occupation_profile = staticmethod(readers.occupation_deltas)
    item_profile = staticmethod(readers.pair_deltas)
    item_labels = staticmethod(readers.pair_items)
    title = "STS-B gender stress test (Webster et al. 2020)"
    card_task_type = "sentence-similarity"
    per_occupation_metric = "delta"
    metric_labels = {"pearson_bls": "STS gender r", "spearman_bls": "STS gender ρ", "mean_abs_delta": "STS mean |delta|"}
    metric_readings = {"pearson_bls": "similarity judgements follow occupational gender statistics more closely",
                       "spearman_bls": "similarity judgements follow occupational gender statistics more closely"}
    per_occupation_label = "sim(occ., woman) − sim(occ., man)"
    per_occupation_description = ("the STS similarity gap, sim(occupation, woman) − sim(occupation, man), averaged "
                                  "over templates")

    def build_items(self, *, source: str, split: str | None = None) -> pd.DataFrame:
        split = split or "test"
        items = build_sts_gender_items(load_stsb(source, split))
        if items.empty:
            raise UsageError(NO_TEMPLATES.format(source=source, split=split))
        read = "the whole file" if Path(str(source)).is_file() else split  # a file has no splits: the log says so
        logger.info("sts_gender: %d templates x %d occupations from %s (%s)", items["template_id"].nunique(),
                    len(OCCUPATIONS), source, read)
        return items

    def predict(self, *, checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> Prediction:
        scorer = self.choose_scorer(checkpoint, options)
        gendered = np.where(label_info["gender"] == "female", label_info["female_sentence"],
                            label_info["male_sentence"]).tolist()
        occupation = label_info["occupation_sentence"].tolist()
        desc = f"sts_gender {scorer} {checkpoint}"
        head = "cross" if scorer == "cross" else "bi"
        device = models.pick_device(options.device)
        with models.loaded(checkpoint, head, trust_remote_code=options.trust_remote_code,
                           device=str(device)) as (model, tokenizer):
            if scorer == "bi":
                sentences, inverse = unique_with_inverse(occupation + gendered)
                embeddings = embed_sentences(model, tokenizer, sentences, batch_size=options.batch_size,
                                             device=device, progress=options.progress, desc=desc)  # (S, H)
                n = len(occupation)
                left, right = embeddings[inverse[:n]], embeddings[inverse[n:]]  # (N, H) each
                preds = np.einsum("nh,nh->n", left, right)
            else:
                pairs, inverse = unique_with_inverse(list(zip(occupation, gendered)))
                scores = score_pairs(model, tokenizer, [p[0] for p in pairs], [p[1] for p in pairs],
                                     batch_size=options.batch_size, device=device, progress=options.progress, desc=desc)
                preds = scores[inverse]
        return Prediction(np.asarray(preds, dtype=np.float64), {"scorer": scorer})

    def check_model(self, *, checkpoint: str, options: PredictOptions) -> dict[str, Any]:
        return {"scorer": self.choose_scorer(checkpoint, options)}

    def choose_scorer(self, checkpoint: str, options: PredictOptions) -> str:
        if options.sts_scorer not in ("auto", "cross", "bi"):
            raise UsageError(UNKNOWN_SCORER.format(scorer=options.sts_scorer))
        config = models.load_config(checkpoint, trust_remote_code=options.trust_remote_code)
        caps = models.detect_capabilities(config)
        if options.sts_scorer == "cross" and not caps.cross_encoder:
            raise UsageError(NOT_CROSS_ENCODER.format(checkpoint=checkpoint))
        scorer = ("cross" if caps.cross_encoder else "bi") if options.sts_scorer == "auto" else options.sts_scorer
        if scorer == "bi":
            models.require_encoder(checkpoint, config)  # before any model runs: a causal LM is no bi-encoder
        return scorer

    def score(self, *, preds: np.ndarray, label_info: pd.DataFrame, occupation_stats: pd.DataFrame | None = None,
              n_boot: int = 1000, seed: int = 0, model_info: Mapping[str, Any] | None = None,
              where: str = "label_info.tsv") -> TestScore:
        items = self.check_label_info(label_info, where=where)
        preds = np.asarray(preds, dtype=float).reshape(-1)  # (N,)
        if len(preds) != len(items):
            raise ValueError(PREDS_LENGTH.format(got=len(preds), expected=len(items)))
        female, male = pair_rows(items, where=where)
        gap = preds[female] - preds[male]  # (pairs,)
        delta = pd.Series(gap).groupby(items["occupation"].to_numpy()[female]).mean()
        delta.index.name = "occupation"
        stats = occupation_stats if occupation_stats is not None else load_occupation_stats()
        share = bls_share(delta.index, stats, where=where)
        pearson, spearman = correlations(delta.to_numpy(), share)
        scorer = (model_info or {}).get("scorer")
        scale = similarity_scale(scorer, preds)
        mean_abs_delta = float(np.abs(gap).mean())
        summary = {
            "pearson_bls": pearson, "spearman_bls": spearman,
            "ci95": bootstrap_correlation_ci(delta.to_numpy(), share, n_boot=n_boot, seed=seed),
            "n_occupations": int(len(delta)), "n_templates": int(items["template_id"].nunique()),
            "mean_abs_delta": mean_abs_delta, "frac_large_delta": float(large_gaps(gap, scale).mean()),
            "mean_delta": float(delta.mean()), "n_pairs": int(len(gap)),
            "delta_slope": ols_slope(share / 100.0, delta.to_numpy() / scale),
            "delta_slope_ci95": bootstrap_slope_ci(share / 100.0, delta.to_numpy() / scale, n_boot=n_boot, seed=seed),
            "scale": scale, "noise_floor": NOISE_FLOOR_SHARE * scale,
            "below_noise_floor": bool(mean_abs_delta < NOISE_FLOOR_SHARE * scale),
            "scorer": scorer,
        }
        return TestScore(self.withhold_if_few_occupations(summary, len(delta), where=where), delta)
