"""RoBERTa as a configuration of BERT's code: parity with transformers' RobertaModel,
RobertaForMaskedLM and RobertaForSequenceClassification (random weights, fp32, eval mode), its
padding-aware position ids, checkpoints both ways, and the config switch.

RoBERTa's position ids depend on where the padding is, so every parity case runs on batches
padded on the right, padded on the left and not padded at all.
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

import bertbook
from bertbook import BertConfig
from bertbook.packing import padding_free
from bertbook.roberta import RobertaForMaskedLM, RobertaForSequenceClassification
from bertbook.loading import load_state_dict, load_weights_into
from bertbook.roberta import RobertaModel, create_position_ids_from_input_ids

from parity_utils import max_abs_diff, output_fields

TOL = 1e-5  # fp32 max abs difference for outputs and losses
GRAD_ATOL, GRAD_RTOL = 1e-5, 1e-4

# RoBERTa-shaped random configs: one token type and pad id 1 (roberta-base's layout); two token
# types with tanh-GELU (the LM head must still use the exact GELU) and a 1e-5 LayerNorm eps; and a
# pad id of 3, so that an offset hard-coded to 2 (= 1 + 1) would show.
CONFIGS = {
    "base-like": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      max_position_embeddings=40, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5),
    "two-types": dict(vocab_size=87, hidden_size=48, num_hidden_layers=1, num_attention_heads=3, intermediate_size=50,
                      max_position_embeddings=30, type_vocab_size=2, pad_token_id=1, hidden_act="gelu_new"),
    "pad3": dict(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=30,
                 max_position_embeddings=20, type_vocab_size=1, pad_token_id=3, hidden_act="relu"),
}

OURS = {
    "RobertaModel": RobertaModel,
    "RobertaForMaskedLM": RobertaForMaskedLM,
    "RobertaForSequenceClassification": RobertaForSequenceClassification,
}
PROBLEMS = {"RobertaForSequenceClassification": ["single_label_classification", "regression", "multi_label_classification"]}
CASES = [(c, n, p) for c in CONFIGS for n in OURS for p in PROBLEMS.get(n, [None])]
PADDING = ("right", "left", "none")


def label_kwargs(name, problem_type):
    if name != "RobertaForSequenceClassification":
        return {}
    return {"num_labels": 1 if problem_type == "regression" else 3, "problem_type": problem_type}


def make_twins(name: str, cfg: dict, seed: int = 0, attn: str = "eager", **extra):
    """transformers' model with random weights (LayerNorms and biases perturbed away from 1/0), and
    ours loaded from its state dict. Both in eval mode."""
    torch.manual_seed(seed)
    cfg = {**cfg, **extra}
    hf = getattr(transformers, name)(transformers.RobertaConfig(**cfg, attn_implementation="eager")).eval()
    with torch.no_grad():
        for pname, p in hf.named_parameters():
            if pname.endswith("bias") or "LayerNorm" in pname or "layer_norm" in pname:
                p.add_(0.1 * torch.randn_like(p))
    ours = OURS[name](BertConfig.from_dict(cfg, position_ids_from_padding=True, attn_implementation=attn)).eval()
    info = load_weights_into(ours, hf.state_dict())
    assert info.missing_keys == [] and info.unexpected_keys == [], info
    return ours, hf


def make_batch(cfg: dict, padding: str, B: int = 3, T: int = 9, seed: int = 1, with_types: bool = True) -> dict:
    """Token ids avoid the pad id except where the batch is padded (RoBERTa finds padding by id)."""
    g = torch.Generator().manual_seed(seed)
    pad = cfg["pad_token_id"]
    ids = torch.randint(pad + 1, cfg["vocab_size"], (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    if padding != "none":
        for b, n_pad in enumerate((0, 4, 1)[:B]):
            if n_pad:
                if padding == "right":
                    mask[b, T - n_pad:] = 0
                else:
                    mask[b, :n_pad] = 0
        ids = ids.masked_fill(mask == 0, pad)
    batch = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        types = torch.zeros(B, T, dtype=torch.long)
        types[:, T // 2:] = cfg["type_vocab_size"] - 1
        batch["token_type_ids"] = types
    return batch


def labels_for(name: str, cfg: dict, batch: dict, problem_type: str | None, seed: int = 2) -> dict:
    g = torch.Generator().manual_seed(seed)
    B, T = batch["input_ids"].shape
    if name == "RobertaForMaskedLM":
        labels = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
        labels[torch.rand(B, T, generator=g) < 0.5] = -100
        labels[0, 1] = 5  # at least one labelled position
        return {"labels": labels}
    if name == "RobertaForSequenceClassification":
        if problem_type == "regression":
            return {"labels": torch.randn(B, generator=g)}
        if problem_type == "multi_label_classification":
            return {"labels": (torch.rand(B, 3, generator=g) > 0.5).float()}
        return {"labels": torch.randint(0, 3, (B,), generator=g)}
    return {}


def compare(ours_out, hf_out, context: str) -> None:
    a, b = output_fields(ours_out), output_fields(hf_out)
    assert set(a) == set(b), f"{context}: fields differ: {sorted(a)} vs {sorted(b)}"
    for key in a:
        diff = max_abs_diff(a[key], b[key])
        assert diff <= TOL, f"{context}: {key} differs by {diff:.3g}"


def objective(out) -> torch.Tensor:
    if getattr(out, "loss", None) is not None:
        return out.loss
    g = torch.Generator().manual_seed(3)
    hidden = out.last_hidden_state
    return (hidden * torch.randn(hidden.shape, generator=g)).sum() + out.pooler_output.pow(2).sum()


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("cfg_name,name,problem_type", CASES, ids=[f"{c}-{n}-{p or ''}" for c, n, p in CASES])
def test_outputs_losses_and_gradients_match_transformers(cfg_name, name, problem_type):
    cfg = CONFIGS[cfg_name]
    ours, hf = make_twins(name, cfg, **label_kwargs(name, problem_type))
    for padding in PADDING:
        for with_types in (True, False):
            batch = make_batch(cfg, padding, with_types=with_types)
            labels = labels_for(name, cfg, batch, problem_type)
            ctx = f"{cfg_name}/{name}/{problem_type}/padding={padding}/types={with_types}"
            with torch.no_grad():
                o = ours(**batch, **labels, output_hidden_states=True, output_attentions=True)
                h = hf(**batch, **labels, output_hidden_states=True, output_attentions=True)
            compare(o, h, ctx)
            if labels:
                assert o.loss is not None and torch.isfinite(o.loss), ctx

    # Gradients w.r.t. every parameter, on the left-padded batch: the padding row of the position
    # table (index pad_token_id) must get no gradient in either.
    batch = make_batch(cfg, "left")
    labels = labels_for(name, cfg, batch, problem_type)
    ours.zero_grad(), hf.zero_grad()
    objective(ours(**batch, **labels)).backward()
    objective(hf(**batch, **labels)).backward()
    hf_params = dict(hf.named_parameters())
    checked = 0
    for pname, p in ours.named_parameters():
        q = hf_params[pname]
        if q.grad is None:
            assert p.grad is None or p.grad.abs().max() == 0, f"{cfg_name}/{name}: {pname} has a gradient only in ours"
            continue
        assert p.grad is not None, f"{cfg_name}/{name}: {pname} has no gradient in ours"
        torch.testing.assert_close(p.grad, q.grad, atol=GRAD_ATOL, rtol=GRAD_RTOL,
                                   msg=lambda m: f"{cfg_name}/{name}: grad {pname}: {m}")
        checked += 1
    assert checked >= 10, f"only {checked} gradients compared"
    position_table = next(p for n, p in ours.named_parameters() if n.endswith("position_embeddings.weight"))
    assert position_table.grad[cfg["pad_token_id"]].abs().max() == 0
    assert position_table.grad[cfg["pad_token_id"] + 1].abs().max() > 0  # the first real position did learn


@pytest.mark.parametrize("name", list(OURS))
def test_inputs_embeds_and_explicit_position_ids_match_transformers(name):
    """Given embeddings, positions run padding_idx+1, padding_idx+2, ... (padding cannot be seen);
    given position_ids, both use them as they are."""
    cfg = CONFIGS["pad3"]
    ours, hf = make_twins(name, cfg, **label_kwargs(name, "single_label_classification"))
    batch = make_batch(cfg, "right")
    embeds = hf.roberta.embeddings.word_embeddings(batch["input_ids"]).detach() if name != "RobertaModel" else \
        hf.embeddings.word_embeddings(batch["input_ids"]).detach()
    with torch.no_grad():
        o = ours(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_hidden_states=True)
        h = hf(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_hidden_states=True)
        compare(o, h, f"{name}/inputs_embeds")
        positions = torch.arange(9).expand(3, 9) + 4
        o = ours(**batch, position_ids=positions)
        h = hf(**batch, position_ids=positions)
        compare(o, h, f"{name}/position_ids")


def test_sdpa_path_equals_eager_path():
    cfg = CONFIGS["base-like"]
    eager, _ = make_twins("RobertaForMaskedLM", cfg)
    sdpa = RobertaForMaskedLM(BertConfig.from_dict(cfg, position_ids_from_padding=True, attn_implementation="sdpa")).eval()
    load_weights_into(sdpa, eager.state_dict())
    for padding in PADDING:
        batch = make_batch(cfg, padding)
        with torch.no_grad():
            compare(eager(**batch, output_hidden_states=True), sdpa(**batch, output_hidden_states=True), f"sdpa/{padding}")


def test_padding_free_path_equals_padded_path_at_real_tokens():
    cfg = CONFIGS["base-like"]
    ours, _ = make_twins("RobertaModel", cfg)
    packed = padding_free(RobertaModel(BertConfig.from_dict(cfg, position_ids_from_padding=True))).eval()
    load_weights_into(packed, ours.state_dict())
    batch = make_batch(cfg, "left")
    with torch.no_grad():
        a = ours(**batch).last_hidden_state
        b = packed(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    assert max_abs_diff(a[real], b[real]) <= TOL


# ----------------------------------------------------------------------------- position ids


def test_position_ids_worked_example():
    ids = torch.tensor([[0, 713, 2, 1, 1], [1, 1, 0, 713, 2]])
    expected = torch.tensor([[2, 3, 4, 1, 1], [1, 1, 2, 3, 4]])
    assert torch.equal(create_position_ids_from_input_ids(ids, padding_idx=1), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5), st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=12), min_size=1, max_size=4))
def test_position_ids_equal_transformers(padding_idx, rows):
    T = max(len(r) for r in rows)
    ids = torch.tensor([r + [padding_idx] * (T - len(r)) for r in rows])
    ours = create_position_ids_from_input_ids(ids, padding_idx)
    theirs = transformers.models.roberta.modeling_roberta.RobertaEmbeddings.create_position_ids_from_input_ids(
        ids, padding_idx)
    assert torch.equal(ours, theirs)


def test_left_padding_does_not_move_the_positions():
    """The same sentence gets the same hidden states whether the batch pads it on the left or not."""
    cfg = CONFIGS["base-like"]
    ours, _ = make_twins("RobertaModel", cfg)
    sentence = torch.tensor([[0, 17, 23, 42, 2]])
    padded = torch.cat([torch.full((1, 3), cfg["pad_token_id"]), sentence], dim=1)
    mask = (padded != cfg["pad_token_id"]).long()
    with torch.no_grad():
        alone = ours(sentence).last_hidden_state[0]
        left = ours(padded, attention_mask=mask).last_hidden_state[0, 3:]
    assert max_abs_diff(alone, left) <= TOL


def test_bert_config_keeps_bert_positions_and_state_dict():
    """The switch is off by default: no padding_idx on BERT's position table, same keys as before."""
    bert = bertbook.BertModel(BertConfig(**{k: v for k, v in CONFIGS["base-like"].items()}))
    assert bert.embeddings.position_embeddings.padding_idx is None
    roberta = RobertaModel(BertConfig.from_dict(CONFIGS["base-like"], position_ids_from_padding=True))
    assert roberta.embeddings.position_embeddings.padding_idx == 1
    assert set(bert.state_dict()) == set(roberta.state_dict())


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", list(OURS))
def test_transformers_checkpoint_loads_and_matches(name, tmp_path):
    cfg = CONFIGS["two-types"]
    _, hf = make_twins(name, cfg, seed=4, **label_kwargs(name, "single_label_classification"))
    hf.save_pretrained(tmp_path)
    saved = set(load_state_dict(tmp_path))
    if name == "RobertaForMaskedLM":  # the layout the issue names, as transformers writes it
        assert {"lm_head.dense.weight", "lm_head.layer_norm.weight", "lm_head.bias"} <= saved
        assert all(k.startswith(("roberta.", "lm_head.")) for k in saved)
    if name == "RobertaForSequenceClassification":
        assert {"classifier.dense.weight", "classifier.out_proj.weight"} <= saved
    ours, info = OURS[name].from_pretrained(tmp_path, output_loading_info=True)
    assert info.missing_keys == [] and info.unexpected_keys == [], info
    assert ours.config.position_ids_from_padding and ours.config.type_vocab_size == 2
    for padding in PADDING:
        batch = make_batch(cfg, padding)
        labels = labels_for(name, cfg, batch, "single_label_classification")
        with torch.no_grad():
            compare(ours(**batch, **labels), hf(**batch, **labels), f"hf->ours {name}/{padding}")


