"""DDP through ``bertbook.train`` must give the gradients of one process on the whole batch.

Launched by ``tests/test_train.py`` (about 10-20 s on a CPU, gloo backend):

    python -m torch.distributed.run --nproc_per_node=2 --standalone scripts/ddp_check.py --out DIR

Each of the 2 processes reads half of a fixed batch of 8 examples (``make_loader`` with a
DistributedSampler), as 2 micro-batches of 2 with ``grad_accum_steps=2`` -- so the first
micro-batch runs inside ``no_sync()`` and gradients are averaged across processes only once.
One optimizer step. Process 0 writes ``DIR/ddp.pt``: the gradients left in ``p.grad`` (the
averaged ones), the logged loss (averaged across processes) and how far the two replicas'
parameters differ after the step (DDP keeps them identical). The test builds the same model with
``tiny_model()`` and ``examples()`` below and compares with one backward pass over all 8.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, installed or not

from bertbook import BertConfig, BertForSequenceClassification  # noqa: E402
from bertbook.train import Trainer, TrainConfig, init_distributed, make_loader  # noqa: E402

N_EXAMPLES, SEQ_LEN, VOCAB = 8, 12, 100


def tiny_model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=32,
                        num_labels=3, hidden_dropout_prob=0.0,  # no dropout: ranks comparable
                        attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config)


def examples() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(N_EXAMPLES):
        length = 6 + i % 6  # some padding, different per example
        mask = (torch.arange(SEQ_LEN) < length).long()
        ids = torch.randint(1, VOCAB, (SEQ_LEN,), generator=g) * mask
        out.append({"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(i % 3)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    info = init_distributed()  # gloo on CPU
    model = tiny_model()
    loader = make_loader(examples(), batch_size=2, shuffle=False)  # 2 micro-batches per process
    config = TrainConfig(lr=1e-3, max_steps=1, grad_accum_steps=2, max_grad_norm=None, log_every=1,
                         amp="off", device="cpu", disable_progress=True)
    trainer = Trainer(model, config, loader)
    history = trainer.train()

    # DDP keeps the replicas equal: compare every process's parameters with process 0's.
    flat = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
    reference = flat.clone()
    torch.distributed.broadcast(reference, src=0)
    diff = (flat - reference).abs().max()
    torch.distributed.all_reduce(diff, op=torch.distributed.ReduceOp.MAX)

    if info.is_main:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save({
            "world_size": info.world_size,
            "grads": {n: p.grad.clone() for n, p in trainer.model.named_parameters()},
            "loss": history.loss,
            "max_param_diff_across_ranks": float(diff),
        }, args.out / "ddp.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
