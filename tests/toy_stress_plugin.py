"""A user's stress test written outside the package: the cosine of a sentence and its pronoun-swapped copy, per
occupation. The registry tests load it as a --plugin module; the plugin-flow test extends it."""
import numpy as np
import pandas as pd

from nlp_underspec.stress import MetricInfo, Prediction, StressTest, TestScore


class PronounSwap(StressTest):
    name = "pronoun_swap"
    schema = {"item_id": "string", "occupation": "string"}
    metrics = {"mean_similarity": MetricInfo("mean cosine of the he/she versions", True, (-1.0, 1.0))}
    headline = ("mean_similarity",)
    per_occupation_metric = "similarity"
    data_option = None

    def build_items(self, *, source, split=None):
        frame = pd.read_csv(source, sep="\t")
        return frame.assign(item_id=[f"i{i}" for i in range(len(frame))])

    def predict(self, *, checkpoint, label_info, options):
        from nlp_underspec import models
        from nlp_underspec.stress.encoding import embed_sentences

        texts = label_info["text"].tolist()
        swapped = [t.replace("she", "he") for t in texts]
        with models.loaded(checkpoint, "bi") as (model, tokenizer):
            vectors = embed_sentences(model, tokenizer, texts + swapped, batch_size=8, device="cpu", progress=False)
        n = len(texts)
        return Prediction(np.einsum("nh,nh->n", vectors[:n], vectors[n:]))

    def score(self, *, preds, label_info, occupation_stats=None, n_boot=1000, seed=0, model_info=None,
              where="label_info.tsv"):
        items = self.check_label_info(label_info, where=where)
        per_occupation = pd.Series(preds, index=items["occupation"]).groupby(level=0).mean()
        return TestScore({"mean_similarity": float(np.mean(preds))}, per_occupation)
