"""Shared helpers for the parity tests: build twin models (ours and transformers') with equal weights."""

from __future__ import annotations

import torch
import transformers

import bertbook
from bertbook import megatron as megatron_models
from bertbook.loading import load_weights_into

# Random-weight configs: a small standard one, an odd one (hidden 96 / 3 heads, 1 layer, 1 token
# type, tanh-GELU), and a deeper ReLU one with 3 token types and a different LayerNorm eps.
CONFIGS = {
    "small": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=64, type_vocab_size=2),
    "odd": dict(vocab_size=101, hidden_size=96, num_hidden_layers=1, num_attention_heads=3, intermediate_size=50,
                max_position_embeddings=40, type_vocab_size=1, hidden_act="gelu_new"),
    "relu3": dict(vocab_size=120, hidden_size=48, num_hidden_layers=3, num_attention_heads=6, intermediate_size=64,
                  max_position_embeddings=50, type_vocab_size=3, hidden_act="relu", layer_norm_eps=1e-5, pad_token_id=1),
}

HEADS = [
    "BertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertLMHeadModel",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForMultipleChoice",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
]

# transformers' MegatronBERT class for each of ours (its causal LM is called ...ForCausalLM).
MEGATRON_NAMES = {name: name.replace("Bert", "MegatronBert", 1) for name in HEADS}
MEGATRON_NAMES["BertLMHeadModel"] = "MegatronBertForCausalLM"


def hf_class(name: str, megatron: bool = False):
    return getattr(transformers, MEGATRON_NAMES[name] if megatron else name)


def our_class(name: str, megatron: bool = False):
    """Ours for a transformers name: bertbook.BertX, or bertbook.megatron.MegatronBertX."""
    return getattr(megatron_models, MEGATRON_NAMES[name]) if megatron else getattr(bertbook, name)


def make_twins(name: str, cfg: dict, megatron: bool = False, seed: int = 0, attn: str = "eager", **extra):
    """transformers model with random weights, and ours loaded from its state dict. Both in eval mode."""
    torch.manual_seed(seed)
    cfg = {**cfg, **extra}
    if name == "BertLMHeadModel":
        cfg["is_decoder"] = True
    hf_cfg_cls = transformers.MegatronBertConfig if megatron else transformers.BertConfig
    hf = hf_class(name, megatron)(hf_cfg_cls(**cfg, attn_implementation="eager")).eval()
    ours_cfg = bertbook.BertConfig(**cfg, pre_layernorm=megatron, attn_implementation=attn)
    ours = our_class(name, megatron)(ours_cfg).eval()
    # Perturb LayerNorm and bias parameters away from their 1/0 initial values so that a
    # mix-up between weight and bias, or a missing bias, cannot hide behind the initialisation.
    with torch.no_grad():
        for pname, p in hf.named_parameters():
            if pname.endswith("bias") or "LayerNorm" in pname or ".ln." in pname or pname.endswith("ln.weight"):
                p.add_(0.1 * torch.randn_like(p))
    info = load_weights_into(ours, hf.state_dict())
    assert info.missing_keys == [] and info.unexpected_keys == [], info
    return ours, hf


def make_batch(cfg: dict, B: int = 3, T: int = 11, seed: int = 1, with_types: bool = True, pad: bool = True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    if pad:
        mask[1, T - 4:] = 0  # padding at the end of sequence 1 ...
        mask[2, T - 1:] = 0  # ... and one padded position in sequence 2
        ids = ids.masked_fill(mask == 0, cfg.get("pad_token_id", 0))
    batch = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        types = torch.zeros(B, T, dtype=torch.long)
        types[:, T // 2:] = cfg["type_vocab_size"] - 1
        batch["token_type_ids"] = types
    return batch


def labels_for(name: str, cfg: dict, batch: dict, problem_type: str | None = None, num_labels: int = 3, seed: int = 2):
    """Labels of every kind each head accepts, with some ignored (-100) positions where allowed."""
    g = torch.Generator().manual_seed(seed)
    ids = batch["input_ids"]
    B, T = ids.shape[0], ids.shape[-1]
    V = cfg["vocab_size"]
    if name in ("BertForMaskedLM", "BertForPreTraining", "BertLMHeadModel"):
        labels = torch.randint(0, V, (B, T), generator=g)
        labels[torch.rand(B, T, generator=g) < 0.5] = -100
        labels[0, 0] = 3  # at least one labelled position
        out = {"labels": labels}
        if name == "BertForPreTraining":
            out["next_sentence_label"] = torch.tensor([0, 1, 1][:B])
        return out
    if name == "BertForNextSentencePrediction":
        return {"labels": torch.tensor([1, 0, 1][:B])}
    if name == "BertForSequenceClassification":
        if problem_type == "regression":
            return {"labels": torch.randn(B, generator=g)}
        if problem_type == "multi_label_classification":
            return {"labels": (torch.rand(B, num_labels, generator=g) > 0.5).float()}
        return {"labels": torch.randint(0, num_labels, (B,), generator=g)}
    if name == "BertForMultipleChoice":
        return {"labels": torch.randint(0, ids.shape[1], (B,), generator=g)}
    if name == "BertForTokenClassification":
        labels = torch.randint(0, num_labels, (B, T), generator=g)
        labels[batch["attention_mask"] == 0] = -100
        return {"labels": labels}
    if name == "BertForQuestionAnswering":
        # position T (and beyond) is "outside the window": ignored by both implementations
        return {"start_positions": torch.tensor([1, 3, T + 5][:B]), "end_positions": torch.tensor([2, 5, T][:B])}
    return {}


def output_fields(out) -> dict:
    """Every tensor output of a model result, flattened to name -> tensor (tuples expanded)."""
    fields = {}
    for key in ("loss", "logits", "last_hidden_state", "pooler_output", "prediction_logits",
                "seq_relationship_logits", "start_logits", "end_logits"):
        value = getattr(out, key, None)
        if value is not None:
            fields[key] = value
    for key in ("hidden_states", "attentions"):
        value = getattr(out, key, None)
        if value:
            for i, t in enumerate(value):
                fields[f"{key}[{i}]"] = t
    return fields


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.detach().float() - b.detach().float()).abs().max().item()
