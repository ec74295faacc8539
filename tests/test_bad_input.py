"""Bad input fails early with a message that names the problem and the allowed range.

Types and shapes are checked by the models themselves; values (ids, labels) by
``bertbook.validate_inputs`` on the host, which the training loop runs on every batch (the
models never read tensor values, so that nothing waits on the device).
"""

from __future__ import annotations

import pytest
import torch

import bertbook

CFG = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
           max_position_embeddings=12, type_vocab_size=2)


def model(name="BertModel", **kw):
    extra = {"is_decoder": True} if name == "BertLMHeadModel" else {}
    return getattr(bertbook, name)(bertbook.BertConfig(**CFG, **extra, **kw)).eval()


def ids(B=2, T=5):
    return torch.randint(1, CFG["vocab_size"], (B, T))


def check(m, batch):
    """The path a batch takes in training: values on the host, then the model."""
    bertbook.validate_inputs(m, batch)
    return m(**batch)


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(1, 13, dtype=torch.long), r"sequence length 13, longer than max_position_embeddings=12"),
    (torch.tensor([[1, 2, 50]]), r"input_ids must be in \[0, vocab_size=50\), got values in \[1, 50\]"),
    (torch.tensor([[1, -1, 2]]), r"input_ids must be in \[0, vocab_size=50\)"),
    (torch.zeros(0, 5, dtype=torch.long), r"input_ids is empty"),
    (torch.zeros(2, 0, dtype=torch.long), r"input_ids is empty"),
    (torch.zeros(5, dtype=torch.long), r"input_ids must be 2-D \(batch, seq_len\)"),
])
def test_bad_input_ids(bad, match):
    with pytest.raises(ValueError, match=match):
        check(model(), {"input_ids": bad})


def test_float_input_ids_is_a_type_error():
    with pytest.raises(TypeError, match="integer token ids"):
        model()(torch.ones(2, 5))


def test_list_input_ids_is_a_type_error():
    with pytest.raises(TypeError, match="torch.Tensor"):
        model()([[1, 2, 3]])


def test_token_type_out_of_range():
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 2\), got values in \[0, 2\]"):
        check(model(), {"input_ids": ids(), "token_type_ids": torch.tensor([[0, 0, 1, 2, 0]] * 2)})


@pytest.mark.parametrize("name", ["attention_mask", "token_type_ids"])
def test_companion_shape_mismatch(name):
    with pytest.raises(ValueError, match=rf"{name} has shape \(2, 4\) but input_ids has shape \(2, 5\)"):
        model()(ids(), **{name: torch.zeros(2, 4, dtype=torch.long)})


def test_broadcastable_mask_is_not_silently_broadcast():
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 5\)"):
        model()(ids(), attention_mask=torch.ones(1, 5, dtype=torch.long))


@pytest.mark.parametrize("name,kwargs,labels,match", [
    ("BertForSequenceClassification", {"num_labels": 3}, torch.tensor([0, 3]), r"labels must be in \[0, 3\), got \[3\]"),
    ("BertForSequenceClassification", {"num_labels": 3}, torch.tensor([0, -1]), r"labels must be in \[0, 3\)"),
    ("BertForSequenceClassification", {"num_labels": 3}, torch.tensor([0, 1, 2]), r"labels must have shape \(2,\)"),
    ("BertForSequenceClassification", {"num_labels": 3, "problem_type": "multi_label_classification"},
     torch.ones(2, 2), r"multi-label labels must have shape \(2, 3\)"),
    ("BertForTokenClassification", {"num_labels": 4}, torch.full((2, 5), 4), r"labels must be in \[0, 4\) or -100"),
    ("BertForTokenClassification", {"num_labels": 4}, torch.zeros(2, 4, dtype=torch.long), r"labels must have shape \(2, 5\)"),
    ("BertForMaskedLM", {}, torch.full((2, 5), 50), r"labels must be in \[0, 50\) or -100"),
    ("BertForMaskedLM", {}, torch.zeros(2, 6, dtype=torch.long), r"labels must have shape \(2, 5\)"),
    ("BertLMHeadModel", {}, torch.full((2, 5), 99), r"labels must be in \[0, 50\)"),
    ("BertForNextSentencePrediction", {}, torch.tensor([0, 2]), r"labels must be in \[0, 2\), got \[2\]"),
    ("BertForNextSentencePrediction", {}, torch.tensor([0, -100]), r"labels must be in \[0, 2\)"),
])
def test_labels_out_of_range_or_wrong_shape(name, kwargs, labels, match):
    with pytest.raises(ValueError, match=match):
        check(model(name, **kwargs), {"input_ids": ids(), "labels": labels})


