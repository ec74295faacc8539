"""BertConfig: HF config.json both ways, unknown keys kept, clear validation errors."""

from __future__ import annotations

import json

import pytest
import transformers

import bertbook
from bertbook import BertConfig


def test_minilm_config_round_trip_keeps_unknown_keys(tmp_path):
    src = json.loads((bertbook.minilm_path() / "config.json").read_text())
    config = BertConfig.from_pretrained(bertbook.minilm_path())
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 6, 12)
    config.save_pretrained(tmp_path)
    out = json.loads((tmp_path / "config.json").read_text())
    for key, value in src.items():  # every original key survives with its value
        assert out[key] == value, key
    assert BertConfig.from_pretrained(tmp_path) == config


def test_transformers_reads_our_config(tmp_path):
    BertConfig(hidden_size=64, num_attention_heads=4, num_labels=5, id2label={i: f"c{i}" for i in range(5)}).save_pretrained(tmp_path)
    hf = transformers.AutoConfig.from_pretrained(tmp_path)
    assert isinstance(hf, transformers.BertConfig)
    assert hf.hidden_size == 64 and hf.num_labels == 5 and hf.id2label[3] == "c3"


def test_we_read_a_transformers_config(tmp_path):
    transformers.BertConfig(hidden_size=48, num_attention_heads=6, num_labels=4, problem_type="regression").save_pretrained(tmp_path)
    config = BertConfig.from_pretrained(tmp_path)
    assert config.hidden_size == 48 and config.num_labels == 4 and config.problem_type == "regression"


def test_megatron_model_type_switches_pre_layernorm(tmp_path):
    transformers.MegatronBertConfig(hidden_size=32, num_attention_heads=4).save_pretrained(tmp_path)
    assert BertConfig.from_pretrained(tmp_path).pre_layernorm is True
    assert BertConfig(pre_layernorm=True).to_dict()["model_type"] == "megatron-bert"


def test_num_labels_override_replaces_stored_label_names(tmp_path):
    BertConfig(num_labels=5).save_pretrained(tmp_path)
    assert BertConfig.from_pretrained(tmp_path).num_labels == 5
    assert BertConfig.from_pretrained(tmp_path, num_labels=2).num_labels == 2


@pytest.mark.parametrize("kwargs,match", [
    ({"hidden_size": 100, "num_attention_heads": 12}, r"hidden_size \(100\) must be divisible by num_attention_heads \(12\)"),
    ({"num_hidden_layers": 0}, r"num_hidden_layers must be a positive integer, got 0"),
    ({"vocab_size": -5}, r"vocab_size must be a positive integer"),
    ({"hidden_size": 12.0, "num_attention_heads": 3}, r"hidden_size must be a positive integer"),
    ({"hidden_act": "mish"}, r"hidden_act='mish' is not one of"),
    ({"hidden_dropout_prob": 1.0}, r"hidden_dropout_prob must be in \[0, 1\)"),
    ({"attn_implementation": "flash"}, r"attn_implementation='flash' is not one of \('eager', 'sdpa'\)"),
    ({"problem_type": "ranking"}, r"problem_type='ranking'"),
    ({"position_embedding_type": "relative_key"}, r"only 'absolute'"),
    ({"pad_token_id": 40000}, r"pad_token_id must be in \[0, vocab_size=30522\)"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BertConfig(**kwargs)


def test_unknown_model_type_is_rejected(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 768}))
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        BertConfig.from_pretrained(tmp_path)


def test_malformed_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_pretrained(tmp_path)
