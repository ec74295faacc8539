"""BertForMeanPoolClassification: the mean of the real tokens' vectors, then BERT's classifier."""

from __future__ import annotations

import torch
import transformers

import bertbook
import bertbook.loading
from parity_utils import CONFIGS, make_batch


def test_mean_pool_head_equals_transformers_encoder_plus_manual_mean():
    cfg = CONFIGS["small"]
    torch.manual_seed(0)
    hf = transformers.BertModel(transformers.BertConfig(**cfg, attn_implementation="eager"),
                                add_pooling_layer=False).eval()
    ours = bertbook.BertForMeanPoolClassification(bertbook.BertConfig(**cfg, num_labels=3)).eval()
    info = bertbook.loading.load_weights_into(ours, hf.state_dict())
    assert info.missing_keys == ["classifier.bias", "classifier.weight"]
    assert not any("pooler" in k for k in ours.state_dict())
    batch = make_batch(cfg)
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        h = hf(**batch).last_hidden_state  # (B, T, H)
        m = batch["attention_mask"][:, :, None].float()
        mean = (h * m).sum(1) / m.sum(1)  # padding left out of the mean
        want = ours.classifier(mean)
        out = ours(**batch, labels=labels)
    torch.testing.assert_close(out.logits, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(want, labels))
    # The padding really is left out: changing a padded position's id changes nothing.
    batch["input_ids"][1, -1] = 7
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch).logits, out.logits, atol=1e-5, rtol=1e-5)


def test_mean_pool_head_loads_minilm_without_the_untrained_pooler():
    model, info = bertbook.BertForMeanPoolClassification.from_pretrained(
        bertbook.minilm_path(), num_labels=5, output_loading_info=True)
    assert sorted(info.missing_keys) == ["classifier.bias", "classifier.weight"]
    assert info.unexpected_keys == ["bert.pooler.dense.bias", "bert.pooler.dense.weight"]
