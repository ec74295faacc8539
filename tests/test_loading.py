"""Checkpoints move both ways: bertbook <-> transformers, safetensors and the pickle format."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

import bertbook
from bertbook.loading import WeightsNotFoundError

from parity_utils import (CONFIGS, HEADS, MEGATRON_NAMES, labels_for, make_batch, make_twins, max_abs_diff,
                          our_class, output_fields)


def _inputs(name, cfg):
    if name == "BertForMultipleChoice":
        return {k: v.view(2, 3, -1) for k, v in make_batch(cfg, B=6).items()}
    return make_batch(cfg)


def _assert_same(a, b, ctx):
    fa, fb = output_fields(a), output_fields(b)
    assert fa.keys() == fb.keys(), ctx
    for k in fa:
        assert max_abs_diff(fa[k], fb[k]) <= 1e-5, f"{ctx}: {k}"


@pytest.mark.parametrize("megatron", [False, True], ids=["bert", "megatron"])
@pytest.mark.parametrize("name", HEADS)
def test_ours_to_transformers_round_trip(name, megatron, tmp_path):
    cfg = CONFIGS["small"]
    extra = {"num_labels": 3} if name in ("BertForSequenceClassification", "BertForTokenClassification") else {}
    ours, _ = make_twins(name, cfg, megatron=megatron, seed=5, **extra)
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == ("megatron-bert" if megatron else "bert")
    hf_cls = getattr(transformers, MEGATRON_NAMES[name] if megatron else name)
    hf, info = hf_cls.from_pretrained(tmp_path, output_loading_info=True, attn_implementation="eager")
    assert info["missing_keys"] == set() or info["missing_keys"] == [], info
    assert not info["unexpected_keys"] and not info["mismatched_keys"], info
    hf.eval()
    batch = _inputs(name, cfg)
    labels = labels_for(name, cfg, batch)
    with torch.no_grad():
        _assert_same(ours(**batch, **labels), hf(**batch, **labels), f"ours->hf {name}")


@pytest.mark.parametrize("megatron", [False, True], ids=["bert", "megatron"])
@pytest.mark.parametrize("name", HEADS)
def test_transformers_to_ours_round_trip(name, megatron, tmp_path):
    cfg = CONFIGS["odd"]
    extra = {"num_labels": 3} if name in ("BertForSequenceClassification", "BertForTokenClassification") else {}
    _, hf = make_twins(name, cfg, megatron=megatron, seed=6, **extra)
    hf.save_pretrained(tmp_path)
    ours, info = our_class(name, megatron).from_pretrained(tmp_path, output_loading_info=True)
    assert info.missing_keys == [] and info.unexpected_keys == [], info
    assert ours.config.pre_layernorm == megatron
    batch = _inputs(name, cfg)
    labels = labels_for(name, cfg, batch)
    with torch.no_grad():
        _assert_same(ours(**batch, **labels), hf(**batch, **labels), f"hf->ours {name}")


def test_pickle_checkpoint_is_read_with_weights_only(tmp_path):
    cfg = CONFIGS["small"]
    ours, hf = make_twins("BertForMaskedLM", cfg, seed=7)
    hf.config.save_pretrained(tmp_path)
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    loaded = bertbook.BertForMaskedLM.from_pretrained(tmp_path)
    batch = make_batch(cfg)
    with torch.no_grad():
        _assert_same(loaded(**batch), ours(**batch), "pytorch_model.bin")


def test_pickle_with_code_is_refused(tmp_path):
    """weights_only=True: a .bin that would run code on unpickling is rejected, not executed."""
    bertbook.BertConfig(**CONFIGS["small"]).save_pretrained(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        bertbook.BertModel.from_pretrained(tmp_path)


def test_old_gamma_beta_names_and_missing_prefix_are_mapped(tmp_path):
    cfg = CONFIGS["small"]
    ours, hf = make_twins("BertModel", cfg, seed=8)
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in hf.state_dict().items()}
    hf.config.save_pretrained(tmp_path)
    torch.save(state, tmp_path / "pytorch_model.bin")
    # a bare-encoder checkpoint loaded under a task model gets the "bert." prefix
    clf, info = bertbook.BertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info.missing_keys == ["classifier.bias", "classifier.weight"]
    assert info.unexpected_keys == []
    torch.testing.assert_close(clf.bert.embeddings.LayerNorm.weight, hf.embeddings.LayerNorm.weight)


def test_task_checkpoint_under_bare_model_reports_head_as_unexpected(tmp_path):
    _, hf = make_twins("BertForQuestionAnswering", CONFIGS["small"], seed=9)
    hf.save_pretrained(tmp_path)
    model, info = bertbook.BertModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info.unexpected_keys == ["qa_outputs.bias", "qa_outputs.weight"]
    # the pooler is not in a QA checkpoint (QA has no pooler): reported as freshly initialised
    assert info.missing_keys == ["pooler.dense.bias", "pooler.dense.weight"]


def test_missing_head_is_reported_as_warning(caplog):
    with caplog.at_level("WARNING", logger="bertbook"):
        bertbook.BertForMaskedLM.from_pretrained(bertbook.minilm_path())
    text = caplog.text
    assert "newly initialised" in text and "cls.predictions.transform.dense.weight" in text


def test_config_folder_without_weights(tmp_path):
    bertbook.BertConfig(**CONFIGS["small"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no weights in .*model.safetensors or pytorch_model.bin"):
        bertbook.BertModel.from_pretrained(tmp_path)
    with pytest.raises(WeightsNotFoundError):
        bertbook.BertModel.from_pretrained(tmp_path)


def test_weights_of_another_architecture_list_every_mismatch(tmp_path):
    _, hf = make_twins("BertModel", CONFIGS["small"], seed=10)
    hf.save_pretrained(tmp_path)
    # same key names, different sizes: the config says hidden 96 / 3 heads
    other = bertbook.BertConfig(**CONFIGS["odd"])
    with pytest.raises(ValueError, match="shape mismatches") as err:
        bertbook.BertModel.from_pretrained(tmp_path, config=other)
    message = str(err.value)
    assert "embeddings.word_embeddings.weight: checkpoint (99, 32) vs model (101, 96)" in message
    assert "encoder.layer.0.attention.self.query.weight" in message


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model folder"):
        bertbook.BertModel.from_pretrained(tmp_path / "does" / "not" / "exist")
