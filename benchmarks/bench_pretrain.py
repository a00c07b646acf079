"""Pretraining step throughput: the stock Hugging Face MLM step vs this project's, same config, data, init and seed.

Baseline: ``BertForMaskedLM`` (vocabulary head at every position) fed by ``DataCollatorForLanguageModeling``.
Ours: the project's training step: the same weights wrapped in :class:`~nlp_underspec.training.mlm.MaskedPositionsMLM` (the head, and the
last encoder layer except its keys and values, only at the ~15% of positions that carry a label) fed by the stateless per-example masking of
:class:`~nlp_underspec.training.mlm.MaskedBlocks`, updated by the project's optimizer (fused AdamW; the stock loop
keeps torch's default AdamW, as ``run_mlm_no_trainer`` does; ``--same-optimizer`` removes that difference). Both read the same packed blocks of a real corpus (WikiText-2 from
../shared/data by default) tokenized with a WordPiece vocabulary trained on it.

The script first checks that both compute the same loss on the same masked batch at step 1, then times optimizer
steps (forward, backward, AdamW) in alternating rounds so that load from other processes hits both alike, and prints
tokens/s of each and the ratio last::

    python benchmarks/bench_pretrain.py                      # 2 layers, hidden 128, vocab 8192, 128 tokens, batch 32
    python benchmarks/bench_pretrain.py --layers 4 --hidden 256 --vocab-size 30522
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "wikitext-2" / "tokens"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="text file or folder of .txt files")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128, help="tokens per packed block")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per round and side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--same-optimizer", action="store_true", help="give ours the stock torch AdamW too")
    return parser.parse_args(argv)


def build_data(args):
    from nlp_underspec.data.corpus import read_corpus
    from nlp_underspec.training import mlm
    from nlp_underspec.training.tokenizer import train_wordpiece

    texts = read_corpus(args.corpus)
    tokenizer = train_wordpiece(texts, vocab_size=args.vocab_size)
    blocks = mlm.pack_blocks(mlm.tokenize_corpus(tokenizer, texts), block_size=args.seq,
                             cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id)
    return tokenizer, blocks


def build_models(args, vocab_size: int):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from nlp_underspec.training.mlm import MaskedPositionsMLM

    config = BertConfig(vocab_size=vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                        max_position_embeddings=max(512, args.seq))
    torch.manual_seed(args.seed)
    stock = BertForMaskedLM(config)
    ours = MaskedPositionsMLM(copy.deepcopy(stock))
    return stock, ours


def stock_batches(tokenizer, blocks, args):
    """The stock pipeline: DataCollatorForLanguageModeling over lists of token ids, with its own seeded generator."""
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=args.seed, return_tensors="pt")
    step = 0
    while True:
        rows = [{"input_ids": blocks[(step * args.batch + i) % len(blocks)].tolist()} for i in range(args.batch)]
        yield collator(rows)
        step += 1


def our_batches(tokenizer, blocks, args):
    """Ours: per-example stateless masking of the same blocks, stacked without padding."""
    from nlp_underspec.training import mlm

    dataset = mlm.MaskedBlocks(blocks, mask_seed=args.seed, probability=0.15, mask_id=tokenizer.mask_token_id,
                               vocab_size=len(tokenizer), special_ids=tokenizer.all_special_ids,
                               pad_id=tokenizer.pad_token_id)
    step = 0
    while True:
        yield dataset.collate([dataset[step * args.batch + i] for i in range(args.batch)])
        step += 1


def check_step_one_loss(stock, ours, batch) -> tuple[float, float]:
    """Both models (same weights) on the same masked batch: the losses must agree."""
    import torch

    with torch.no_grad():
        stock.eval(), ours.eval()
        full = stock(input_ids=batch["input_ids"], labels=batch["labels"]).loss.item()
        sparse = ours(input_ids=batch["input_ids"], labels=batch["labels"]).loss.item()
        stock.train(), ours.train()
    if abs(full - sparse) > 1e-4 * max(1.0, abs(full)):
        raise SystemExit(f"step-1 losses differ: stock {full:.6f} vs ours {sparse:.6f}")
    return full, sparse


def timed_steps(model, optimizer, batches, n: int) -> tuple[float, int]:
    tokens, started = 0, time.perf_counter()
    for _ in range(n):
        batch = next(batches)  # collation is part of the step: it is what the dataloader does on the CPU
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += batch["input_ids"].numel()
    return time.perf_counter() - started, tokens


def main(argv=None) -> int:
    import torch

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    tokenizer, blocks = build_data(args)
    if len(tokenizer) < 8000:
        print(f"note: vocabulary is {len(tokenizer)} tokens (< 8k); use a larger corpus for the issue's setting")
    stock, ours = build_models(args, len(tokenizer))
    baseline_batches, project_batches = stock_batches(tokenizer, blocks, args), our_batches(tokenizer, blocks, args)
    full, sparse = check_step_one_loss(stock, ours, next(stock_batches(tokenizer, blocks, args)))
    print(f"config: {args.layers} layers, hidden {args.hidden}, vocab {len(tokenizer)}, {args.seq} tokens x batch "
          f"{args.batch}, {args.threads} threads, {len(blocks)} blocks of {Path(args.corpus).name}")
    print(f"step-1 loss on the same masked batch: stock {full:.6f}  ours {sparse:.6f}")
    from nlp_underspec.training.loop import build_optimizer

    # Each side's own optimizer: the stock loop's torch AdamW (run_mlm_no_trainer's choice), and ours (fused AdamW,
    # no decay on biases/LayerNorm). --same-optimizer gives ours the stock one to isolate the model and data changes.
    optimizers = {"stock": torch.optim.AdamW(stock.parameters(), lr=1e-4),
                  "ours": torch.optim.AdamW(ours.parameters(), lr=1e-4) if args.same_optimizer
                  else build_optimizer(ours, lr=1e-4, weight_decay=0.01)}
    timed_steps(stock, optimizers["stock"], baseline_batches, 1)  # warm-up: allocator, kernels
    timed_steps(ours, optimizers["ours"], project_batches, 1)
    totals = {"stock": [0.0, 0], "ours": [0.0, 0]}
    for _ in range(args.rounds):  # alternate so that other processes' load falls on both sides alike
        for name, model, batches in (("stock", stock, baseline_batches), ("ours", ours, project_batches)):
            seconds, tokens = timed_steps(model, optimizers[name], batches, args.steps)
            totals[name][0] += seconds
            totals[name][1] += tokens
    rates = {name: tokens / seconds for name, (seconds, tokens) in totals.items()}
    print(f"stock BertForMaskedLM + DataCollatorForLanguageModeling: {rates['stock']:,.0f} tokens/s")
    label = "torch AdamW" if args.same_optimizer else "fused AdamW"
    print(f"nlp_underspec MaskedPositionsMLM + MaskedBlocks + {label}: {rates['ours']:,.0f} tokens/s")
    print(f"ratio (ours / stock): {rates['ours'] / rates['stock']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
