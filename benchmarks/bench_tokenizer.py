"""Speed of bertbook's pure-Python WordPiece tokenizer against Hugging Face's fast (Rust) one.

    python -m benchmarks.bench_tokenizer              # 3 rounds of each case
    python -m benchmarks.bench_tokenizer --repeats 1  # quicker

Both tokenize the full BBC News corpus (2,225 articles, about 5 M characters) in one call per
round, taking turns so that drifts in machine load hit both alike. Reported: the median wall time
of each, articles/s, and how many times slower ours is (the goal: within 20x). The fast tokenizer
may use several threads; the CPU time of each is recorded too. Before timing, the outputs are
checked equal. Results go to ``benchmarks/results/tokenizer.json``.

Cases
  bbc_cold   every article as one text, full length, ids only; ours is a fresh tokenizer each round,
             so its word -> pieces cache starts empty
  bbc_warm   the same with our cache already filled (a second epoch over the same corpus)
  qa_windows question + article, truncation="only_second", max_length=384, stride=128, overflow
             windows, offsets and padding: the extractive-QA preprocessing
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import bertbook
from bertbook.corpora import read_bbc_articles
from bertbook.tokenization import BertTokenizer

RESULTS = Path(__file__).parent / "results"


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(ours_fn, theirs_fn, n_articles: int, repeats: int) -> dict:
    ours_t, theirs_t = [], []
    for _ in range(repeats):  # alternate: a burst of load elsewhere hits both alike
        ours_t.append(timed(ours_fn))
        theirs_t.append(timed(theirs_fn))
    ours_wall = statistics.median(t for t, _ in ours_t)
    theirs_wall = statistics.median(t for t, _ in theirs_t)
    return {
        "ours_s": ours_wall,
        "transformers_s": theirs_wall,
        "ours_cpu_s": statistics.median(c for _, c in ours_t),
        "transformers_cpu_s": statistics.median(c for _, c in theirs_t),
        "ours_articles_per_s": n_articles / ours_wall,
        "transformers_articles_per_s": n_articles / theirs_wall,
        "times_slower": ours_wall / theirs_wall,
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "tokenizer.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    import transformers

    transformers.logging.set_verbosity_error()  # a warning for articles over 512 tokens otherwise
    logging.getLogger("bertbook.tokenization").setLevel(logging.ERROR)  # ours gives the same one
    folder = bertbook.minilm_path()
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    ours = BertTokenizer.from_pretrained(folder)
    articles = read_bbc_articles()
    texts = [a.text for a in articles]
    questions = [f"What does the article say about {a.headline.split()[0]}?" for a in articles]
    bodies = [a.body for a in articles]
    qa = dict(truncation="only_second", max_length=384, stride=128, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="max_length")

    # Equal outputs first: a benchmark of two tokenizers that disagree would mean nothing.
    ours_ids = ours(texts)["input_ids"]
    if ours_ids != theirs(texts)["input_ids"]:
        raise SystemExit("bertbook and transformers disagree on the BBC corpus; run tests/test_tokenization.py")
    ours_qa, theirs_qa = ours(questions, bodies, **qa), theirs(questions, bodies, **qa)
    if ours_qa["input_ids"] != theirs_qa["input_ids"] or ours_qa["overflow_to_sample_mapping"] != theirs_qa[
        "overflow_to_sample_mapping"
    ]:
        raise SystemExit("bertbook and transformers disagree on the QA windows; run tests/test_tokenization.py")

    n = len(texts)
    cases = {
        "bbc_cold": compare(lambda: BertTokenizer.from_pretrained(folder)(texts), lambda: theirs(texts), n,
                            args.repeats),
        "bbc_warm": compare(lambda: ours(texts), lambda: theirs(texts), n, args.repeats),
        "qa_windows": compare(lambda: ours(questions, bodies, **qa), lambda: theirs(questions, bodies, **qa), n,
                              args.repeats),
    }
    # Building a fresh tokenizer (reading the 30,522-line vocabulary) is part of bbc_cold; alone:
    load_s, _ = timed(lambda: BertTokenizer.from_pretrained(folder))

    result = {
        "corpus": {"articles": n, "characters": sum(map(len, texts)), "tokens": sum(map(len, ours_ids)),
                   "qa_windows": len(ours_qa["input_ids"])},
        "cases": cases,
        "ours_load_s": load_s,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "versions": {"transformers": transformers.__version__, "tokenizers": _version("tokenizers")},
        "goal": "ours within 20x of the fast tokenizer (times_slower <= 20)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"BBC News: {n} articles, {result['corpus']['characters']:,} characters, "
          f"{result['corpus']['tokens']:,} tokens")
    print(f"{'case':<12}{'ours art/s':>12}{'HF art/s':>12}{'ours s':>9}{'HF s':>9}{'ours cpu':>10}{'HF cpu':>9}"
          f"{'x slower':>10}")
    for name, c in cases.items():
        print(f"{name:<12}{c['ours_articles_per_s']:>12.0f}{c['transformers_articles_per_s']:>12.0f}"
              f"{c['ours_s']:>9.2f}{c['transformers_s']:>9.2f}{c['ours_cpu_s']:>10.2f}{c['transformers_cpu_s']:>9.2f}"
              f"{c['times_slower']:>10.2f}")
    print(f"wrote {args.out}")
    return result


def _version(package: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return None


if __name__ == "__main__":
    main()