def test_float_class_labels_are_a_type_error():
    with pytest.raises(TypeError, match="integer class ids"):
        model("BertForTokenClassification", num_labels=3)(ids(), labels=torch.zeros(2, 5))


def test_nsp_label_with_the_mlm_ignore_index_is_rejected():
    with pytest.raises(ValueError, match=r"next_sentence_label must be in \[0, 2\), got \[-100\]"):
        check(model("BertForPreTraining"), {"input_ids": ids(), "next_sentence_label": torch.tensor([0, -100])})


def test_multiple_choice_needs_3d_input():
    with pytest.raises(ValueError, match=r"input_ids must be 3-D \(batch, num_choices, seq_len\)"):
        model("BertForMultipleChoice")(ids())


def test_multiple_choice_label_beyond_the_choices():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\), got \[4\]"):
        check(model("BertForMultipleChoice"), {"input_ids": torch.randint(0, 50, (2, 4, 5)), "labels": torch.tensor([1, 4])})


def test_multiple_choice_mask_shape():
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 5\) but input_ids has shape \(2, 4, 5\)"):
        model("BertForMultipleChoice")(torch.randint(0, 50, (2, 4, 5)), attention_mask=torch.ones(2, 5))


@pytest.mark.parametrize("start,end,match", [
    (torch.tensor([[1, 2]]), torch.tensor([1, 2]), r"start_positions must have shape \(2,\)"),
    (torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]), r"start_positions must have shape \(2,\)"),
    (torch.tensor([1, 2]), None, r"pass both start_positions and end_positions"),
])
def test_qa_positions_of_the_wrong_shape(start, end, match):
    with pytest.raises(ValueError, match=match):
        model("BertForQuestionAnswering")(ids(), start_positions=start, end_positions=end)


def test_qa_float_positions():
    with pytest.raises(TypeError, match="integer token positions"):
        model("BertForQuestionAnswering")(ids(), start_positions=torch.tensor([1.0, 2.0]), end_positions=torch.tensor([1, 2]))


def test_errors_come_before_any_kernel(monkeypatch):
    """A wrong shape is caught before the embedding lookup runs, and validate_inputs reads the
    values without running the model at all."""
    m = model()
    called = []
    monkeypatch.setattr(m.embeddings, "forward", lambda *a, **k: called.append(1))
    with pytest.raises(ValueError):
        m(torch.tensor([[1, 2]]), attention_mask=torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError):
        bertbook.validate_inputs(m, {"input_ids": torch.tensor([[1, 999]])})
    assert not called


def test_validate_inputs_accepts_a_good_batch_of_every_kind():
    batch = {"input_ids": ids(), "attention_mask": torch.ones(2, 5, dtype=torch.long),
             "token_type_ids": torch.zeros(2, 5, dtype=torch.long)}
    bertbook.validate_inputs(model("BertForMaskedLM"), {**batch, "labels": torch.full((2, 5), -100)})
    bertbook.validate_inputs(model("BertForSequenceClassification", num_labels=3),
                             {**batch, "labels": torch.tensor([0, 2])})
    bertbook.validate_inputs(model("BertForPreTraining"), {**batch, "next_sentence_label": torch.tensor([0, 1])})


def test_a_mask_of_other_values_than_0_and_1_is_refused():
    with pytest.raises(ValueError, match=r"attention_mask must be in \[0, 2\)"):
        bertbook.validate_inputs(model(), {"input_ids": ids(), "attention_mask": torch.full((2, 5), 2)})


def test_lm_head_model_needs_a_decoder_config():
    with pytest.raises(ValueError, match="is_decoder=True"):
        bertbook.BertLMHeadModel(bertbook.BertConfig(**CFG))
