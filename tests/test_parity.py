"""Parity with Hugging Face transformers: same weights, same inputs -> same numbers (fp32, eval mode).

Every model class, on random weights in three configs (plus the MegatronBERT pre-LN layout) and on
the bundled MiniLM weights: every output field (with padding in the batch, token_type_ids set and
unset), every loss type, and the gradients of the loss with respect to every parameter.
"""

from __future__ import annotations

import pytest
import torch
import transformers

import bertbook
from bertbook.loading import load_weights_into

from parity_utils import CONFIGS, HEADS, labels_for, make_batch, make_twins, max_abs_diff, output_fields

TOL = 1e-5  # fp32 max abs difference for outputs and losses
GRAD_ATOL, GRAD_RTOL = 1e-5, 1e-4  # gradients: absolute on small entries, relative on large ones

PROBLEM_TYPES = {
    "BertForSequenceClassification": ["single_label_classification", "regression", "multi_label_classification"],
}


def inputs_for(name: str, cfg: dict, with_types: bool = True, pad: bool = True) -> dict:
    if name == "BertForMultipleChoice":
        C = 3
        flat = make_batch(cfg, B=2 * C, with_types=with_types, pad=pad)
        return {k: v.view(2, C, -1) for k, v in flat.items()}
    return make_batch(cfg, with_types=with_types, pad=pad)


def compare(ours_out, hf_out, context: str) -> None:
    ours_fields, hf_fields = output_fields(ours_out), output_fields(hf_out)
    assert set(ours_fields) == set(hf_fields), f"{context}: fields differ: {sorted(ours_fields)} vs {sorted(hf_fields)}"
    for key in ours_fields:
        diff = max_abs_diff(ours_fields[key], hf_fields[key])
        assert diff <= TOL, f"{context}: {key} differs by {diff:.3g}"


def objective(out) -> torch.Tensor:
    """The loss, or for the bare encoder a fixed random projection of both outputs."""
    if getattr(out, "loss", None) is not None:
        return out.loss
    g = torch.Generator().manual_seed(3)
    hidden = out.last_hidden_state
    return (hidden * torch.randn(hidden.shape, generator=g)).sum() + out.pooler_output.pow(2).sum()


def num_labels_kwargs(name, problem_type):
    if name == "BertForSequenceClassification":
        n = 1 if problem_type == "regression" else 3
        return {"num_labels": n, "problem_type": problem_type}
    if name == "BertForTokenClassification":
        return {"num_labels": 3}
    return {}


CASES = [
    (cfg, name, problem)
    for cfg in CONFIGS
    for name in HEADS
    for problem in PROBLEM_TYPES.get(name, [None])
]


@pytest.mark.parametrize("megatron", [False, True], ids=["bert", "megatron"])
@pytest.mark.parametrize("cfg_name,name,problem_type", CASES, ids=[f"{c}-{n}-{p or ''}" for c, n, p in CASES])
def test_outputs_losses_and_gradients_match(cfg_name, name, problem_type, megatron):
    cfg = CONFIGS[cfg_name]
    ours, hf = make_twins(name, cfg, megatron=megatron, **num_labels_kwargs(name, problem_type))
    for with_types in (True, False):
        batch = inputs_for(name, cfg, with_types=with_types)
        labels = labels_for(name, cfg, batch, problem_type=problem_type)
        ctx = f"{cfg_name}/{name}/{problem_type}/types={with_types}/megatron={megatron}"

        # 1. every output field, hidden states and attention probabilities included
        with torch.no_grad():
            o = ours(**batch, **labels, output_hidden_states=True, output_attentions=True)
            h = hf(**batch, **labels, output_hidden_states=True, output_attentions=True)
        compare(o, h, ctx)
        if labels:
            assert o.loss is not None and torch.isfinite(o.loss), ctx

    # 2. gradients of the loss w.r.t. every parameter (last batch: token types unset)
    ours.zero_grad(), hf.zero_grad()
    objective(ours(**batch, **labels)).backward()
    objective(hf(**batch, **labels)).backward()
    hf_params = dict(hf.named_parameters())
    checked = 0
    for pname, p in ours.named_parameters():  # named_parameters() skips tied aliases: each tensor once
        q = hf_params[pname]
        if q.grad is None:
            assert p.grad is None or p.grad.abs().max() == 0, f"{ctx}: {pname} has a gradient only in ours"
            continue
        assert p.grad is not None, f"{ctx}: {pname} has no gradient in ours"
        torch.testing.assert_close(p.grad, q.grad, atol=GRAD_ATOL, rtol=GRAD_RTOL, msg=lambda m: f"{ctx}: grad {pname}: {m}")
        checked += 1
    assert checked >= 10, f"{ctx}: only {checked} gradients compared"


