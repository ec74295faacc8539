"""Every fast path equals the readable eager path: outputs (at real tokens) and gradients."""

from __future__ import annotations

import pytest
import torch

import bertbook
from bertbook.loading import load_weights_into
from bertbook.packing import Packing, padding_free
from parity_utils import our_class

CFG = dict(vocab_size=97, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
           max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def ragged_batch(B=5, T=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([17, 3, 9, 1, 12])[:B]
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # right padding, one sequence of length 1
    ids = torch.randint(1, CFG["vocab_size"], (B, T), generator=g).masked_fill(mask == 0, 0)
    types = (torch.arange(T)[None, :] >= (lengths[:, None] // 2)).long() * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def twins(name="BertModel", **kw):
    torch.manual_seed(0)
    cls = our_class(name, megatron=kw.get("pre_layernorm", False))
    slow = cls(bertbook.BertConfig(**CFG, attn_implementation="eager", **kw)).eval()
    fast = padding_free(cls(bertbook.BertConfig(**CFG, attn_implementation="sdpa", **kw))).eval()
    load_weights_into(fast, slow.state_dict())
    return slow, fast


def test_packing_round_trip():
    batch = ragged_batch()
    packing = Packing.from_mask(batch["attention_mask"])
    x = torch.randn(5, 17, 3)
    packed = packing.unpad(x)
    assert packed.shape == (int(batch["attention_mask"].sum()), 3)
    assert packing.cu_seqlens.tolist() == [0, 17, 20, 29, 30, 42]
    assert packing.max_seqlen == 17
    back = packing.pad(packed)
    real = batch["attention_mask"].bool()
    assert torch.equal(back[real], x[real]) and back[~real].abs().max() == 0


@pytest.mark.parametrize("pre_layernorm", [False, True], ids=["post-LN", "pre-LN"])
def test_padding_free_encoder_equals_eager(pre_layernorm):
    slow, fast = twins(pre_layernorm=pre_layernorm)
    batch = ragged_batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        a = slow(**batch, output_hidden_states=True)
        b = fast(**batch, output_hidden_states=True)
    torch.testing.assert_close(b.last_hidden_state[real], a.last_hidden_state[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.pooler_output, a.pooler_output, atol=1e-5, rtol=1e-5)
    for ha, hb in zip(a.hidden_states, b.hidden_states):
        torch.testing.assert_close(hb[real], ha[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["BertForSequenceClassification", "BertForTokenClassification", "BertForPreTraining"])
def test_padding_free_losses_and_gradients_equal_eager(name):
    slow, fast = twins(name)
    batch = ragged_batch()
    B, T = batch["input_ids"].shape
    g = torch.Generator().manual_seed(1)
    if name == "BertForSequenceClassification":
        labels = {"labels": torch.randint(0, 2, (B,), generator=g)}
    elif name == "BertForTokenClassification":
        labels = {"labels": torch.randint(0, 2, (B, T), generator=g).masked_fill(batch["attention_mask"] == 0, -100)}
    else:
        mlm = torch.full((B, T), -100)
        mlm[:, 0] = 5
        mlm[0, 7] = 11
        labels = {"labels": mlm, "next_sentence_label": torch.tensor([0, 1, 0, 1, 1])}
    la = slow(**batch, **labels).loss
    lb = fast(**batch, **labels).loss
    torch.testing.assert_close(lb, la, atol=1e-5, rtol=1e-5)
    la.backward()
    lb.backward()
    grads_b = dict(fast.named_parameters())
    for pname, p in slow.named_parameters():
        torch.testing.assert_close(grads_b[pname].grad, p.grad, atol=1e-5, rtol=1e-4, msg=lambda m: f"{pname}: {m}")


def test_padding_free_qa_logits_equal_eager_at_real_tokens():
    """QA's loss is a softmax over *all* T positions, padding included (as in transformers), so the
    loss under padding-free execution differs by what sits at padding positions; the logits at real
    tokens, which is all that span decoding reads, are equal."""
    slow, fast = twins("BertForQuestionAnswering")
    batch = ragged_batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        a, b = slow(**batch), fast(**batch)
    torch.testing.assert_close(b.start_logits[real], a.start_logits[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.end_logits[real], a.end_logits[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["BertForMaskedLM", "BertForPreTraining"])
def test_sparse_prediction_loss_and_gradients_equal_dense(name):
    torch.manual_seed(0)
    model = getattr(bertbook, name)(bertbook.BertConfig(**CFG)).eval()
    batch = ragged_batch()
    B, T = batch["input_ids"].shape
    labels = torch.full((B, T), -100)
    labels[0, 2], labels[1, 1], labels[2, 8], labels[4, 0] = 4, 9, 33, 96
    extra = {"next_sentence_label": torch.tensor([0, 1, 0, 1, 1])} if name == "BertForPreTraining" else {}
    dense = model(**batch, labels=labels, **extra)
    dense.loss.backward()
    dense_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    sparse = model(**batch, labels=labels, sparse_prediction=True, **extra)
    sparse.loss.backward()
    torch.testing.assert_close(sparse.loss, dense.loss, atol=1e-6, rtol=1e-6)
    logits = sparse.prediction_logits if name == "BertForPreTraining" else sparse.logits
    dense_logits = dense.prediction_logits if name == "BertForPreTraining" else dense.logits
    assert logits.shape == (4, CFG["vocab_size"])  # only the 4 labelled positions
    torch.testing.assert_close(logits, dense_logits[labels != -100], atol=1e-5, rtol=1e-5)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, dense_grads[n], atol=1e-6, rtol=1e-5, msg=lambda m: f"{n}: {m}")


def test_sparse_prediction_needs_labels():
    model = bertbook.BertForMaskedLM(bertbook.BertConfig(**CFG))
    with pytest.raises(ValueError, match="sparse_prediction=True needs labels"):
        model(**ragged_batch(), sparse_prediction=True)


def test_padding_free_is_skipped_where_it_cannot_apply():
    """Attention probabilities need the padded layout: asking for them takes the padded path."""
    slow, fast = twins()
    batch = ragged_batch()
    with torch.no_grad():
        with pytest.warns(UserWarning, match="padding_free=True is ignored for output_attentions"):
            out = fast(**batch, output_attentions=True)
        ref = slow(**batch, output_attentions=True)
    for pa, pb in zip(out.attentions, ref.attentions):
        torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-5)


def test_padding_free_on_a_decoder_warns_and_matches_the_padded_path():
    slow, fast = twins(is_decoder=True)
    batch = ragged_batch()
    with torch.no_grad():
        with pytest.warns(UserWarning, match="causal"):
            out = fast(**batch).last_hidden_state
        ref = slow(**batch).last_hidden_state
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_a_mask_without_padding_changes_nothing():
    """An all-ones attention_mask gives the numbers of no mask at all, on both paths."""
    slow, fast = twins()
    ids = ragged_batch()["input_ids"].clamp(min=1)
    with torch.no_grad():
        ref = slow(ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        out = fast(ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        bare = fast(ids).last_hidden_state
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, bare, atol=1e-5, rtol=1e-5)