@pytest.mark.parametrize("name", list(OURS))
def test_save_pretrained_round_trip(name, tmp_path):
    """Ours -> folder -> transformers and -> ours again: same numbers, RoBERTa's model_type."""
    cfg = CONFIGS["base-like"]
    ours, _ = make_twins(name, cfg, seed=5, **label_kwargs(name, "multi_label_classification"))
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "roberta" and config["architectures"] == [name]
    hf, info = getattr(transformers, name).from_pretrained(tmp_path, output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    again = OURS[name].from_pretrained(tmp_path)
    assert again.config.to_dict() == ours.config.to_dict()
    batch = make_batch(cfg, "left")
    labels = labels_for(name, cfg, batch, "multi_label_classification")
    with torch.no_grad():
        o = ours(**batch, **labels)
        compare(o, hf.eval()(**batch, **labels), f"ours->hf {name}")
        compare(o, again(**batch, **labels), f"ours->ours {name}")


def test_mlm_checkpoint_under_other_classes(tmp_path):
    """A RobertaForMaskedLM folder: the bare encoder drops the LM head (reported), the classifier
    reports its fresh head, and a Bert* task model refuses it with a pointer to the RoBERTa class."""
    cfg = CONFIGS["base-like"]
    _, hf = make_twins("RobertaForMaskedLM", cfg, seed=6)
    hf.save_pretrained(tmp_path)
    batch = make_batch(cfg, "right")

    encoder, info = RobertaModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info.unexpected_keys == ["lm_head.bias", "lm_head.dense.bias", "lm_head.dense.weight",
                                    "lm_head.layer_norm.bias", "lm_head.layer_norm.weight"]
    assert info.missing_keys == ["pooler.dense.bias", "pooler.dense.weight"]  # MLM has no pooler
    with torch.no_grad():
        reference = hf.roberta(**batch).last_hidden_state
        assert max_abs_diff(encoder(**batch).last_hidden_state, reference) <= TOL

    clf, info = RobertaForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True, num_labels=4)
    assert info.missing_keys == ["classifier.dense.bias", "classifier.dense.weight",
                                 "classifier.out_proj.bias", "classifier.out_proj.weight"]
    # A Bert* class has BERT's positions, not RoBERTa's: it refuses the folder and names the class.
    with pytest.raises(ValueError, match="model_type 'bert', but the config is 'roberta'.*bertbook.roberta"):
        bertbook.BertForSequenceClassification.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------- config


