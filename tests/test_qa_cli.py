"""Tests for bertbook.qa's one-call helper ``answer`` and ``python -m bertbook.qa``, on a tiny
random model saved to tmp_path (seconds on a CPU). The model is untrained, so the tests check
what must hold whatever the weights: spans are whole words of the context, probabilities add
up, the null decision follows the threshold, files and errors behave."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from bertbook import BertConfig, BertForQuestionAnswering, BertTokenizer, minilm_path
from bertbook.qa import answer, load_qa_model, main, read_squad

CONTEXT = (
    "Fiat said Sergio Marchionne will run Fiat Auto from June. The FAO warned of locusts "
    "in Mauritania, where 4,000 hectares were sprayed."
)
QUESTIONS = [
    ("Who will run Fiat Auto?", "Sergio Marchionne"),
    ("Who warned of locusts?", "FAO"),
    ("Where were hectares sprayed?", "Mauritania"),
    ("How many hectares were sprayed?", "4,000"),
    ("When will Marchionne start?", "June"),
    ("Who runs Ford?", None),  # not in the text
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 1-layer random BERT QA model with MiniLM's vocabulary, saved as train_qa saves."""
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertForQuestionAnswering(config).save_pretrained(folder)
    BertTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def _squad_json(path, questions=QUESTIONS, repeat=1):
    qas = []
    for r in range(repeat):
        for k, (question, text) in enumerate(questions):
            qa = {
                "id": f"q{r}-{k}",
                "question": question,
                "answers": [],
                "is_impossible": text is None,
            }
            if text is not None:
                qa["answers"] = [{"text": text, "answer_start": CONTEXT.index(text)}]
            qas.append(qa)
    data = {
        "version": "v2.0",
        "data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_answer_gives_whole_word_spans_of_the_context(tiny_dir):
    model, tokenizer, _ = load_qa_model(tiny_dir, device="cpu")
    # Windows of 32 tokens (23 context tokens), overlapping by 16: the 33-token context needs 2.
    out = answer(
        model, tokenizer, "Who will run Fiat Auto?", CONTEXT, top_k=4, max_length=32, doc_stride=16
    )
    assert len(out) == 4
    for entry in out:
        assert set(entry) == {"text", "start", "end", "score", "probability"}
        assert entry["text"] and CONTEXT[entry["start"] : entry["end"]] == entry["text"]
        # whole words: neither edge inside a word
        for edge in (entry["start"], entry["end"]):
            if 0 < edge < len(CONTEXT):
                assert not (CONTEXT[edge - 1].isalnum() and CONTEXT[edge].isalnum())
    assert [e["score"] for e in out] == sorted((e["score"] for e in out), reverse=True)
    assert all(0 < e["probability"] < 1 for e in out)
    assert model.training is False


def test_answer_null_threshold_decides_no_answer(tiny_dir):
    model, tokenizer, _ = load_qa_model(tiny_dir, device="cpu")
    spans = answer(model, tokenizer, "Who?", CONTEXT, top_k=2)
    assert all(e["text"] for e in spans)  # None: never ""
    null_first = answer(model, tokenizer, "Who?", CONTEXT, top_k=2, null_threshold=-math.inf)
    assert null_first[0]["text"] == "" and (null_first[0]["start"], null_first[0]["end"]) == (0, 0)
    assert null_first[1]["text"] == spans[0]["text"]  # then the best span
    assert answer(model, tokenizer, "Who?", CONTEXT, top_k=2, null_threshold=math.inf) == spans


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_answer_on_cuda_equals_cpu(tiny_dir):
    model, tokenizer, _ = load_qa_model(tiny_dir, device="cpu")
    on_cpu = answer(model, tokenizer, "Who will run Fiat Auto?", CONTEXT)
    on_gpu = answer(model.cuda(), tokenizer, "Who will run Fiat Auto?", CONTEXT)
    assert [e["text"] for e in on_gpu] == [e["text"] for e in on_cpu]
    assert [e["score"] for e in on_gpu] == pytest.approx([e["score"] for e in on_cpu], abs=1e-3)


def test_answer_bad_input(tiny_dir):
    model, tokenizer, _ = load_qa_model(tiny_dir, device="cpu")
    with pytest.raises(ValueError, match="the context is empty"):
        answer(model, tokenizer, "Who?", "  \n")
    with pytest.raises(ValueError, match="question must be a non-empty str"):
        answer(model, tokenizer, "", CONTEXT)
    with pytest.raises(ValueError, match="top_k must be an int >= 1"):
        answer(model, tokenizer, "Who?", CONTEXT, top_k=0)
    with pytest.raises(ValueError, match="null_threshold must be None or a number"):
        answer(model, tokenizer, "Who?", CONTEXT, null_threshold="0.5")


def test_cli_answer_prints_the_top_answers(tiny_dir, tmp_path, capsys):
    context_file = tmp_path / "article.txt"
    context_file.write_text(CONTEXT, encoding="utf-8")
    assert (
        main(
            [
                "answer",
                "--model",
                str(tiny_dir),
                "--question",
                "Who warned?",
                "--context-file",
                str(context_file),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Q: Who warned?" and len(lines) == 3
    assert lines[1].startswith("1. ") and "%" in lines[1] and "characters" in lines[1]


def test_cli_evaluate_prints_v2_metrics_as_json(tiny_dir, tmp_path, capsys):
    squad = _squad_json(tmp_path / "dev.json")
    assert main(["evaluate", "--model", str(tiny_dir), str(squad)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["questions"] == 6 and result["null_threshold"] is None
    assert (result["HasAns_total"], result["NoAns_total"]) == (5, 1)
    assert result["NoAns_exact"] == 0.0  # no threshold: the unanswerable one gets a text
    for key in ("exact_match", "f1", "HasAns_f1", "best_f1", "best_f1_thresh"):
        assert isinstance(result[key], float)
    assert result["best_f1"] >= result["f1"]


@pytest.mark.parametrize(
    "case", ["missing model", "malformed file", "empty context", "missing file"]
)
def test_cli_errors_are_one_line_and_exit_2(tiny_dir, tmp_path, capsys, case):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "t", "paragraphs": [{"qas": []}]}]}', encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n", encoding="utf-8")
    argv, message = {
        "missing model": (
            ["evaluate", "--model", str(tmp_path / "nope"), str(_squad_json(tmp_path / "d.json"))],
            "no model folder at",
        ),
        "malformed file": (
            ["evaluate", "--model", str(tiny_dir), str(bad)],
            r"data\[0\]\['paragraphs'\]\[0\] has no key 'context'",
        ),
        "empty context": (
            [
                "answer",
                "--model",
                str(tiny_dir),
                "--question",
                "Who?",
                "--context-file",
                str(empty),
            ],
            "is empty",
        ),
        "missing file": (
            ["evaluate", "--model", str(tiny_dir), str(tmp_path / "absent.json")],
            "no SQuAD file",
        ),
    }[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("python -m bertbook.qa ")
    assert __import__("re").search(message, err)


def test_cli_as_a_module_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bertbook.qa",
            "answer",
            "--model",
            str(tmp_path / "nope"),
            "--question",
            "Who?",
            "--context-file",
            str(tmp_path / "none.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "error: no context file" in proc.stderr


def test_cli_train_saves_a_model_that_evaluate_reads(tiny_dir, tmp_path, capsys):
    train = _squad_json(tmp_path / "train.json", repeat=3)  # 18 questions
    dev = _squad_json(tmp_path / "dev.json")
    out = tmp_path / "trained"
    argv = [
        "train",
        "--out",
        str(out),
        "--model",
        str(tiny_dir),
        "--train-file",
        str(train),
        "--validation-file",
        str(dev),
        "--max-train",
        "16",
        "--epochs",
        "1",
        "--max-length",
        "32",
        "--doc-stride",
        "16",
        "--batch-size",
        "8",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (
        summary["train_questions"] == 16 and summary["train_windows"] > 16
    )  # several windows each
    assert isinstance(summary["null_threshold"], float)  # dev has an unanswerable question
    assert {"HasAns_f1", "NoAns_exact"} <= set(summary["validation"])
    saved = json.loads((out / "qa_config.json").read_text())
    assert saved["null_threshold"] == summary["null_threshold"] and saved["max_length"] == 32
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "qa_config.json",
    }
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".trained")
    ]  # no temp folder left
    # evaluate reads the threshold back; on its own validation file it reproduces the metrics.
    assert main(["evaluate", "--model", str(out), str(dev)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["null_threshold"] == summary["null_threshold"]
    assert result["f1"] == pytest.approx(summary["validation"]["f1"])
    # Training again into the same folder replaces it; a foreign non-empty folder is refused.
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    assert main(argv[:2] + [str(foreign)] + argv[3:]) == 2
    assert "refusing to replace it" in capsys.readouterr().err and (foreign / "keep.txt").exists()


def test_read_squad_round_trip_of_the_test_file(tmp_path):
    rows = read_squad(_squad_json(tmp_path / "x.json"))
    assert [r["is_impossible"] for r in rows] == [False] * 5 + [True]


def test_cli_train_defaults_are_train_qas():
    """`python -m bertbook.qa train --out DIR` is the chapter's full setting: train_qa's own
    defaults, one source for both (lr 2e-4, not BERT's 5e-5, for this small model)."""
    import inspect

    from bertbook.qa import _parser, train_qa

    args = _parser().parse_args(["train", "--out", "x"])
    params = inspect.signature(train_qa).parameters
    for name in ("epochs", "max_length", "doc_stride", "batch_size", "lr", "max_train",
                 "max_validation", "unanswerable_fraction", "seed"):
        assert getattr(args, name) == params[name].default, name
    assert args.lr == 2e-4
