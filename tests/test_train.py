"""bertbook.train: the training loop learns, accumulates, evaluates, checkpoints atomically, resumes
bit for bit and averages gradients correctly under torchrun. Tiny models (hidden 32, 2 layers, vocab
100) on CPU; the whole file runs in well under a minute."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from bertbook import BertConfig, BertForMaskedLM, BertForSequenceClassification
from bertbook.train import (
    History,
    Trainer,
    TrainConfig,
    atomic_write,
    get_linear_schedule_with_warmup,
    linear_warmup_decay,
    make_loader,
    param_groups,
    resolve_checkpoint,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=32,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def cls_model(dropout: float = 0.0, seed: int = 0, **overrides) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        **{**TINY, **overrides},
        num_labels=3,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return BertForSequenceClassification(config)


def examples(n: int = 8, seq_len: int = 12, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 5 + i % 7
        mask = (torch.arange(seq_len) < length).long()
        ids = torch.randint(1, TINY["vocab_size"], (seq_len,), generator=g) * mask
        out.append({"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(i % 3)})
    return out


def config(**kw) -> TrainConfig:
    base = dict(
        lr=1e-3, max_steps=4, amp="off", device="cpu", log_every=1, seed=0, disable_progress=True
    )
    return TrainConfig(**{**base, **kw})


def params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ----------------------------------------------------------------------------- learning


def test_overfits_one_fixed_batch():
    model = cls_model()
    loader = DataLoader(
        examples(8), batch_size=8, shuffle=False
    )  # one batch per epoch: always the same
    history = Trainer(model, config(lr=5e-3, max_steps=40), loader).train()
    assert len(history.loss) == 40 and history.step == list(range(1, 41))
    assert history.loss[-1] < 0.2 * history.loss[0], (history.loss[0], history.loss[-1])
    assert all(t > 0 for t in history.tokens_per_s)
    assert model.training  # left in train mode


def test_gradient_accumulation_equals_one_big_batch():
    data = examples(8)
    big, small = cls_model(), cls_model()
    Trainer(big, config(max_steps=1), DataLoader(data, batch_size=8)).train()
    h = Trainer(
        small, config(max_steps=1, grad_accum_steps=2), DataLoader(data, batch_size=4)
    ).train()
    assert len(h.loss) == 1
    for (name, p), q in zip(big.named_parameters(), small.parameters()):
        # p.grad is still the step's gradient (zeroed at the start of a step, not the end).
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-5, msg=name)
        torch.testing.assert_close(q, p, atol=1e-6, rtol=0, msg=name)
    # The logged loss of the accumulated step is the mean over both halves = the big batch's loss.
    with torch.no_grad():
        ref = cls_model()(**default_collate(data)).loss.item()
    assert h.loss[0] == pytest.approx(ref, rel=1e-5)


def test_gradient_clipping_and_logged_norm():
    data = DataLoader(examples(8), batch_size=8)
    free, clipped = cls_model(), cls_model()
    h_free = Trainer(free, config(max_steps=1, max_grad_norm=None), data).train()
    h_clip = Trainer(clipped, config(max_steps=1, max_grad_norm=1e-3), data).train()
    norm = lambda m: torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in m.parameters()])
    ).item()
    assert h_free.grad_norm[0] == pytest.approx(
        norm(free), rel=1e-5
    )  # logged: the norm before clipping
    assert (
        h_clip.grad_norm[0] == pytest.approx(h_free.grad_norm[0], rel=1e-5)
        and h_free.grad_norm[0] > 1e-2
    )
    assert norm(clipped) == pytest.approx(1e-3, rel=1e-3)  # what the optimizer used


def test_accumulation_is_not_a_no_op():
    # Guard for the test above: a single half-batch gives different gradients.
    data = examples(8)
    big, half = cls_model(), cls_model()
    Trainer(big, config(max_steps=1), DataLoader(data, batch_size=8)).train()
    Trainer(half, config(max_steps=1), DataLoader(data, batch_size=4)).train()
    assert not torch.allclose(big.classifier.weight.grad, half.classifier.weight.grad, atol=1e-4)


def test_linear_schedule_with_warmup():
    assert [linear_warmup_decay(s, 2, 6) for s in range(7)] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = get_linear_schedule_with_warmup(opt, 2, 6)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.0, 0.05, 0.1, 0.075, 0.05, 0.025])
    # The trainer records the lr each logged step ran with.
    h = Trainer(
        cls_model(),
        config(lr=0.1, max_steps=6, warmup_steps=2),
        DataLoader(examples(8), batch_size=4),
    ).train()
    assert h.lr == pytest.approx(lrs)
    h = Trainer(
        cls_model(),
        config(lr=0.1, max_steps=6, warmup_ratio=0.5),
        DataLoader(examples(8), batch_size=4),
    ).train()
    assert h.lr == pytest.approx([0.0, 1 / 30, 2 / 30, 0.1, 2 / 30, 1 / 30])  # 3 warm-up steps of 6


def test_weight_decay_skips_biases_and_layernorm():
    model = cls_model()
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    decay_names = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert "bert.embeddings.LayerNorm.weight" in no_decay_names
    assert "bert.encoder.layer.0.attention.self.query.bias" in no_decay_names
    assert all(n.endswith("bias") or "LayerNorm" in n for n in no_decay_names)
    assert "bert.embeddings.word_embeddings.weight" in decay_names
    assert all(not n.endswith("bias") and "LayerNorm" not in n for n in decay_names)
    assert len(decay_names) + len(no_decay_names) == len(list(model.parameters()))


def test_sparse_prediction_forward_kwarg_gives_the_dense_loss():
    g = torch.Generator().manual_seed(0)
    data = []
    for ex in examples(8):
        labels = torch.full_like(ex["input_ids"], -100)
        pick = (torch.rand(ex["input_ids"].shape, generator=g) < 0.3) & ex["attention_mask"].bool()
        pick[0] = True
        labels[pick] = ex["input_ids"][pick]
        data.append(
            {"input_ids": ex["input_ids"], "attention_mask": ex["attention_mask"], "labels": labels}
        )
    losses = []
    for kwargs in ({}, {"sparse_prediction": True}):
        torch.manual_seed(0)
        model = BertForMaskedLM(
            BertConfig(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        )
        losses.append(
            Trainer(
                model, config(max_steps=3), DataLoader(data, batch_size=4), forward_kwargs=kwargs
            )
            .train()
            .loss
        )
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_grad_scaler_bookkeeping_on_cpu():
    # The fp16 path's logic, run on CPU in fp32 with a CPU GradScaler forced on. Scaling by a power
    # of two and unscaling are exact, so the parameters must equal an unscaled run's.
    data = examples(8)
    ref, scaled = cls_model(), cls_model()
    Trainer(ref, config(max_steps=2), DataLoader(data, batch_size=4)).train()
    trainer = Trainer(scaled, config(max_steps=2), DataLoader(data, batch_size=4))
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    trainer.train()
    for p, q in zip(ref.parameters(), scaled.parameters()):
        torch.testing.assert_close(q, p, atol=0, rtol=1e-6)

    # An overflowing step is skipped: no parameter moves, the schedule does not advance, the scale
    # halves.
    model = cls_model()
    before = params(model)
    trainer = Trainer(model, config(max_steps=3, warmup_steps=2), DataLoader(data, batch_size=4))
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    hook = model.classifier.weight.register_hook(lambda g: g * float("inf"))
    trainer.train(steps=1)
    hook.remove()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert trainer.scaler.get_scale() == 2.0**9
    h = trainer.train()
    assert h.lr == pytest.approx(
        [0.0, 0.0, 0.5e-3]
    )  # the skipped step left the schedule at its start
    assert not torch.equal(model.classifier.weight, before["classifier.weight"])


def test_bf16_autocast_on_cpu_trains():
    model = cls_model()
    trainer = Trainer(model, config(amp="bf16", max_steps=3), DataLoader(examples(8), batch_size=4))
    assert trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
    h = trainer.train()
    assert (
        len(h.loss) == 3
        and all(np.isfinite(h.loss))
        and model.classifier.weight.dtype == torch.float32
    )


# ----------------------------------------------------------------------------- evaluation


def test_evaluation_loss_metrics_and_mode():
    train_data, eval_data = examples(8), examples(10, seed=2)
    modes = []

    def accuracy(model, batch, outputs):
        modes.append(model.training)
        correct = (outputs.logits.argmax(-1) == batch["labels"]).sum()
        return {"accuracy": (correct, len(batch["labels"])), "batch_mean_const": 2.0}

    model = cls_model(dropout=0.1)
    trainer = Trainer(
        model,
        config(max_steps=5, eval_every=2),
        DataLoader(train_data, batch_size=4),
        eval_loader=DataLoader(eval_data, batch_size=4),
        metric_fn=accuracy,
        eval_fn=lambda m: {"custom": 7},
    )
    h = trainer.train()
    assert h.eval_step == [2, 4, 5]  # every 2 steps, and once at the end
    assert set(h.eval_metrics) == {"loss", "accuracy", "batch_mean_const", "custom"}
    assert modes and not any(modes) and model.training  # eval mode inside, train mode after
    assert h.eval_metrics["custom"] == [7.0] * 3 and h.eval_metrics["batch_mean_const"] == [2.0] * 3
    # Mean loss over the 10 examples in batches 4, 4, 2, weighted by examples; exact accuracy.
    model.eval()
    with torch.no_grad():
        out = model(**default_collate(eval_data))
    assert h.eval_metrics["loss"][-1] == pytest.approx(out.loss.item(), rel=1e-5)
    acc = (out.logits.argmax(-1) == default_collate(eval_data)["labels"]).float().mean().item()
    assert h.eval_metrics["accuracy"][-1] == pytest.approx(acc)


def test_evaluation_does_not_change_the_training_run():
    # Dropout on: if evaluating consumed training randomness, the parameters would differ.
    data = examples(8)
    a, b = cls_model(dropout=0.2), cls_model(dropout=0.2)
    Trainer(a, config(max_steps=4), make_loader(data, 4, seed=0)).train()
    Trainer(
        b,
        config(max_steps=4, eval_every=1),
        make_loader(data, 4, seed=0),
        eval_loader=make_loader(data, 4, shuffle=False),
    ).train()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_epochs_mode_and_history_roundtrip():
    trainer = Trainer(
        cls_model(),
        config(max_steps=None, epochs=2, grad_accum_steps=2, log_every=2),
        DataLoader(examples(10), batch_size=2),
    )  # 5 batches x 2 epochs / 2 = 5 steps
    h = trainer.train()
    assert trainer.total_steps == 5 and trainer.step == 5 and h.step == [2, 4, 5]
    assert History.from_dict(h.to_dict()) == h


def test_progress_bar_shows_loss_and_can_be_disabled(capsys):
    loader = DataLoader(examples(8), batch_size=4)
    Trainer(cls_model(), config(max_steps=2, disable_progress=False), loader).train()
    err = capsys.readouterr().err
    assert "train" in err and "loss=" in err and "tok_s=" in err
    Trainer(cls_model(), config(max_steps=2, disable_progress=True), loader).train()
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- checkpoints


class NoisyCollate:
    """A collate with its own torch generator (like DataCollatorForMLM) that also draws from NumPy's
    and Python's global RNGs: a resume must restore all three to reproduce the batches."""

    def __init__(self):
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, items):
        batch = default_collate(items)
        ids = batch["input_ids"]
        drop = torch.rand(ids.shape, generator=self.generator) < 0.1
        ids = ids.masked_fill(drop & (batch["attention_mask"] == 1), int(np.random.randint(1, 100)))
        ids[:, 0] = random.randrange(1, 100)
        batch["input_ids"] = ids
        return batch