def test_config_switch_follows_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta", "vocab_size": 50, "hidden_size": 8,
                                                      "num_attention_heads": 2, "num_hidden_layers": 1,
                                                      "intermediate_size": 8, "max_position_embeddings": 20}))
    config = BertConfig.from_pretrained(tmp_path)
    assert config.position_ids_from_padding and config.pad_token_id == 1  # transformers' RobertaConfig default
    assert config.max_sequence_length == 18
    assert config.to_dict()["model_type"] == "roberta"
    assert BertConfig().to_dict()["model_type"] == "bert" and not BertConfig().position_ids_from_padding


def test_for_roberta_is_roberta_base_layout():
    config = BertConfig.for_roberta()
    hf = transformers.RobertaConfig(**{k: v for k, v in config.to_dict().items() if k != "model_type"})
    assert (hf.vocab_size, hf.max_position_embeddings, hf.type_vocab_size, hf.pad_token_id) == (50265, 514, 1, 1)
    assert config.max_sequence_length == 512 and config.layer_norm_eps == 1e-5
    assert config.to_dict()["bos_token_id"] == 0 and config.to_dict()["eos_token_id"] == 2
    assert BertConfig.for_roberta(num_hidden_layers=2).num_hidden_layers == 2


def test_bad_roberta_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="position_ids_from_padding .* pre_layernorm .* cannot be combined"):
        BertConfig.for_roberta(pre_layernorm=True)
    with pytest.raises(ValueError, match="leaves no position for a token"):
        BertConfig(position_ids_from_padding=True, pad_token_id=1, max_position_embeddings=2)
    with pytest.raises(ValueError, match="implements model_type 'roberta', but the config is 'bert'"):
        RobertaForMaskedLM(BertConfig(**{k: v for k, v in CONFIGS["base-like"].items()}))
    cfg = CONFIGS["pad3"]  # 20 position rows, first token at 4: at most 16 tokens
    model = RobertaModel(BertConfig.from_dict(cfg, position_ids_from_padding=True)).eval()
    with torch.no_grad():
        assert model(torch.full((1, 16), 5)).last_hidden_state.shape == (1, 16, cfg["hidden_size"])
        with pytest.raises(ValueError, match=r"sequence length 17, longer than max_position_embeddings=20 minus "
                                             r"RoBERTa's position offset pad_token_id \+ 1 = 4, i.e. 16 tokens"):
            model(torch.full((1, 17), 5))
        with pytest.raises(ValueError, match="longer than .* i.e. 16 tokens"):
            model(inputs_embeds=torch.zeros(1, 17, cfg["hidden_size"]))
