"""Pre-training through the Trainer: BertForPreTraining + DataCollatorForMLM + make_loader.

What tests/test_train.py (generic loop, resume with a toy collate, torchrun) and
tests/test_fast_paths.py (sparse == dense for the heads alone) already cover is not repeated here;
these tests add what is specific to pre-training: the MLM + NSP loss learns through the Trainer,
sparse and dense prediction give the same *training run*, a resume continues bit for bit with the
real random masking collator, and the bad-input errors of the pre-training pipeline. Tiny models on
CPU, one thread; the file runs in a few seconds.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bertbook import BertConfig, BertForPreTraining
from bertbook.data import IGNORE_INDEX, DataCollatorForMLM, mask_tokens
from bertbook.train import Trainer, TrainConfig, make_loader

PAD, CLS, SEP, MASK = 0, 1, 2, 3
TINY = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=32)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def pretraining_model(dropout: float = 0.1, seed: int = 0, **overrides) -> BertForPreTraining:
    torch.manual_seed(seed)
    config = BertConfig(**{**TINY, **overrides}, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForPreTraining(config)


def nsp_pairs(n: int = 24, seed: int = 0) -> list[dict]:
    """Unpadded ``[CLS] A [SEP] B [SEP]`` items as make_nsp_examples returns them (random ids, ragged)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = [rng.randrange(4, TINY["vocab_size"]) for _ in range(rng.randint(3, 10))]
        b = [rng.randrange(4, TINY["vocab_size"]) for _ in range(rng.randint(3, 10))]
        ids = [CLS] + a + [SEP] + b + [SEP]
        out.append({
            "input_ids": ids,
            "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
            "attention_mask": [1] * len(ids),
            "special_tokens_mask": [1] + [0] * len(a) + [1] + [0] * len(b) + [1],
            "next_sentence_label": i % 2,
        })
    return out


def collator(seed: int = 0, mlm_probability: float = 0.15) -> DataCollatorForMLM:
    return DataCollatorForMLM(pad_token_id=PAD, mask_token_id=MASK, vocab_size=TINY["vocab_size"],
                              special_token_ids=[PAD, CLS, SEP, MASK], mlm_probability=mlm_probability, seed=seed)


def config(**kw) -> TrainConfig:
    base = dict(lr=1e-3, max_steps=4, amp="off", device="cpu", log_every=1, seed=0, disable_progress=True)
    return TrainConfig(**{**base, **kw})


# ----------------------------------------------------------------------------- learning


def test_pretraining_overfits_a_fixed_masked_batch():
    # One batch, masked once (40% selected, so there is plenty to predict), seen again and again:
    # MLM + NSP must both be learnt through the Trainer path (forward kwargs, clipping, schedule).
    batch = collator(seed=0, mlm_probability=0.4)(nsp_pairs(8))
    assert int((batch["labels"] != IGNORE_INDEX).sum()) >= 20
    model = pretraining_model(dropout=0.0)
    history = Trainer(model, config(lr=1e-2, max_steps=60, log_every=10), [batch],
                      forward_kwargs={"sparse_prediction": True}).train()
    assert history.loss[0] > 3.0  # mean of the first 10 steps; ln(64) + ln(2) = 4.85 at the very start
    assert history.loss[-1] < 0.1 * history.loss[0], history.loss
    model.eval()
    with torch.no_grad():
        out = model(**batch, sparse_prediction=True)
    target = batch["labels"][batch["labels"] != IGNORE_INDEX]
    assert (out.prediction_logits.argmax(-1) == target).float().mean() >= 0.9
    assert torch.equal(out.seq_relationship_logits.argmax(-1), batch["next_sentence_label"])


def _run(sparse: bool, steps: int = 4):
    model = pretraining_model(dropout=0.1)
    loader = make_loader(nsp_pairs(24), batch_size=6, seed=1, collate_fn=collator(seed=5))
    trainer = Trainer(model, config(max_steps=steps, grad_accum_steps=2, warmup_steps=1), loader,
                      forward_kwargs={"sparse_prediction": sparse})
    return model, trainer.train()


