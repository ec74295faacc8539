"""BERT as a decoder (``BertLMHeadModel``): causality, the shifted loss, and greedy generation.

Small random models, so the whole file runs in a few seconds on a CPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import bertbook
from bertbook.heads import IGNORE_INDEX

from parity_utils import make_twins

CFG = dict(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40,
           max_position_embeddings=24, type_vocab_size=2)


def decoder(seed: int = 0) -> bertbook.BertLMHeadModel:
    torch.manual_seed(seed)
    model = bertbook.BertLMHeadModel(bertbook.BertConfig(**CFG, is_decoder=True)).eval()
    with torch.no_grad():  # a non-zero output bias, so the argmax is not decided by the embeddings alone
        model.cls.predictions.bias.normal_(0, 0.5)
    return model


def greedy_by_hand(model, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """The definition: append the argmax of the last position's logits, one token at a time."""
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(ids).logits  # (B, T, V)
        ids = torch.cat([ids, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return ids


def test_logits_do_not_see_later_tokens():
    model = decoder()
    ids = torch.randint(1, CFG["vocab_size"], (3, 10))
    changed = ids.clone()
    changed[:, 6:] = torch.randint(1, CFG["vocab_size"], (3, 4))
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[:, :6], b[:, :6], atol=1e-6, rtol=0)  # positions 0..5 see tokens 0..5 only
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3  # and the later positions do change


def test_the_same_weights_without_the_causal_mask_see_later_tokens():
    # The switch is config.is_decoder alone: the same weights in an encoder look both ways.
    model = decoder()
    encoder = bertbook.BertForMaskedLM(bertbook.BertConfig(**CFG)).eval()
    encoder.load_state_dict(model.state_dict())
    ids = torch.randint(1, CFG["vocab_size"], (2, 8))
    changed = ids.clone()
    changed[:, 7] = (ids[:, 7] + 1) % CFG["vocab_size"]
    with torch.no_grad():
        diff = (encoder(ids).logits[:, :7] - encoder(changed).logits[:, :7]).abs().max()
    assert diff > 1e-4


def test_loss_is_next_token_cross_entropy_and_ignores_padding():
    model = decoder()
    ids = torch.randint(1, CFG["vocab_size"], (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
    with torch.no_grad():
        out = model(ids, attention_mask=mask, labels=labels)
    logits = out.logits[:, :-1]  # position t predicts token t + 1
    targets = labels[:, 1:]
    expected = F.cross_entropy(logits.reshape(-1, CFG["vocab_size"]), targets.reshape(-1), ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(out.loss, expected)
    # counted by hand: 8 targets in row 0, 5 in row 1 (positions 1..5); padding never a target
    per_token = F.cross_entropy(logits.reshape(-1, CFG["vocab_size"]), targets.reshape(-1),
                                ignore_index=IGNORE_INDEX, reduction="sum")
    torch.testing.assert_close(out.loss, per_token / 13)


def test_loss_equals_transformers():
    ours, hf = make_twins("BertLMHeadModel", CFG)
    ids = torch.randint(1, CFG["vocab_size"], (2, 11))
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0
    labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, labels=labels)
        b = hf(ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)


def test_generate_greedy_is_argmax_one_token_at_a_time():
    model = decoder()
    prompt = torch.randint(1, CFG["vocab_size"], (3, 4))
    out = model.generate_greedy(prompt, max_new_tokens=7)
    assert out.shape == (3, 11)
    assert torch.equal(out[:, :4], prompt)  # the prompt is kept as it was
    assert torch.equal(out, greedy_by_hand(model, prompt, 7))


def test_generate_greedy_equals_transformers_generate():
    ours, hf = make_twins("BertLMHeadModel", CFG)
    prompt = torch.randint(1, CFG["vocab_size"], (2, 5))
    ours_out = ours.generate_greedy(prompt, max_new_tokens=6)
    hf_out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False,
                         num_beams=1, min_new_tokens=6, pad_token_id=0, eos_token_id=None)
    assert torch.equal(ours_out, hf_out)


def test_generate_greedy_stops_at_eos_and_pads_finished_rows_with_it():
    model = decoder()
    prompt = torch.randint(1, CFG["vocab_size"], (2, 4))
    free = model.generate_greedy(prompt, max_new_tokens=8)
    eos = int(free[0, 4])  # row 0's first new token: row 0 ends at once
    out = model.generate_greedy(prompt, max_new_tokens=8, eos_token_id=eos)
    assert int(out[0, 4]) == eos
    assert (out[0, 4:] == eos).all()  # a finished row only gets eos
    row1 = free[1, 4:].tolist()
    if eos in row1:  # both rows finish: generation stops when the last one does
        assert out.shape[1] == 4 + row1.index(eos) + 1
        assert torch.equal(out[1], free[1, : out.shape[1]])
    else:  # row 1 never emits eos: it runs the full length, unchanged
        assert out.shape[1] == 12
        assert torch.equal(out[1], free[1])


def test_generate_greedy_zero_new_tokens_returns_the_prompt():
    model = decoder()
    prompt = torch.randint(1, CFG["vocab_size"], (1, 5))
    assert torch.equal(model.generate_greedy(prompt, max_new_tokens=0), prompt)


@pytest.mark.parametrize("max_new_tokens,match", [
    (-1, r"max_new_tokens must be >= 0, got -1"),
    (20, r"prompt length 5 \+ max_new_tokens 20 exceeds max_position_embeddings=24"),
])
def test_generate_greedy_bad_lengths(max_new_tokens, match):
    with pytest.raises(ValueError, match=match):
        decoder().generate_greedy(torch.randint(1, CFG["vocab_size"], (1, 5)), max_new_tokens=max_new_tokens)
