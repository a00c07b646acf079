"""Training under accelerate: seeded, resumable MLM pretraining and fine-tuning (STS-B regression, coref scoring).

``pretrain(recipe, pretrain_seed=..., out=...)`` and ``finetune(recipe, task=..., from_checkpoint=..., finetune_seed=...,
out=...)`` are the library entry points behind ``nlp-underspec pretrain`` / ``finetune``; both share one loop
(:mod:`nlp_underspec.training.loop`).
"""

from nlp_underspec.training.finetuning import finetune
from nlp_underspec.training.pretraining import pretrain
from nlp_underspec.training.starting_point import parent_identity

__all__ = ["finetune", "parent_identity", "pretrain"]