def test_sparse_and_dense_prediction_give_the_same_training_run():
    # The heads-alone equality (loss, gradients) is in test_fast_paths.py; here the whole run:
    # random masks from the collator, dropout, accumulation, AdamW steps. Both runs draw the same
    # masks and dropout (sparse prediction draws no random number of its own), so the weights
    # stay equal up to float round-off.
    dense_model, dense = _run(sparse=False)
    sparse_model, sparse = _run(sparse=True)
    assert dense.step == sparse.step == [1, 2, 3, 4]
    np.testing.assert_allclose(sparse.loss, dense.loss, rtol=1e-5)
    np.testing.assert_allclose(sparse.grad_norm, dense.grad_norm, rtol=1e-4)
    for (name, p), q in zip(dense_model.named_parameters(), sparse_model.parameters()):
        torch.testing.assert_close(q, p, atol=2e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")
    # Guard: the comparison can fail. Another masking seed gives another run.
    other = Trainer(pretraining_model(dropout=0.1), config(max_steps=4, grad_accum_steps=2, warmup_steps=1),
                    make_loader(nsp_pairs(24), batch_size=6, seed=1, collate_fn=collator(seed=6)),
                    forward_kwargs={"sparse_prediction": True}).train()
    assert not np.allclose(other.loss, dense.loss, rtol=1e-3)


# ----------------------------------------------------------------------------- resume


def _resume_setup(tmp_path, seed_model=0, **kw):
    model = pretraining_model(dropout=0.1, seed=seed_model)
    loader = make_loader(nsp_pairs(20), batch_size=4, seed=3, collate_fn=collator(seed=7))  # 5 batches per epoch
    cfg = config(max_steps=6, grad_accum_steps=2, warmup_steps=2, checkpoint_dir=str(tmp_path), **kw)
    return model, Trainer(model, cfg, loader, forward_kwargs={"sparse_prediction": True})


def test_pretraining_resume_continues_bit_for_bit(tmp_path):
    # DataCollatorForMLM draws its masks from its own torch.Generator: the checkpoint must carry
    # that generator's state, or the resumed run would mask other tokens from the next batch on.
    straight_model, straight = _resume_setup(tmp_path / "straight")
    h_straight = straight.train()

    _, first = _resume_setup(tmp_path / "split", checkpoint_every=3)
    first.train(steps=3)  # 6 micro-batches: the checkpoint falls after the first batch of epoch 1
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    resumed_model, resumed = _resume_setup(tmp_path / "split", seed_model=1, checkpoint_every=3)
    resumed.train_loader.collate_fn.generator.manual_seed(12345)  # a fresh collator in another state
    assert resumed.resume("latest") == 3
    h_resumed = resumed.train()

    assert h_resumed.loss == h_straight.loss  # exact floats, the 3 steps after the resume included
    for (name, p), q in zip(straight_model.named_parameters(), resumed_model.parameters()):
        assert torch.equal(p, q), name


def test_pretraining_resume_needs_the_collator_generator(tmp_path):
    # Guard for the test above: forget the collator's state after resuming and the run differs.
    straight_model, straight = _resume_setup(tmp_path / "a")
    straight.train()
    _, first = _resume_setup(tmp_path / "b", checkpoint_every=3)
    first.train(steps=3)
    model, trainer = _resume_setup(tmp_path / "b", checkpoint_every=3)
    trainer.resume("latest")
    trainer.train_loader.collate_fn.generator.manual_seed(12345)
    trainer.train()
    assert not all(torch.equal(p, q) for p, q in zip(straight_model.parameters(), model.parameters()))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("p", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), float("inf"), np.float32(1.5)])
def test_mlm_collator_rejects_a_probability_outside_the_open_interval(p):
    with pytest.raises(ValueError, match=r"mlm_probability must be in the open interval \(0, 1\)"):
        collator(mlm_probability=p)


@pytest.mark.parametrize("p", ["0.15", None, [0.15], True])
def test_mlm_collator_rejects_a_probability_that_is_not_a_number(p):
    with pytest.raises(TypeError, match=r"mlm_probability must be a number in \(0, 1\)"):
        collator(mlm_probability=p)
    batch = collator()(nsp_pairs(2))
    with pytest.raises(TypeError, match=r"mlm_probability must be a number in \(0, 1\)"):
        mask_tokens(batch["input_ids"], batch["input_ids"] < 4, mask_token_id=MASK, vocab_size=64, mlm_probability=p)


def test_a_corpus_too_small_for_one_batch():
    pairs = nsp_pairs(5)
    with pytest.raises(ValueError, match=r"the dataset has 5 examples .*fewer than batch_size=8 with drop_last=True"):
        make_loader(pairs, batch_size=8, collate_fn=collator(), drop_last=True)
    with pytest.raises(ValueError, match=r"the dataset has 0 examples"):
        make_loader([], batch_size=8, collate_fn=collator())
    loader = torch.utils.data.DataLoader(pairs, batch_size=8, drop_last=True, collate_fn=collator())
    with pytest.raises(ValueError, match=r"train_loader yields 0 batches: the dataset has 5 examples, batch_size=8"):
        Trainer(pretraining_model(), config(), loader)


def test_resume_into_another_pretraining_config_names_every_differing_field(tmp_path):
    _, trainer = _resume_setup(tmp_path)
    trainer.train(steps=1)
    other = Trainer(pretraining_model(hidden_size=48, num_hidden_layers=3), config(max_steps=6, checkpoint_dir=str(tmp_path)),
                    make_loader(nsp_pairs(20), batch_size=4, seed=3, collate_fn=collator(seed=7)))
    with pytest.raises(ValueError, match=r"different model config; differing fields: hidden_size \(checkpoint 32, model 48\), "
                                         r"num_hidden_layers \(checkpoint 2, model 3\)$"):
        other.resume()
    # The same config with other dropout is another config too: the check is on every field.
    other = Trainer(pretraining_model(dropout=0.0), config(max_steps=6, checkpoint_dir=str(tmp_path)),
                    make_loader(nsp_pairs(20), batch_size=4, seed=3, collate_fn=collator(seed=7)))
    with pytest.raises(ValueError, match=r"attention_probs_dropout_prob \(checkpoint 0.1, model 0.0\), "
                                         r"hidden_dropout_prob \(checkpoint 0.1, model 0.0\)"):
        other.resume()