def resume_setup(tmp_path, seed_model=0, **kw):
    model = cls_model(dropout=0.1, seed=seed_model)
    loader = make_loader(
        examples(20), batch_size=4, shuffle=True, seed=3, collate_fn=NoisyCollate()
    )  # 5 batches/epoch
    cfg = config(
        max_steps=6, grad_accum_steps=2, warmup_steps=2, checkpoint_dir=str(tmp_path), **kw
    )
    return model, Trainer(model, cfg, loader)


def test_resume_is_bit_for_bit(tmp_path):
    # Straight: 6 steps = 12 micro-batches = 2.4 epochs of a seeded, shuffling sampler, dropout on.
    straight_model, straight = resume_setup(tmp_path / "straight")
    h_straight = straight.train()

    # Interrupted: 3 steps (checkpoint lands mid-epoch 1, after its first batch), then a fresh model
    # (other init), loader, trainer and disturbed global RNGs; resume and finish.
    _, first = resume_setup(tmp_path / "split", checkpoint_every=3)
    first.train(steps=3)
    assert (tmp_path / "split" / "latest").read_text().strip() == "step-3"
    torch.manual_seed(1234), np.random.seed(1234), random.seed(1234)
    resumed_model, resumed = resume_setup(tmp_path / "split", seed_model=99, checkpoint_every=3)
    assert resumed.resume("latest") == 3
    assert (resumed.epoch, resumed.batch_in_epoch) == (1, 1)
    h_resumed = resumed.train()

    for (name, p), q in zip(straight_model.named_parameters(), resumed_model.parameters()):
        assert torch.equal(p, q), name
    assert h_resumed.step == h_straight.step == [1, 2, 3, 4, 5, 6]
    assert h_resumed.loss == h_straight.loss  # exact floats, including the 3 steps after the resume
    assert h_resumed.lr == h_straight.lr


