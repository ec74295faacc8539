"""bertbook.pipelines.fill_mask: the same answers as transformers' fill-mask pipeline.

A small random BertForMaskedLM with the bundled MiniLM vocabulary, so the file runs in seconds.
"""

from __future__ import annotations

import pytest
import torch
import transformers

import bertbook
from bertbook.loading import resolve_model_source
from bertbook.pipelines import fill_mask

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return bertbook.BertTokenizer.from_pretrained(resolve_model_source("bundled-minilm"))


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    config = bertbook.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=4, intermediate_size=64,
                                 max_position_embeddings=64)
    mlm = bertbook.BertForMaskedLM(config).eval()
    with torch.no_grad():  # a spread-out output bias, so the top tokens are clearly ordered
        mlm.cls.predictions.bias.normal_(0, 2.0)
    return mlm


def test_fill_mask_equals_the_transformers_pipeline(model, tokenizer, tmp_path):
    text = f"the markets {tokenizer.mask_token} sharply on monday."
    ours = fill_mask(model, tokenizer, text, top_k=4)
    model.save_pretrained(tmp_path)
    hf_model = transformers.BertForMaskedLM.from_pretrained(tmp_path).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(resolve_model_source("bundled-minilm"))
    theirs = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tok, device="cpu")(
        text, top_k=4)
    assert [a["token"] for a in ours] == [a["token"] for a in theirs]
    assert [a["token_str"] for a in ours] == [a["token_str"].replace(" ", "") for a in theirs]
    for a, b in zip(ours, theirs):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    scores = [a["score"] for a in ours]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1


def test_fill_mask_fills_the_sequence_and_keeps_the_mode(model, tokenizer):
    model.train()
    answers = fill_mask(model, tokenizer, f"a {tokenizer.mask_token} day", top_k=2)
    assert model.training  # put back as it was
    assert len(answers) == 2
    for a in answers:  # the text with the mask replaced, decoded as one sequence
        ids = [tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(["a"]), a["token"],
               *tokenizer.convert_tokens_to_ids(["day"]), tokenizer.sep_token_id]
        assert a["sequence"] == tokenizer.decode(ids, skip_special_tokens=True)
        assert a["sequence"].startswith("a") and a["sequence"].endswith("day")
    model.eval()


@pytest.mark.parametrize("text", ["no mask here", "[MASK] and [MASK]"])
def test_fill_mask_needs_exactly_one_mask(model, tokenizer, text):
    with pytest.raises(ValueError, match="exactly one mask token"):
        fill_mask(model, tokenizer, text)


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_fill_mask_rejects_a_bad_top_k(model, tokenizer, top_k):
    with pytest.raises(ValueError, match="top_k"):
        fill_mask(model, tokenizer, "a [MASK] day", top_k=top_k)


def test_fill_mask_rejects_a_text_that_is_not_a_string(model, tokenizer):
    with pytest.raises(TypeError, match="text must be a str"):
        fill_mask(model, tokenizer, ["a [MASK] day"])
