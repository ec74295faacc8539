"""bertbook.benchmarking: the FLOPs formulas against torch's own FLOP counter; paired timing."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import bertbook
from bertbook import benchmarking

CFG = dict(vocab_size=101, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
           max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _count(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_encoder_flops_match_torchs_flop_counter():
    # The eager attention path: torch's counter does not see the CPU flash-attention kernel that
    # SDPA calls (it counts the same products when they are written out as matmuls).
    config = bertbook.BertConfig(**CFG, attn_implementation="eager")
    model = bertbook.BertModel(config, add_pooling_layer=False)
    B, T = 3, 20
    ids = torch.randint(1, 101, (B, T))
    assert _count(lambda: model(ids)) == benchmarking.encoder_flops(config, B, T)


def test_training_flops_are_three_forwards():
    config = bertbook.BertConfig(**CFG, attn_implementation="eager")
    model = bertbook.BertModel(config, add_pooling_layer=False)
    ids = torch.randint(1, 101, (2, 16))
    # Forward + backward: the backward of each product is two products of its size (the gradient
    # of each input), which holds for every layer here since the embeddings train too.
    counted = _count(lambda: model(ids).last_hidden_state.sum().backward())
    assert counted == benchmarking.encoder_flops(config, 2, 16, training=True)


def test_mlm_head_flops_dense_sparse_and_training():
    config = bertbook.BertConfig(**CFG)
    head = bertbook.BertForMaskedLM(config).cls
    hidden = torch.randn(2, 10, 32, requires_grad=True)
    assert _count(lambda: head(hidden)) == benchmarking.mlm_head_flops(config, 20)
    # Sparse prediction: the head sees only the masked positions, here 3 of 20.
    masked = hidden.reshape(20, 32)[[1, 7, 12]]  # (3, H)
    assert _count(lambda: head(masked)) == benchmarking.mlm_head_flops(config, 3)
    # Training: each product's backward is two products of its size (input and weight grads).
    counted = _count(lambda: head(hidden).sum().backward())
    assert counted == benchmarking.mlm_head_flops(config, 20, training=True)


def test_encoder_flops_rejects_bad_sizes():
    config = bertbook.BertConfig(**CFG)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        benchmarking.encoder_flops(config, 2, 0)


def test_compare_reports_the_faster_side():
    slow = lambda: sum(range(200_000))  # noqa: E731
    quick = lambda: None  # noqa: E731
    r = benchmarking.compare(quick, slow, repeats=3, warmup=1)
    assert r["speedup"] > 1 and r["ours_s"] < r["transformers_s"] and r["repeats"] == 3
    with pytest.raises(ValueError, match="repeats"):
        benchmarking.compare(quick, slow, repeats=0)


def test_matmul_peak_is_positive_and_gpu_peak_none_on_cpu():
    assert benchmarking.matmul_peak_flops("cpu", n=128, repeats=2) > 0
    assert benchmarking.gpu_peak_flops("cpu") is None