@pytest.mark.parametrize("name", HEADS)
def test_sdpa_path_equals_eager_path(name):
    """Our two attention paths agree with each other (and so both with transformers)."""
    cfg = CONFIGS["small"]
    eager, hf = make_twins(name, cfg, attn="eager", **num_labels_kwargs(name, None))
    sdpa = getattr(bertbook, name)(bertbook.BertConfig(**{**cfg, **({"is_decoder": True} if name == "BertLMHeadModel" else {})},
                                                       attn_implementation="sdpa", **num_labels_kwargs(name, None))).eval()
    load_weights_into(sdpa, eager.state_dict())
    batch = inputs_for(name, cfg)
    labels = labels_for(name, cfg, batch)
    with torch.no_grad():
        a = eager(**batch, **labels, output_hidden_states=True)
        b = sdpa(**batch, **labels, output_hidden_states=True)
    compare(a, b, f"sdpa-vs-eager/{name}")


def test_output_attentions_returns_real_probabilities():
    cfg = CONFIGS["small"]
    model, _ = make_twins("BertModel", cfg, attn="sdpa")
    batch = make_batch(cfg)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    assert len(out.attentions) == cfg["num_hidden_layers"]
    for probs in out.attentions:
        B, nh, T, T2 = probs.shape
        assert (B, nh, T, T2) == (3, cfg["num_attention_heads"], 11, 11)
        torch.testing.assert_close(probs.sum(-1), torch.ones(B, nh, T))  # rows are distributions
        # padded keys (sequence 1, last 4 positions) get exactly zero weight
        assert probs[1, :, :, -4:].abs().max() == 0


# ----------------------------------------------------------------------------- the bundled MiniLM


@pytest.fixture(scope="module")
def minilm_batch():
    """A real tokenised pair batch (HF fast tokenizer: this file tests the models, not the tokenizer)."""
    tok = transformers.AutoTokenizer.from_pretrained(str(bertbook.minilm_path()))
    enc = tok(
        ["Ad sales boost Time Warner profit", "Dollar gains on Greenspan speech"],
        ["Quarterly profits at US media giant TimeWarner jumped 76%.", "The dollar has hit its highest level against the euro in almost three months."],
        padding=True, return_tensors="pt",
    )
    assert (enc["attention_mask"] == 0).any(), "the batch should contain padding"
    return dict(enc)


def test_minilm_bertmodel_from_pretrained_matches_transformers(minilm_batch):
    path = bertbook.minilm_path()
    ours, info = bertbook.BertModel.from_pretrained(path, output_loading_info=True)
    assert info.missing_keys == [] and info.unexpected_keys == []
    hf = transformers.BertModel.from_pretrained(str(path), attn_implementation="eager").eval()
    for batch in (minilm_batch, {k: v for k, v in minilm_batch.items() if k != "token_type_ids"}):
        with torch.no_grad():
            o = ours(**batch, output_hidden_states=True, output_attentions=True)
            h = hf(**batch, output_hidden_states=True, output_attentions=True)
        compare(o, h, "minilm/BertModel")


@pytest.mark.parametrize("name", HEADS[1:])
def test_minilm_heads_match_transformers(name, minilm_batch):
    """Each head on top of the real MiniLM encoder: HF initialises the missing head weights, we copy them."""
    path = str(bertbook.minilm_path())
    kwargs = num_labels_kwargs(name, None)
    if name == "BertLMHeadModel":
        kwargs["is_decoder"] = True
    torch.manual_seed(0)
    hf = getattr(transformers, name).from_pretrained(path, attn_implementation="eager", **kwargs).eval()
    ours, info = getattr(bertbook, name).from_pretrained(path, output_loading_info=True, **kwargs)
    assert info.missing_keys, "MiniLM has no head weights: a task model must report its fresh head"
    assert all(not k.startswith("bert.embeddings") and ".encoder." not in k for k in info.missing_keys), info.missing_keys
    load_weights_into(ours, hf.state_dict())  # same fresh head weights in both
    cfg = {"vocab_size": 30522}
    batch = dict(minilm_batch)
    if name == "BertForMultipleChoice":
        batch = {k: v.unsqueeze(0) for k, v in batch.items()}  # (1, C=2, T)
    labels = labels_for(name, cfg, batch)
    with torch.no_grad():
        o = ours(**batch, **labels, output_hidden_states=True, output_attentions=True)
        h = hf(**batch, **labels, output_hidden_states=True, output_attentions=True)
    compare(o, h, f"minilm/{name}")
