"""bertbook.fast: torch.compile of the layers and autocast, with their fallbacks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bertbook
from bertbook import fast

CFG = dict(
    vocab_size=97,
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def _ragged(B, T, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, CFG["vocab_size"], (B, T), generator=g)
    mask = torch.ones_like(ids)
    mask[0, T // 3 :] = 0
    return ids.masked_fill(mask == 0, 0), mask


def test_compiled_layers_match_eager_outputs_and_gradients():
    """Dynamo traces our layers (padding-free packing included) at two shapes; same numbers.

    The quick ``aot_eager`` backend keeps this test short; Inductor's kernels are exercised by
    benchmarks/bench_models.py (case ``compiled``) and chapter 14.
    """
    torch.manual_seed(0)
    config = bertbook.BertConfig(**CFG)
    ref = bertbook.padding_free(bertbook.BertForSequenceClassification(config))
    model = bertbook.padding_free(bertbook.BertForSequenceClassification(config))
    model.load_state_dict(ref.state_dict())
    assert fast.compile_layers(model, backend="aot_eager") is model
    assert list(model.state_dict()) == list(ref.state_dict())  # keys unchanged by compiling
    for B, T, seed in [(3, 17, 0), (4, 11, 1)]:
        ids, mask = _ragged(B, T, seed)
        labels = torch.arange(B) % 2
        out, want = model(ids, mask, labels=labels), ref(ids, mask, labels=labels)
        torch.testing.assert_close(out.logits, want.logits, atol=1e-6, rtol=1e-6)
        out.loss.backward()
        want.loss.backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-6, msg=name)


def test_compile_without_a_cpu_compiler_warns_and_runs_eagerly(monkeypatch):
    monkeypatch.setattr(fast.shutil, "which", lambda name: None)
    model = bertbook.BertModel(bertbook.BertConfig(**CFG))
    forward = model.encoder.layer[0].forward
    with pytest.warns(UserWarning, match="C\\+\\+ compiler"):
        assert fast.compile_layers(model) is model
    assert model.encoder.layer[0].forward == forward  # left as it was


def test_compile_layers_needs_bert_layers():
    with pytest.raises(ValueError, match="no BertLayer"):
        fast.compile_layers(nn.Linear(2, 2), backend="aot_eager")
    with pytest.raises(ValueError, match="without parameters"):
        fast.compile_layers(nn.ReLU(), backend="aot_eager")


def test_autocast_fp16_on_cpu_falls_back_to_bf16():
    with pytest.warns(UserWarning, match="amp='fp16' is a GPU type; using bf16 on the cpu"):
        ctx = fast.autocast("cpu", "fp16")
    with ctx:
        y = nn.Linear(4, 4)(torch.ones(2, 4))
    assert y.dtype == torch.bfloat16


def test_autocast_off_and_bad_values():
    with fast.autocast("cpu", "off"):
        assert nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.float32
    with pytest.raises(
        ValueError, match=r"amp must be one of \('auto', 'off', 'bf16', 'fp16'\), got 'int8'"
    ):
        fast.autocast("cpu", "int8")
