"""The last encoder layer at labelled positions only: same loss and gradients as the plain BertForMaskedLM."""

from __future__ import annotations

import pytest
import torch

from nlp_underspec.training import mlm, selected_positions


def _tiny_mlm(attn_implementation="sdpa", dropout=0.0, seed=0, **overrides):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, **overrides)
    return BertForMaskedLM._from_config(config, attn_implementation=attn_implementation)


def _batch(padded: bool, rate=0.2, batch=4, length=24):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (batch, length), generator=generator)  # (B, T)
    labels = torch.where(torch.rand(batch, length, generator=generator) < rate, ids,
                         torch.full_like(ids, mlm.IGNORE_INDEX))  # (B, T)
    labels[0, 3] = ids[0, 3]  # at least one target whatever the draw
    labels[2] = mlm.IGNORE_INDEX  # a row without any target
    batch = {"input_ids": ids, "labels": labels}
    if padded:  # ragged rows as MaskedBlocks.collate pads them: pad id 0, no label, attention mask 0
        lengths = torch.tensor([length, length - 5, length - 11, 7])
        attention_mask = (torch.arange(length)[None, :] < lengths[:, None]).long()  # (B, T)
        batch["input_ids"] = ids.masked_fill(attention_mask == 0, 0)
        batch["labels"] = labels.masked_fill(attention_mask == 0, mlm.IGNORE_INDEX)
        batch["attention_mask"] = attention_mask
    return batch


def _loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("padded", [False, True], ids=["packed", "padded"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_selected_last_layer_gives_the_plain_models_loss_and_gradients(attn_implementation, padded, mode):
    plain = _tiny_mlm(attn_implementation).train(mode == "train")  # dropout 0: train mode is deterministic too
    batch = _batch(padded)
    full_loss, full_grads = _loss_and_grads(plain, batch)
    ours = mlm.MaskedPositionsMLM(plain)
    assert selected_positions.supports(plain.bert)
    loss, grads = _loss_and_grads(ours, batch)
    assert torch.allclose(full_loss, loss, rtol=1e-6, atol=1e-6)
    assert set(grads) == {f"mlm.{name}" for name in full_grads}  # every parameter the plain model trains, no other
    for name, grad in full_grads.items():
        assert torch.allclose(grad, grads[f"mlm.{name}"], rtol=1e-5, atol=1e-6), name
    assert ours.state_dict().keys() == {f"mlm.{k}" for k in plain.state_dict()}  # the checkpoint is the plain model


def test_selected_last_layer_outputs_equal_the_full_encoders_at_those_positions():
    plain = _tiny_mlm().eval()
    batch = _batch(padded=True)
    selected = batch["labels"] != mlm.IGNORE_INDEX  # (B, T)
    with torch.no_grad():
        full = plain.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        ours = selected_positions.encode_selected(plain.bert, batch["input_ids"], selected,
                                                  attention_mask=batch["attention_mask"])
    assert ours.shape == (int(selected.sum()), 32)
    assert torch.allclose(full[selected], ours, atol=1e-5)


def test_no_labelled_position_gives_a_zero_loss_and_zero_encoder_gradients():
    plain = _tiny_mlm().train()
    batch = _batch(padded=True)
    batch["labels"] = torch.full_like(batch["labels"], mlm.IGNORE_INDEX)
    out = mlm.MaskedPositionsMLM(plain)(**batch)
    assert out.loss.item() == 0.0 and out.logits.shape == (0, 50)
    out.loss.backward()  # the plain model's loss would be NaN here (mean over no target): ours is a zero that
    for name, param in plain.named_parameters():  # still reaches the whole encoder, as the stock forward did
        if name.startswith("bert.") and not name.startswith("bert.pooler"):
            assert param.grad is not None and not param.grad.any(), name


def test_with_dropout_each_draw_is_a_plain_forwards_in_distribution():
    """Dropout 0.1 in train mode: the last layer draws its own masks, so single losses differ from the full forward's,
    but over many draws mean and spread agree (the earlier layers draw exactly as the full forward does)."""
    plain = _tiny_mlm(dropout=0.1).train()
    ours = mlm.MaskedPositionsMLM(plain)
    batch = _batch(padded=True, rate=0.5)
    draws = {"plain": [], "ours": []}
    with torch.no_grad():
        for step in range(200):
            for name, model in (("plain", plain), ("ours", ours)):
                torch.manual_seed(step)
                draws[name].append(model(**batch).loss.item())
    plain_losses, our_losses = torch.tensor(draws["plain"]), torch.tensor(draws["ours"])
    assert not torch.equal(plain_losses, our_losses)  # dropout is applied, with other draws
    standard_error = (plain_losses.var() / len(plain_losses) + our_losses.var() / len(our_losses)).sqrt()
    assert abs(plain_losses.mean() - our_losses.mean()) < 4 * standard_error
    assert 0.7 < our_losses.std() / plain_losses.std() < 1.4
    with torch.no_grad():  # and nothing random once in eval mode
        assert torch.allclose(plain.eval()(**batch).loss, ours.eval()(**batch).loss, atol=1e-6)


def test_models_the_path_does_not_cover_run_the_stock_forward():
    plain = _tiny_mlm(is_decoder=True).eval()
    assert not selected_positions.supports(plain.bert)
    batch = _batch(padded=False)
    with torch.no_grad():
        full = plain(**batch).loss
        ours = mlm.MaskedPositionsMLM(plain)(**batch).loss
    assert torch.allclose(full, ours, atol=1e-6)


def test_selected_slots_pad_rows_to_the_longest_count():
    selected = torch.tensor([[False, False, False], [True, False, True], [False, True, False]])
    positions, valid = selected_positions.selected_slots(selected)
    assert positions[valid].tolist() == selected.nonzero()[:, 1].tolist()  # boolean indexing's order
    assert valid.tolist() == [[False, False], [True, True], [True, False]]