def test_resume_without_rng_state_would_differ(tmp_path):
    # Guard for the test above: dropout makes the run depend on the restored RNG.
    straight_model, straight = resume_setup(tmp_path / "a")
    straight.train()
    _, first = resume_setup(tmp_path / "b")
    first.train(steps=3)
    model, trainer = resume_setup(tmp_path / "b")
    trainer.resume()
    trainer._pending_rng = None  # forget the RNG state
    trainer.train()
    assert not all(
        torch.equal(p, q) for p, q in zip(straight_model.parameters(), model.parameters())
    )


def test_checkpoint_contents_and_keep_last(tmp_path):
    model, trainer = resume_setup(tmp_path, checkpoint_every=1, keep_last=2)
    trainer.train(steps=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step-3", "step-4"]
    ckpt = resolve_checkpoint(tmp_path)
    assert ckpt.name == "step-4"
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "config.json",
        "model.pt",
        "trainer_state.json",
        "training_state.pt",
    ]
    state = torch.load(ckpt / "model.pt", weights_only=True)
    for name, p in model.state_dict().items():
        assert torch.equal(state[name], p)
    assert BertConfig.from_pretrained(ckpt / "config.json").to_dict() == model.config.to_dict()


def test_crash_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, trainer = resume_setup(tmp_path)
    trainer.train(steps=2)  # writes step-2 when train() returns
    saved = params(model)
    trainer.train(steps=1)  # step 3 in memory; step-3 on disk too
    (tmp_path / "latest").write_text("step-2\n")  # pretend step-3 never happened...
    import shutil

    shutil.rmtree(tmp_path / "step-3")
    calls = []

    def broken_save(obj, f, *args, **kwargs):
        calls.append(1)
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04 half a tensor file")  # part of the data reaches the disk
        raise OSError("No space left on device (simulated)")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()  # ...and crash while writing it
    with pytest.raises(OSError, match="simulated"):
        trainer.step = 2
        # Re-saving an existing step crashes too: the old one must survive.
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest",
        "step-2",
    ]  # no temp or partial folder
    assert (tmp_path / "latest").read_text().strip() == "step-2"
    fresh_model, fresh = resume_setup(tmp_path, seed_model=5)
    assert fresh.resume() == 2
    for name, p in fresh_model.named_parameters():
        assert torch.equal(p, saved[name]), name


