"""Every model's forward pass and loss compile into one graph: no tensor value is read on the host.

``torch.compile(..., fullgraph=True)`` refuses a graph break, and reading a value on the host
(``.item()``, ``bool(mask.all())``, ``int(ids.max())``) is one: on a GPU it is also a stall of
every step. The ``eager`` backend only traces (no code generation), which keeps this quick.
"""

from __future__ import annotations

import pytest
import torch

from parity_utils import CONFIGS, HEADS, labels_for, make_batch, our_class
from bertbook import roberta

CFG = CONFIGS["small"]
ROBERTA = {"RobertaModel": roberta.RobertaModel, "RobertaForMaskedLM": roberta.RobertaForMaskedLM,
           "RobertaForSequenceClassification": roberta.RobertaForSequenceClassification}


def _model(name, megatron=False):
    import bertbook

    torch.manual_seed(0)
    extra = {"is_decoder": True} if name == "BertLMHeadModel" else {}
    if name.endswith(("SequenceClassification", "TokenClassification")):
        extra["num_labels"] = 3  # as labels_for makes them
    if name in ROBERTA:
        config = bertbook.BertConfig.for_roberta(**{**CFG, **extra, "pad_token_id": 1})
        return ROBERTA[name](config).eval()
    config = bertbook.BertConfig(**CFG, **extra, pre_layernorm=megatron)
    return our_class(name, megatron)(config).eval()


def _inputs(name):
    batch = make_batch(CFG)
    if name == "BertForMultipleChoice":  # (B, C, T): two choices per example
        batch = {k: torch.stack([v, v.flip(0)], dim=1) for k, v in batch.items()}
    return batch


CASES = [(name, False) for name in HEADS + list(ROBERTA)] + [(name, True) for name in HEADS]


@pytest.mark.parametrize("name,megatron", CASES, ids=lambda v: {True: "megatron", False: ""}.get(v, v))
def test_forward_and_loss_compile_with_fullgraph(name, megatron):
    torch._dynamo.reset()
    model = _model(name, megatron)
    batch = _inputs(name)
    lab_name = name.replace("Roberta", "Bert") if name != "RobertaModel" else "BertModel"
    labels = labels_for(lab_name, CFG, batch) if name != "RobertaForMaskedLM" else \
        labels_for("BertForMaskedLM", CFG, batch)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        want = model(**batch, **labels)
        got = compiled(**batch, **labels)
    for key in want.keys():
        if isinstance(want[key], torch.Tensor):
            torch.testing.assert_close(got[key], want[key], atol=1e-6, rtol=1e-6, msg=key)
    if "loss" in want.keys():
        assert got.loss is not None
