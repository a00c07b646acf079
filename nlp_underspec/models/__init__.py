"""Checkpoints and the model heads the toolkit trains on them.

Loading and judging a checkpoint (no torch at import time; what the rest of the toolkit calls, exported here):

- :mod:`~nlp_underspec.models.checkpoint`: finding it (folder or Hub id), reading its files and config, refusing
  custom code;
- :mod:`~nlp_underspec.models.capabilities`: what its config says it can do (cross-encoder, encoder, masked LM, our
  heads);
- :mod:`~nlp_underspec.models.weight_checks`: refusing weights that do not fit its config;
- :mod:`~nlp_underspec.models.tokenizer_checks`: its tokenizer, and that it can serve;
- :mod:`~nlp_underspec.models.loading`: the model for one head, on a device, freed after use;
- :mod:`~nlp_underspec.models.origin`: its run id and seeds.

The task heads (import torch and transformers; imported from their modules): the coref heads
:mod:`~nlp_underspec.models.span_pair_head`, :mod:`~nlp_underspec.models.ranking_head` and
:mod:`~nlp_underspec.models.cross_encoder_head` (its ``substitution`` form included), the stsb
:mod:`~nlp_underspec.models.similarity_head`; what they share (:mod:`~nlp_underspec.models.head_base`,
:mod:`~nlp_underspec.models.pooling`), the texts they read (:mod:`~nlp_underspec.models.probe_text`) and the markers
their checkpoints carry (:mod:`~nlp_underspec.models.head_markers`).
"""

from nlp_underspec.models.capabilities import Capabilities, causal_lm_detail, detect_capabilities, require_encoder
from nlp_underspec.models.checkpoint import (check_checkpoint, check_config_sizes, check_no_remote_code, config_error,
                                             is_local, load_config, looks_like_path, remote_code_file)
from nlp_underspec.models.loading import HEADS, free, load_checked, load_model, loaded, max_tokens, pick_device
from nlp_underspec.models.origin import CheckpointOrigin, checkpoint_origin, compile_seed_pattern
from nlp_underspec.models.tokenizer_checks import (check_distinct_words, check_known_words, check_mask_token,
                                                   check_pad_token, check_tokenizer, check_tokenizer_fits,
                                                   check_vocabulary, load_tokenizer)
from nlp_underspec.models.weight_checks import check_loading_info, check_weight_dtypes

__all__ = ["HEADS", "Capabilities", "CheckpointOrigin", "causal_lm_detail", "check_checkpoint", "check_config_sizes",
           "check_distinct_words", "check_known_words", "check_loading_info", "check_mask_token",
           "check_no_remote_code", "check_pad_token", "check_tokenizer", "check_tokenizer_fits", "check_vocabulary",
           "check_weight_dtypes", "checkpoint_origin", "compile_seed_pattern", "config_error", "detect_capabilities",
           "free", "is_local", "load_checked", "load_config", "load_model", "load_tokenizer", "loaded",
           "looks_like_path", "max_tokens", "pick_device", "remote_code_file", "require_encoder"]