def test_atomic_write_of_a_file_keeps_the_old_one_when_writing_fails(tmp_path):
    path = tmp_path / "record.json"
    atomic_write(path, lambda tmp: tmp.write_text("old"))

    def broken(tmp):
        tmp.write_text("half a rec")  # part of the data reaches the disk
        raise OSError("No space left on device (simulated)")

    with pytest.raises(OSError, match="simulated"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["record.json"]
    assert atomic_write(path, lambda tmp: tmp.write_text("new")) == path
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["record.json"]


class Stream(torch.utils.data.IterableDataset):
    """A stream without a length: a resume loads and drops the batches already seen."""

    def __iter__(self):
        return iter(examples(10))


def test_resume_of_an_iterable_loader(tmp_path):
    runs = []
    for split in (False, True):
        model = cls_model(dropout=0.1)
        make = lambda m: Trainer(
            m,
            config(max_steps=4, checkpoint_dir=str(tmp_path / str(split))),
            DataLoader(Stream(), batch_size=4),
        )  # 3 batches (4, 4, 2) per pass
        trainer = make(model)
        if split:
            trainer.train(steps=2)
            model = cls_model(dropout=0.1, seed=7)
            trainer = make(model)
            trainer.resume()
            assert (trainer.epoch, trainer.batch_in_epoch, trainer.batches_per_epoch) == (
                0,
                2,
                None,
            )
        losses = trainer.train().loss
        runs.append((params(model), losses))
    assert runs[0][1] == runs[1][1]
    for name, p in runs[0][0].items():
        assert torch.equal(p, runs[1][0][name]), name


# ----------------------------------------------------------------------------- bad input


def test_dataset_smaller_than_batch_size():
    with pytest.raises(ValueError, match=r"3 examples .*batch_size=8 with drop_last=True"):
        make_loader(examples(3), batch_size=8, drop_last=True)
    with pytest.raises(
        ValueError, match=r"0 batches: the dataset has 3 examples, batch_size=8, drop_last=True"
    ):
        Trainer(cls_model(), config(), DataLoader(examples(3), batch_size=8, drop_last=True))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        make_loader(examples(3), batch_size=0)
    loader = make_loader(examples(3), batch_size=8)  # without drop_last: one short batch is fine
    assert len(loader) == 1


def test_resume_with_a_different_model_config(tmp_path):
    _, trainer = resume_setup(tmp_path)
    trainer.train(steps=1)
    other = Trainer(
        cls_model(dropout=0.1, intermediate_size=48),
        config(max_steps=6, grad_accum_steps=2, checkpoint_dir=str(tmp_path)),
        make_loader(examples(20), batch_size=4, seed=3),
    )
    with pytest.raises(
        ValueError,
        match=r"different model config; differing fields: "
        r"intermediate_size \(checkpoint 64, model 48\)",
    ):
        other.resume()
    other = Trainer(
        cls_model(dropout=0.1),
        config(max_steps=6, checkpoint_dir=str(tmp_path)),
        make_loader(examples(20), batch_size=5, seed=3),
    )
    with pytest.raises(ValueError, match="5 batches per epoch, this train_loader has 4"):
        other.resume()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        other.resume(tmp_path / "nowhere")


def test_resume_warns_about_an_unseeded_shuffle(tmp_path):
    loader = lambda: DataLoader(
        examples(12), batch_size=4, shuffle=True
    )  # RandomSampler: order not f(epoch)
    Trainer(cls_model(), config(max_steps=1, checkpoint_dir=str(tmp_path)), loader()).train()
    with pytest.warns(UserWarning, match="RandomSampler.*make_loader"):
        Trainer(cls_model(), config(max_steps=2, checkpoint_dir=str(tmp_path)), loader()).resume()


def test_distributed_helpers_without_torchrun(monkeypatch):
    from bertbook.train import DistInfo, init_distributed

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert init_distributed() == DistInfo(
        rank=0, world_size=1, local_rank=0
    )  # no torchrun: a no-op
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="RANK='one'; launch with torchrun"):
        init_distributed()
    with pytest.raises(ValueError, match="needs torch.distributed initialised"):
        make_loader(examples(8), 4, distributed=True)
    # Not distributed: one seeded sampler; the epoch's order is a function of (seed, epoch) only.
    loader = make_loader(list(range(10)), 5, seed=3)
    orders = []
    for epoch in (0, 1, 0):
        loader.sampler.set_epoch(epoch)
        orders.append(torch.cat(list(loader)).tolist())
    assert orders[0] == orders[2] != orders[1] and sorted(orders[0]) == list(range(10))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(lr=0.0), r"TrainConfig.lr must be a finite number > 0, got 0.0"),
        (dict(lr=-1e-3), r"TrainConfig.lr must be a finite number > 0, got -0.001"),
        (dict(lr=float("nan")), "TrainConfig.lr must be a finite number"),
        (dict(grad_accum_steps=0), "TrainConfig.grad_accum_steps must be an integer >= 1, got 0"),
        (dict(grad_accum_steps=1.5), "TrainConfig.grad_accum_steps must be an integer >= 1"),
        (dict(amp="fp32"), r"TrainConfig.amp must be one of \('auto', 'off', 'bf16', 'fp16'\)"),
        (dict(max_steps=None), "exactly one of max_steps or epochs"),
        (dict(epochs=2), "exactly one of max_steps or epochs"),
        (dict(warmup_steps=2, warmup_ratio=0.1), "warmup_steps .* or warmup_ratio"),
        (dict(warmup_ratio=1.5), r"warmup_ratio must be a number in \[0, 1\], got 1.5"),
        (dict(betas=(0.9, 1.0)), r"betas must be a pair in \[0, 1\), got \(0.9, 1.0\)"),
        (dict(max_grad_norm=0), "max_grad_norm must be None or a finite number > 0, got 0"),
        (dict(device=0), "TrainConfig.device must be a string"),
        (dict(checkpoint_every=5), "checkpoint_every needs checkpoint_dir"),
        (dict(log_every=0), "log_every must be an integer >= 1"),
    ],
)
def test_bad_train_config(kw, match):
    with pytest.raises(ValueError, match=match):
        config(**kw)


