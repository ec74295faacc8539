"""Speed of bertbook's models against transformers', in one process, on the same weights and inputs.

    python -m benchmarks.bench_models                 # all cases, CPU (or CUDA when present)
    python -m benchmarks.bench_models --quick         # fewer repeats (what the performance chapter runs live)
    python -m benchmarks.bench_models --device cuda --dtype bf16 --cases encoder_fixed,encoder_ragged

Each case builds both models from one state dict, warms both up, then alternates ours / theirs for
``--repeats`` rounds and reports the median time of each and the ratio theirs / ours (> 1 means
ours is faster). Results go to ``benchmarks/results/models-<device>.json`` for the chapter to read.

Cases
  encoder_fixed    MiniLM encoder forward, batch 32 x 128, no padding (inference)
  encoder_ragged   MiniLM encoder forward on batches of 32 real BBC sentences: transformers pads to
                   the batch maximum; ours runs padding-free (``bertbook.padding_free``)
  train_seqcls     one training step (forward, backward, AdamW) of sequence classification on
                   MiniLM, batch 16 x 128; also the peak memory of a step for each (CUDA: allocator
                   peak; Linux CPU: peak RSS above the RSS before the step, each in a fresh process)
  pretrain_mini    one BertForPreTraining step on a mini config (4 layers, hidden 256) with 15%
                   masked tokens: ours uses sparse MLM prediction and padding-free execution
  qa_inference     BertForQuestionAnswering on MiniLM, 384-token windows, batch 8: questions/s
  encoder_compiled encoder_fixed with our layers compiled (``bertbook.fast.compile_layers``, Inductor);
                   compiling happens in the warm-up and is reported separately (compile_s)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

import bertbook
from bertbook.benchmarking import compare
from bertbook.loading import load_weights_into
from bertbook.notebook import pick_device

RESULTS = Path(__file__).parent / "results"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MINI = dict(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
            max_position_embeddings=512)


def twins(name: str, config_kwargs: dict | None, device, dtype, folder=None, num_labels=None,
          padding_free=False):
    """transformers' model and ours with identical weights (from the MiniLM folder, or random from a config).

    ``num_labels`` sizes both heads; ``padding_free`` applies ``bertbook.padding_free`` to ours only.
    """
    import transformers

    hf_cls = getattr(transformers, name)
    if folder is not None:
        labels = {} if num_labels is None else {"num_labels": num_labels}
        hf = hf_cls.from_pretrained(str(folder), attn_implementation="sdpa", **labels)
        cfg = bertbook.BertConfig.from_pretrained(folder, **labels)
    else:
        torch.manual_seed(0)
        hf = hf_cls(transformers.BertConfig(**config_kwargs, attn_implementation="sdpa"))
        cfg = bertbook.BertConfig(**config_kwargs)
    ours = getattr(bertbook, name)(cfg)
    if padding_free:
        bertbook.padding_free(ours)
    load_weights_into(ours, hf.state_dict())
    return ours.to(device, dtype), hf.to(device, dtype)


def bbc_sentence_batches(n_batches: int, batch_size: int, seed: int = 0):
    """Real ragged batches: tokenised BBC sentences, padded to each batch's longest."""
    import random

    from bertbook.corpora import read_bbc_articles, split_sentences
    from bertbook.tokenization import BertTokenizer

    tok = BertTokenizer.from_pretrained(bertbook.minilm_path())
    rng = random.Random(seed)
    articles = read_bbc_articles()
    sentences = [s for a in rng.sample(articles, 200) for s in split_sentences(a.body)]
    rng.shuffle(sentences)
    batches = []
    for i in range(n_batches):
        chunk = sentences[i * batch_size:(i + 1) * batch_size]
        enc = tok(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
        batches.append({k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
    return batches


def case_encoder_fixed(device, dtype, repeats):
    ours, hf = twins("BertModel", None, device, dtype, folder=bertbook.minilm_path())
    ours.eval(), hf.eval()
    ids = torch.randint(1000, 30000, (32, 128), device=device)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        r = compare(lambda: ours(ids, mask), lambda: hf(ids, attention_mask=mask), device, repeats)
    r["tokens_per_batch"] = ids.numel()
    return r


def case_encoder_ragged(device, dtype, repeats):
    ours, hf = twins("BertModel", None, device, dtype, folder=bertbook.minilm_path(), padding_free=True)
    ours.eval(), hf.eval()
    batches = [{k: v.to(device) for k, v in b.items()} for b in bbc_sentence_batches(4, 32)]

    def run(model):
        for b in batches:
            model(**b)

    with torch.inference_mode():
        r = compare(lambda: run(ours), lambda: run(hf), device, repeats)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    r.update(real_tokens=real, padded_tokens=padded, padding_fraction=1 - real / padded)
    return r


def _train_step(model, opt, batch):
    opt.zero_grad(set_to_none=True)
    model(**batch).loss.backward()
    opt.step()


def _seqcls_setup(device, dtype):
    ours, hf = twins("BertForSequenceClassification", None, device, dtype, folder=bertbook.minilm_path(), num_labels=5)
    ours.train(), hf.train()
    g = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(1000, 30000, (16, 128), generator=g).to(device),
             "attention_mask": torch.ones(16, 128, dtype=torch.long, device=device),
             "labels": torch.randint(0, 5, (16,), generator=g).to(device)}
    return ours, hf, batch


def case_train_seqcls(device, dtype, repeats):
    ours, hf, batch = _seqcls_setup(device, dtype)
    opt_o = torch.optim.AdamW(ours.parameters(), lr=1e-5)
    opt_t = torch.optim.AdamW(hf.parameters(), lr=1e-5)
    r = compare(lambda: _train_step(ours, opt_o, batch), lambda: _train_step(hf, opt_t, batch), device, repeats)
    if device.type == "cuda":
        for key, model, opt in (("ours_peak_bytes", ours, opt_o), ("transformers_peak_bytes", hf, opt_t)):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            _train_step(model, opt, batch)
            r[key] = torch.cuda.max_memory_allocated(device)
    elif Path("/proc/self/clear_refs").exists():
        # CPU: each model in a fresh process (the allocator keeps what a previous run freed).
        for key, which in (("ours_peak_bytes", "ours"), ("transformers_peak_bytes", "transformers")):
            r[key] = min(_step_peak_in_child(which, dtype) for _ in range(2))
        r["peak_bytes_measure"] = "peak RSS of a training step above the RSS before it (Linux VmHWM)"
    return r


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def step_peak_bytes(which: str, dtype) -> int:
    """CPU memory a training step needs beyond what is resident before it: the model, its
    gradients and AdamW state already exist (one warm-up step), so this is the activations
    and temporaries of forward + backward + update."""
    import gc

    ours, hf, batch = _seqcls_setup(torch.device("cpu"), dtype)
    model = ours if which == "ours" else hf
    del ours, hf  # only `model` stays resident
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    _train_step(model, opt, batch)  # gradients and optimizer state now exist
    gc.collect()
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak-RSS mark (VmHWM) to now
    _train_step(model, opt, batch)
    return (_rss_kib("VmHWM") - before) * 1024


def _step_peak_in_child(which: str, dtype) -> int:
    import subprocess
    import sys

    name = next(key for key, value in DTYPES.items() if value == dtype)
    # glibc keeps freed blocks below its (adaptive) mmap threshold and reuses them, so the RSS
    # peak depended on allocation history (+-25% between identical runs). With every block over
    # 64 KiB mmap'ed and returned on free, RSS follows the live tensors (runs agree to 0.1%).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_models", "--memory-child", which, "--dtype", name],
                         capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    return int(out.stdout.strip().splitlines()[-1])


def case_pretrain_mini(device, dtype, repeats):
    ours, hf = twins("BertForPreTraining", MINI, device, dtype, padding_free=True)
    ours.train(), hf.train()
    g = torch.Generator().manual_seed(0)
    B, T = 32, 128
    ids = torch.randint(1000, 30000, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    labels = torch.where((torch.rand(B, T, generator=g) < 0.15) & (mask == 1), ids, torch.full_like(ids, -100))
    batch = {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask, "labels": labels,
             "next_sentence_label": torch.randint(0, 2, (B,), generator=g)}
    batch = {k: v.to(device) for k, v in batch.items()}
    opt_o = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_t = torch.optim.AdamW(hf.parameters(), lr=1e-4)

    def ours_step():
        opt_o.zero_grad(set_to_none=True)
        ours(**batch, sparse_prediction=True).loss.backward()
        opt_o.step()

    r = compare(ours_step, lambda: _train_step(hf, opt_t, batch), device, repeats)
    r.update(config=MINI, batch=[B, T], masked_tokens=int((labels != -100).sum()))
    return r


def case_qa_inference(device, dtype, repeats):
    ours, hf = twins("BertForQuestionAnswering", None, device, dtype, folder=bertbook.minilm_path())
    ours.eval(), hf.eval()
    ids = torch.randint(1000, 30000, (8, 384), device=device)
    types = torch.zeros_like(ids)
    types[:, 20:] = 1
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        r = compare(lambda: ours(ids, mask, types), lambda: hf(ids, attention_mask=mask, token_type_ids=types),
                    device, repeats)
    r["ours_questions_per_s"] = 8 / r["ours_s"]
    r["transformers_questions_per_s"] = 8 / r["transformers_s"]
    return r


def case_encoder_compiled(device, dtype, repeats):
    import time

    from bertbook.fast import compile_layers

    ours, hf = twins("BertModel", None, device, dtype, folder=bertbook.minilm_path())
    ours.eval(), hf.eval()
    compile_layers(ours)
    ids = torch.randint(1000, 30000, (32, 128), device=device)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        start = time.perf_counter()
        ours(ids, mask)  # compiles
        compile_s = time.perf_counter() - start
        r = compare(lambda: ours(ids, mask), lambda: hf(ids, attention_mask=mask), device, repeats)
    r.update(compile_s=compile_s, tokens_per_batch=ids.numel())
    return r


CASES = {
    "encoder_fixed": case_encoder_fixed,
    "encoder_ragged": case_encoder_ragged,
    "train_seqcls": case_train_seqcls,
    "pretrain_mini": case_pretrain_mini,
    "qa_inference": case_qa_inference,
    "encoder_compiled": case_encoder_compiled,
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/results/models-<device>-<dtype>.json)")
    parser.add_argument("--memory-child", choices=["ours", "transformers"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dtype = DTYPES[args.dtype]
    if args.memory_child:  # internal: one peak-memory measurement in a fresh process
        import transformers

        transformers.logging.set_verbosity_error()
        print(step_peak_bytes(args.memory_child, dtype))
        return {}
    device = pick_device(args.device)
    repeats = 3 if args.quick else args.repeats
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    import transformers

    transformers.logging.set_verbosity_error()
    result = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cases": {},
    }
    for name in names:
        r = CASES[name](device, dtype, repeats)
        result["cases"][name] = r
        print(f"{name:<16} ours {r['ours_s'] * 1e3:9.1f} ms   transformers {r['transformers_s'] * 1e3:9.1f} ms   "
              f"speed-up x{r['speedup']:.2f}", flush=True)
    out = Path(args.out) if args.out else RESULTS / f"models-{device.type}-{args.dtype}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
