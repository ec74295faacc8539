"""Fine-tune a BERT on BBC News topics with bertbook's Trainer: one process, or data-parallel.

    python scripts/train_bbc.py --max-steps 200                       # one CPU or one GPU
    torchrun --standalone --nproc_per_node=2 scripts/train_bbc.py     # 2 processes (gloo on CPU)
    torchrun --standalone --nproc_per_node=8 scripts/train_bbc.py --batch-size 32 --amp bf16
    # several machines: torchrun --nnodes=2 --node_rank=0|1 --rdzv_endpoint=HOST:29500 ...

Under torchrun each process holds a full replica of the model, reads its own 1/N of every epoch
(``make_loader`` uses a DistributedSampler) and DistributedDataParallel averages the gradients
once per optimizer step, so ``--batch-size`` is *per process*: the global batch is N times it.
The backend is nccl on GPUs, gloo on CPUs (``bertbook.train.init_distributed``). Process 0 alone
evaluates and writes the JSON summary.

The summary (``--out``, JSON) holds the loss curve, the validation accuracy, tokens per second
summed over processes, the world size and the wall time, so runs with 1, 2, ... N processes can
be compared (chapter 14 reads it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, installed or not

import bertbook  # noqa: E402
from bertbook.corpora import load_bbc_news  # noqa: E402
from bertbook.data import DataCollatorWithPadding  # noqa: E402
from bertbook.loading import resolve_model_source  # noqa: E402
from bertbook.train import Trainer, TrainConfig, init_distributed, make_loader  # noqa: E402


def encode(split, tokenizer, max_length: int, limit: int | None) -> list[dict]:
    # The splits are ordered by class: a limit takes a seeded random subset, not the first rows.
    rows = split.shuffle(seed=0).select(range(min(limit, len(split)))) if limit else split
    enc = tokenizer(list(rows["text"]), truncation=True, max_length=max_length)
    return [{"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": label}
            for ids, mask, types, label in zip(enc["input_ids"], enc["attention_mask"],
                                               enc["token_type_ids"], rows["label"])]


@torch.no_grad()
def accuracy(model, loader, device) -> float:
    model.eval()
    right = total = 0
    for batch in loader:
        labels = batch.pop("labels").to(device)
        pred = model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1)  # (B,)
        right += int((pred == labels).sum())
        total += len(pred)
    return right / total


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-source", default="bundled-minilm")
    p.add_argument("--max-steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16, help="per process")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"])
    p.add_argument("--train-limit", type=int, default=None, help="N random training articles")
    p.add_argument("--eval-limit", type=int, default=None, help="N random validation articles")
    p.add_argument("--padding-free", action="store_true", help="the encoder on real tokens only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON summary (written by process 0)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    info = init_distributed()  # a no-op without torchrun
    data = load_bbc_news(seed=args.seed)
    tokenizer = bertbook.BertTokenizer.from_pretrained(resolve_model_source(args.model_source))
    train = encode(data["train"], tokenizer, args.max_length, args.train_limit)
    val = encode(data["validation"], tokenizer, args.max_length, args.eval_limit)
    collate = DataCollatorWithPadding(tokenizer)
    model = bertbook.BertForSequenceClassification.from_pretrained(
        args.model_source, num_labels=len(data["train"].features["label"].names))
    if args.padding_free:
        bertbook.padding_free(model)
    config = TrainConfig(lr=args.lr, max_steps=args.max_steps, warmup_ratio=0.1, amp=args.amp,
                         seed=args.seed, log_every=max(1, args.max_steps // 20))
    trainer = Trainer(model, config, make_loader(train, args.batch_size, seed=args.seed,
                                                 collate_fn=collate))
    start = time.perf_counter()
    history = trainer.train()
    seconds = time.perf_counter() - start
    summary = None
    if info.is_main:
        val_loader = make_loader(val, 64, shuffle=False, collate_fn=collate, distributed=False)
        summary = {"world_size": info.world_size, "per_process_batch": args.batch_size,
                   "global_batch": args.batch_size * info.world_size,
                   "max_steps": args.max_steps, "seconds": seconds,
                   "val_accuracy": accuracy(trainer.model, val_loader, trainer.device),
                   "device": str(trainer.device), "history": history.to_dict()}
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary, indent=1))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return summary


if __name__ == "__main__":
    main()