def test_bad_trainer_arguments():
    loader = DataLoader(examples(8), batch_size=4)
    with pytest.raises(ValueError, match="warmup_steps=10 is more than the 4 training steps"):
        Trainer(cls_model(), config(warmup_steps=10), loader)
    with pytest.raises(
        ValueError, match=r"epochs=1 x 2 batches / grad_accum_steps=4 gives 0 optimizer steps"
    ):
        Trainer(cls_model(), config(max_steps=None, epochs=1, grad_accum_steps=4), loader)
    with pytest.raises(
        TypeError,
        match="Trainer needs a torch.nn.Module and a TrainConfig, got "
        "BertForSequenceClassification and dict",
    ):
        Trainer(cls_model(), {"lr": 1e-3}, loader)
    with pytest.raises(ValueError, match="returned no loss: does the batch carry labels"):
        Trainer(
            cls_model(),
            config(),
            DataLoader(
                [{k: v for k, v in e.items() if k != "labels"} for e in examples(8)], batch_size=4
            ),
        ).train()
    with (
        pytest.raises(ValueError, match="device='cuda' was asked for")
        if not torch.cuda.is_available()
        else _nothing()
    ):
        Trainer(cls_model(), config(device="cuda"), loader)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fp16_on_cpu_falls_back_to_bf16_with_a_warning():
    with pytest.warns(UserWarning, match="amp='fp16' is a GPU type; using bf16 on the cpu"):
        trainer = Trainer(
            cls_model(), config(amp="fp16", max_steps=2), DataLoader(examples(8), batch_size=4)
        )
    assert trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
    assert len(trainer.train().loss) == 2


# ----------------------------------------------------------------------------- DDP under torchrun


def _load_ddp_check():
    spec = importlib.util.spec_from_file_location("ddp_check", ROOT / "scripts" / "ddp_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.ddp
@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)
def test_torchrun_two_processes_average_gradients_like_one_big_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(ROOT / "scripts" / "ddp_check.py"),
        "--out",
        str(tmp_path),
    ]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert result["world_size"] == 2
    assert result["max_param_diff_across_ranks"] == 0.0

    # One process, the whole batch of 8, one backward pass.
    check = _load_ddp_check()
    model = check.tiny_model()
    out = model(**default_collate(check.examples()))
    out.loss.backward()
    assert result["loss"] == pytest.approx([out.loss.item()], rel=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(result["grads"][name], p.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_bf16_on_a_gpu_without_bf16_falls_back_to_fp16_with_a_warning(monkeypatch):
    from bertbook.train import resolve_amp

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    with pytest.warns(UserWarning, match="Old GPU has no bf16"):
        dtype, scaler = resolve_amp("bf16", torch.device("cuda"))
    assert dtype == torch.float16 and scaler is True
