"""Run every benchmark in one go (``make bench``): the tokenizer, then the models.

    python -m benchmarks.run_all            # full repeats
    python -m benchmarks.run_all --quick    # fewer repeats

Each benchmark compares bertbook against transformers in the same process and writes its JSON
to ``benchmarks/results/``; read ratios, not absolute times, and run on a quiet machine.
"""

from __future__ import annotations

import argparse

from benchmarks import bench_models, bench_tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats in every benchmark")
    args = parser.parse_args(argv)
    print("== tokenizer ==", flush=True)
    bench_tokenizer.main(["--repeats", "1"] if args.quick else [])
    print("== models ==", flush=True)
    bench_models.main(["--quick"] if args.quick else [])


if __name__ == "__main__":
    main()
