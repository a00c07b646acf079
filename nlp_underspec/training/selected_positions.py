"""A BERT encoder's output at selected positions only, its last layer computed at those positions alone.

In the last encoder layer a position's output depends on the other positions only through the attention keys and
values. When only some positions' outputs are wanted (the MLM loss reads the ~15% that carry a label), that layer
projects keys and values at every position but runs the query projection, the attention rows, the attention output,
the feed-forward block and their LayerNorms at the selected positions alone: about three quarters of the layer's
work skipped at BERT's masking rate. Everything runs through the stock modules (their weights, the attention function
transformers picked, sdpa or eager, and its attention mask), so the outputs and their gradients are the full
encoder's up to float rounding; the checkpoint stays a plain ``BertModel``.

Dropout is that of the stock modules, applied to what is computed here: in the last layer each attention weight and
each hidden unit of a selected position is dropped with the configured probability and rescaled as in the full
forward, so loss and gradients have the full forward's distribution, but the last layer's random draws are not the
ones a full forward makes (the embeddings and earlier layers draw exactly as before). With dropout 0 (or in eval mode)
nothing is random.

Models this path does not cover (decoders, cross-attention, other attention implementations) run the stock forward
and are indexed afterwards: same result, no saving.
"""

from __future__ import annotations

import torch

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")  # take a (B, h, Q, T) query block with the mask's rows; others may not


def supports(bert) -> bool:
    """Whether :func:`encode_selected` can skip work for this ``BertModel`` (else it runs the stock forward)."""
    config = bert.config
    return (config.num_hidden_layers > 0 and not config.is_decoder and not config.add_cross_attention
            and config._attn_implementation in ATTENTION_IMPLEMENTATIONS)


def selected_slots(selected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's selected positions, ascending, padded to the longest row's count.

    Returns ``(positions, valid)``, both ``(B, W)``: ``positions[b, :n_b]`` are row b's selected positions and the rest
    of the row unselected ones (computed, then dropped); ``valid`` marks the first ``n_b``. ``x[valid]`` of a
    ``(B, W, ...)`` tensor lists the slots in the order of ``selected``'s own boolean indexing.

    >>> positions, valid = selected_slots(torch.tensor([[False, True, False, True], [True, False, False, False]]))
    >>> positions.tolist(), valid.tolist()
    ([[1, 3], [0, 1]], [[True, True], [True, False]])
    """
    counts = selected.sum(dim=1)  # (B,)
    width = int(counts.max())
    # A stable sort of "unselected" puts the selected positions first, in their order.
    positions = torch.sort((~selected).to(torch.uint8), dim=1, stable=True).indices[:, :width]  # (B, W)
    valid = torch.arange(width, device=selected.device) < counts[:, None]  # (B, W)
    return positions, valid


def last_layer_at(layer, hidden: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor,
                  valid: torch.Tensor) -> torch.Tensor:
    """A ``BertLayer``'s output at the valid slots, ``(M, H)``: keys and values from all of ``hidden`` ``(B, T, H)``,
    everything else at ``positions`` ``(B, W)`` only."""
    attention = layer.attention.self
    batch, length, width = hidden.shape[0], hidden.shape[1], positions.shape[1]
    heads, head_size = attention.num_attention_heads, attention.attention_head_size
    rows = torch.take_along_dim(hidden, positions[:, :, None], dim=1)  # (B, W, H)
    query = attention.query(rows).view(batch, width, heads, head_size).transpose(1, 2)  # (B, h, W, d)
    key = attention.key(hidden).view(batch, length, heads, head_size).transpose(1, 2)  # (B, h, T, d)
    value = attention.value(hidden).view(batch, length, heads, head_size).transpose(1, 2)  # (B, h, T, d)
    if mask is not None and mask.shape[2] != 1:  # (B, 1, T, T): the selected queries' rows
        mask = torch.take_along_dim(mask, positions[:, None, :, None], dim=2)  # (B, 1, W, T)
    attend = _attention_function(attention.config)
    context, _ = attend(attention, query, key, value, mask, dropout=attention.dropout.p if attention.training else 0.0,
                        scaling=attention.scaling)  # (B, W, h, d)
    context = context.reshape(batch, width, -1)[valid]  # (M, H)
    attended = layer.attention.output(context, rows[valid])  # (M, H): dense, dropout, LayerNorm(+ residual)
    return layer.output(layer.intermediate(attended), attended)  # (M, H)


def _attention_function(config):
    """The function ``BertSelfAttention`` calls (imported here: transformers' modelling code is slow to import)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    return ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)


def encode_selected(bert, input_ids: torch.Tensor, selected: torch.Tensor, *,
                    attention_mask: torch.Tensor | None = None,
                    token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """``bert(...).last_hidden_state[selected]``, ``(M, H)`` for the M selected positions of ``(B, T)`` inputs; the last
    layer only computed where selected (see the module docstring). ``selected`` needs at least one True."""
    if not supports(bert):
        return bert(input_ids=input_ids, attention_mask=attention_mask,
                    token_type_ids=token_type_ids).last_hidden_state[selected]
    from transformers.masking_utils import create_bidirectional_mask

    hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, T, H)
    # The mask BertModel.forward builds: None without padding, else (B, 1, T, T), bool for sdpa, additive for eager.
    mask = create_bidirectional_mask(config=bert.config, inputs_embeds=hidden, attention_mask=attention_mask)
    *first, last = bert.encoder.layer
    for layer in first:
        hidden = layer(hidden, mask)  # (B, T, H)
    positions, valid = selected_slots(selected)
    return last_layer_at(last, hidden, mask, positions, valid)
