"""One short fine-tuning run per task, multiple choice and extractive QA, through the whole pipeline
the chapters use: the real WordPiece tokenizer, ``encode_multiple_choice`` / the QA windows,
``BertForMultipleChoice`` / ``BertForQuestionAnswering``, the ``Trainer``, span decoding and the
SQuAD metrics. Each run must beat the chance baseline on held-out examples by a stated margin.

Fine-tuning MiniLM on the BBC tasks takes many minutes on a CPU (the chapters do it), so the tests
train a tiny randomly initialised BERT (one layer, hidden 64), with our WordPiece tokenizer over a
40-word vocabulary, on small synthetic tasks that it learns in seconds but that, like the real ones,
can only be solved by reading the two segments together:

* multiple choice: the context names one city among filler words; the choices are four cities;
  the right one is the city the context names. A model that scores choices without reading the
  context is at chance (1/4).
* QA: the context names four cities, each in its own clause; the question names one of them; the
  answer is that city's span in the context. A reader that knows only that answers are cities
  (and ignores the question) is right 1/4 of the time; a uniformly random span far less often.

Both baselines are computed here from the held-out examples, not assumed.
"""

from __future__ import annotations

import random

import pytest
import torch

import bertbook
from bertbook import BertConfig, BertForMultipleChoice, BertForQuestionAnswering
from bertbook.data import encode_multiple_choice, pad_collate, prepare_qa_eval_features, prepare_qa_train_features
from bertbook.qa import postprocess_predictions, squad_evaluate
from bertbook.train import Trainer, TrainConfig, make_loader

CITIES = ["paris", "london", "berlin", "madrid", "rome", "vienna", "oslo", "dublin", "prague", "lisbon"]
FILLER = "the of and a to in said it was for on with as by at from his her but not".split()
MARGIN = 0.40  # held-out accuracy / exact match must beat the chance baseline by 40 points


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "?", ",", ".", "where", "is", *FILLER, *CITIES]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = bertbook.BertTokenizer.from_pretrained(folder)
    assert tokenizer.tokenize("where is paris ?") == ["where", "is", "paris", "?"]  # every word is one token
    return tokenizer


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def tiny_config() -> BertConfig:
    # initializer_range=0.1 instead of BERT's 0.02: at hidden size 64 the small initial weights left
    # the multiple-choice loss at ln 4 for hundreds of steps in some seeds (measured while writing
    # this test); the wider start finds the match in about a hundred steps, for every seed tried.
    return BertConfig(vocab_size=len(VOCAB), hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                      intermediate_size=128, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, initializer_range=0.1)


def train(model, dataset, collate_fn, steps: int, lr: float, batch_size: int = 16) -> list[float]:
    loader = make_loader(dataset, batch_size, seed=0, collate_fn=collate_fn)
    config = TrainConfig(lr=lr, max_steps=steps, warmup_ratio=0.1, log_every=steps // 4, seed=0, device="cpu",
                         disable_progress=True)
    return Trainer(model, config, loader).train().loss


# ----------------------------------------------------------------------------------------------
# Multiple choice
# ----------------------------------------------------------------------------------------------


def mc_examples(n: int, seed: int) -> tuple[list[str], list[list[str]], list[int]]:
    rng = random.Random(seed)
    contexts, choices, labels = [], [], []
    for _ in range(n):
        options = rng.sample(CITIES, 4)
        label = rng.randrange(4)
        words = rng.choices(FILLER, k=rng.randint(6, 12))
        words.insert(rng.randrange(len(words) + 1), options[label])
        contexts.append(" ".join(words))
        choices.append(options)
        labels.append(label)
    return contexts, choices, labels


def test_multiple_choice_fine_tuning_beats_chance(tok):
    torch.manual_seed(0)
    contexts, choices, labels = mc_examples(640, seed=1)
    train_enc = encode_multiple_choice(tok, contexts, choices, max_length=24, labels=labels)
    test_contexts, test_choices, test_labels = mc_examples(200, seed=2)
    test_enc = encode_multiple_choice(tok, test_contexts, test_choices, max_length=24, labels=test_labels)
    model = BertForMultipleChoice(tiny_config())
    losses = train(model, torch.utils.data.StackDataset(**train_enc), None, steps=200, lr=1e-3)

    model.eval()
    with torch.no_grad():
        logits = model(test_enc["input_ids"], test_enc["attention_mask"], test_enc["token_type_ids"]).logits  # (N, 4)
    accuracy = (logits.argmax(-1) == test_enc["labels"]).float().mean().item()
    chance = 1 / len(test_choices[0])
    assert losses[-1] < losses[0]
    assert accuracy >= chance + MARGIN, f"held-out accuracy {accuracy:.3f}, chance {chance:.3f}"


# ----------------------------------------------------------------------------------------------
# Extractive QA
# ----------------------------------------------------------------------------------------------


def qa_examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cities = rng.sample(CITIES, 4)
        clauses = [" ".join([*rng.choices(FILLER, k=rng.randint(1, 3)), c, *rng.choices(FILLER, k=rng.randint(1, 3))])
                   for c in cities]
        context = " , ".join(clauses) + " ."
        target = rng.randrange(4)
        # The answer is the city's own mention: find it as a whole word in the context.
        start = context.index(f" {cities[target]} ") + 1
        question = f"where is {cities[target]} ?"
        rows.append({"id": f"q{i}", "question": question, "context": context, "answer": cities[target],
                     "answer_start": start, "n_candidates": len(cities)})
    return rows


def test_qa_fine_tuning_beats_chance(tok):
    torch.manual_seed(0)
    train_rows, test_rows = qa_examples(640, seed=1), qa_examples(200, seed=2)
    # Short windows with a small stride, so some contexts really are split into several windows.
    max_length, doc_stride = 32, 8
    feats = prepare_qa_train_features(tok, [r["question"] for r in train_rows], [r["context"] for r in train_rows],
                                      [r["answer_start"] for r in train_rows], [r["answer"] for r in train_rows],
                                      max_length=max_length, doc_stride=doc_stride)
    assert len(feats) > len(train_rows)  # some examples have more than one window
    model = BertForQuestionAnswering(tiny_config())
    losses = train(model, feats, pad_collate, steps=200, lr=1e-3)

    eval_feats = prepare_qa_eval_features(tok, [r["question"] for r in test_rows], [r["context"] for r in test_rows],
                                          max_length=max_length, doc_stride=doc_stride)
    model.eval()
    batch = pad_collate([{k: f[k] for k in ("input_ids", "token_type_ids", "attention_mask")} for f in eval_feats])
    with torch.no_grad():
        out = model(**batch)  # (F, T) start and end logits
    predictions, _ = postprocess_predictions([(r["id"], r["context"]) for r in test_rows], eval_feats,
                                             out.start_logits, out.end_logits, max_answer_length=5)
    scores = squad_evaluate(predictions, {r["id"]: [r["answer"]] for r in test_rows})
    # Chance: a reader that knows the answer is one of the context's cities but ignores the question.
    chance = 100 * sum(1 / r["n_candidates"] for r in test_rows) / len(test_rows)
    assert losses[-1] < losses[0]
    assert scores["exact_match"] >= chance + 100 * MARGIN, f"held-out EM {scores['exact_match']:.1f}, chance {chance:.1f}"
    assert scores["f1"] >= scores["exact_match"]
