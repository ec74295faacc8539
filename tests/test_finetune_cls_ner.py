"""Fine-tuning for chapters 10 and 11: each problem type of the task heads learns through the book's
pipeline (features -> pad_collate -> Trainer -> head loss) and beats a baseline computed here on
held-out examples; word labels survive the trip to sub-tokens and back on real silver NER sentences;
bad labels fail with clear errors.

The learning tests use tiny randomly initialised models (hidden 64, 2 layers, vocabulary 100) on
synthetic tasks whose answer is written in the tokens, so a short run is enough and the margins
are wide; the chapters run the same code on MiniLM and BBC News. The whole file takes a few
seconds on one CPU core.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import bertbook
from bertbook import BertConfig, BertForSequenceClassification, BertForTokenClassification
from bertbook.data import IGNORE_INDEX, DataCollatorWithPadding, align_labels_with_tokens, pad_collate, \
    tokenize_and_align_labels
from bertbook.train import Trainer, TrainConfig, make_loader

seqeval_metrics = pytest.importorskip("seqeval.metrics")  # a test/book dependency (chapter 11)

TINY = dict(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
PAD, CLS, SEP = 0, 1, 2
KEYS = (10, 11, 12)  # "key" tokens whose presence the synthetic tasks ask about
FILLER = range(20, 100)  # everything else
collate = DataCollatorWithPadding(pad_token_id=PAD)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def sequence(rng: random.Random, inserts: list[int], length: int) -> list[int]:
    """[CLS] filler ... [SEP] with the given tokens at random positions."""
    body = [rng.choice(FILLER) for _ in range(length - len(inserts))]
    for tok in inserts:
        body.insert(rng.randrange(len(body) + 1), tok)
    return [CLS] + body + [SEP]


def feature(ids: list[int], label) -> dict:
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "label": label}


def train(model, features, steps: int = 200, lr: float = 2e-3, batch_size: int = 16):
    config = TrainConfig(lr=lr, max_steps=steps, warmup_ratio=0.1, amp="off", device="cpu", seed=0,
                         disable_progress=True, log_every=50)
    history = Trainer(model, config, make_loader(features, batch_size, seed=0, collate_fn=collate)).train()
    assert all(math.isfinite(x) for x in history.loss)
    model.eval()
    return history


@torch.no_grad()
def logits_of(model, features) -> tuple[torch.Tensor, torch.Tensor]:
    batch = collate(features)
    labels = batch.pop("labels")
    return model(**batch).logits, labels


def make(cls, seed: int = 0, **config):
    torch.manual_seed(seed)
    return cls(BertConfig(**TINY, **config))


# ----------------------------------------------------------------------------- the four problem types


def test_single_label_learns_which_key_token_is_present():
    rng = random.Random(0)
    data = [feature(sequence(rng, [KEYS[y]], rng.randint(6, 14)), y) for y in (rng.randrange(3) for _ in range(2600))]
    train_set, held_out = data[:2400], data[2400:]
    model = make(BertForSequenceClassification, num_labels=3)
    train(model, train_set)
    logits, labels = logits_of(model, held_out)
    accuracy = (logits.argmax(-1) == labels).float().mean().item()
    majority = np.bincount([f["label"] for f in train_set]).argmax()
    baseline = (labels == int(majority)).float().mean().item()  # about 1/3
    assert accuracy >= baseline + 0.4, (accuracy, baseline)


def test_regression_learns_to_count_a_token():
    # Target: how often KEYS[0] occurs (0-4 times), standardised; num_labels=1 -> MSE.
    rng = random.Random(1)
    counts = [rng.randrange(5) for _ in range(2600)]
    mean, std = float(np.mean(counts[:2400])), float(np.std(counts[:2400]))
    data = [feature(sequence(rng, [KEYS[0]] * c, rng.randint(6, 12)), (c - mean) / std) for c in counts]
    train_set, held_out = data[:2400], data[2400:]
    model = make(BertForSequenceClassification, num_labels=1)
    assert model.problem_type_for(torch.zeros(2)) == "regression"
    train(model, train_set)
    pred, target = logits_of(model, held_out)
    assert target.dtype == torch.float32  # float labels are collated as floats
    mse = ((pred.squeeze(-1) - target) ** 2).mean().item()
    baseline = (target**2).mean().item()  # always predicting the training mean (0 after standardising)
    assert mse <= 0.5 * baseline, (mse, baseline)


def test_multi_label_learns_independent_bits():
    # Each sequence holds one of four key tokens; its targets are the two bits of the key's index, so an
    # example has 0, 1 or 2 positive labels. num_labels=2, float 0/1 labels -> BCE with logits.
    keys = (10, 11, 12, 13)
    rng = random.Random(2)
    data = []
    for _ in range(2600):
        k = rng.randrange(4)
        data.append(feature(sequence(rng, [keys[k]], rng.randint(6, 14)), [float(k & 1), float(k >> 1 & 1)]))
    train_set, held_out = data[:2400], data[2400:]
    model = make(BertForSequenceClassification, num_labels=2, problem_type="multi_label_classification")
    train(model, train_set)
    logits, labels = logits_of(model, held_out)
    assert labels.shape == (200, 2) and labels.dtype == torch.float32
    exact = ((logits > 0).float() == labels).all(-1).float().mean().item()
    majority = (torch.tensor([f["label"] for f in train_set]).mean(0) > 0.5).float()  # (2,)
    baseline = (majority.expand_as(labels) == labels).all(-1).float().mean().item()  # about 1/4
    assert exact >= baseline + 0.5, (exact, baseline)


ENTITY_FIRST = range(30, 40)  # a word starting an entity
ENTITY_NEXT = range(40, 50)  # a word continuing one
TAGS = ("O", "B-X", "I-X")


def ner_sentence(rng: random.Random) -> tuple[list[list[int]], list[int]]:
    """Words (each 1 or 2 token ids: the second piece of a word is id 3) and BIO tag ids."""
    words, tags = [], []
    while len(words) < rng.randint(5, 9):
        if rng.random() < 0.3:
            words.append([rng.choice(ENTITY_FIRST)])
            tags.append(1)
            for _ in range(rng.randrange(3)):
                words.append([rng.choice(ENTITY_NEXT)])
                tags.append(2)
        else:
            words.append([rng.choice(range(50, 100))])
            tags.append(0)
        if rng.random() < 0.3:
            words[-1].append(3)  # a continuation piece: its label must be -100
    return words, tags


def ner_feature(words, tags) -> dict:
    ids = [CLS] + [p for w in words for p in w] + [SEP]
    word_ids = [None] + [i for i, w in enumerate(words) for _ in w] + [None]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": align_labels_with_tokens(word_ids, tags)}


def test_token_classification_learns_entities_and_is_scored_per_entity():
    rng = random.Random(3)
    sentences = [ner_sentence(rng) for _ in range(1300)]
    data = [ner_feature(w, t) for w, t in sentences]
    train_set, held_out = data[:1200], data[1200:]
    assert any(IGNORE_INDEX in f["labels"][1:-1] for f in data)  # some continuation pieces are ignored
    model = make(BertForTokenClassification, num_labels=3)
    train(model, train_set)
    logits, labels = logits_of(model, held_out)  # (B, T, K), (B, T) padded with -100
    keep = labels != IGNORE_INDEX
    gold = [[TAGS[k] for k in row[m].tolist()] for row, m in zip(labels, keep)]
    pred = [[TAGS[k] for k in row[m].tolist()] for row, m in zip(logits.argmax(-1), keep)]
    assert [len(g) for g in gold] == [len(t) for _, t in sentences[1200:]]  # one prediction per word
    f1 = seqeval_metrics.f1_score(gold, pred)
    all_o = seqeval_metrics.f1_score(gold, [["O"] * len(g) for g in gold], zero_division=0)  # the majority tag
    assert all_o == 0.0
    assert f1 >= all_o + 0.8, f1


def test_token_loss_ignores_padding_and_continuation_pieces():
    rng = random.Random(4)
    model = make(BertForTokenClassification, num_labels=3).eval()
    feats = [ner_feature(*ner_sentence(rng)) for _ in range(6)]
    tight, padded = pad_collate(feats), pad_collate(feats, pad_to_multiple_of=32)
    assert padded["input_ids"].shape[1] > tight["input_ids"].shape[1]
    with torch.no_grad():
        a, b = model(**tight), model(**padded)
    assert torch.allclose(a.loss, b.loss, atol=1e-6)  # extra padding (label -100) changes nothing
    active = tight["labels"] != IGNORE_INDEX
    by_hand = torch.nn.functional.cross_entropy(a.logits[active], tight["labels"][active])
    assert torch.allclose(a.loss, by_hand, atol=1e-6)


# ----------------------------------------------------------------------------- alignment on real data


@pytest.fixture(scope="module")
def tok():
    return bertbook.BertTokenizer.from_pretrained(bertbook.minilm_path())


@pytest.fixture(scope="module")
def ner_sample():
    corpora = pytest.importorskip("bertbook.corpora")
    try:
        sample = corpora.load_bbc_ner()["validation"][:300]
    except Exception as err:  # the data packages are missing
        pytest.skip(f"BBC NER data not available: {err}")
    return sample["tokens"], sample["ner_tags"]


def test_word_labels_round_trip_through_sub_tokens(tok, ner_sample):
    words_batch, tags_batch = ner_sample
    feats = tokenize_and_align_labels(tok, words_batch, tags_batch, max_length=512)
    n_split = 0
    for words, tags, f in zip(words_batch, tags_batch, feats):
        first_pieces = [label for label in f["labels"] if label != IGNORE_INDEX]
        assert first_pieces == list(tags)  # one label per word, in order: what seqeval reads back
        assert f["labels"][0] == f["labels"][-1] == IGNORE_INDEX  # [CLS], [SEP]
        n_split += len(f["input_ids"]) - 2 - len(words)
    assert n_split > 0  # real names do split into several pieces


def test_continuation_pieces_of_a_split_name(tok):
    words, tags = ["Rosneft", "bought", "Yugansk"], [3, 0, 5]  # B-ORG O B-LOC
    f = tokenize_and_align_labels(tok, [words], [tags])[0]
    pieces = tok.convert_ids_to_tokens(f["input_ids"])
    assert pieces[1] == "ro" and pieces[2].startswith("##")
    for piece, label in zip(pieces, f["labels"]):
        if piece.startswith("##") or piece in ("[CLS]", "[SEP]"):
            assert label == IGNORE_INDEX
    all_pieces = tokenize_and_align_labels(tok, [words], [tags], label_all_tokens=True)[0]["labels"]
    assert all_pieces[1:-1] == [3] * len(tok.tokenize("Rosneft")) + [0] + [5] * len(tok.tokenize("Yugansk"))


def test_truncation_keeps_the_label_of_a_cut_word_and_empty_words_are_dropped(tok):
    # A word that gives no token at all (a lone control character) is dropped with its label.
    f = tokenize_and_align_labels(tok, [["Blair", "\x00", "said"]], [[1, 0, 0]])[0]
    assert f["labels"] == [IGNORE_INDEX, 1, 0, IGNORE_INDEX]
    # Cut inside a multi-piece word: its first piece keeps the label, the sequence still ends in [SEP].
    n = len(tok.tokenize("Rosneft"))
    f = tokenize_and_align_labels(tok, [["Rosneft", "said"]], [[3, 0]], max_length=4)[0]
    assert n > 2 and len(f["input_ids"]) == 4
    assert f["labels"] == [IGNORE_INDEX, 3, IGNORE_INDEX, IGNORE_INDEX]
    assert f["input_ids"][-1] == tok.sep_token_id


# ----------------------------------------------------------------------------- bad labels, clear errors


@pytest.mark.parametrize("cls, kwargs, label, match", [
    (BertForSequenceClassification, {"num_labels": 3}, 3, r"labels must be in \[0, 3\), got \[3\]"),
    (BertForSequenceClassification, {"num_labels": 3}, -1, r"labels must be in \[0, 3\), got \[-1\]"),
    (BertForTokenClassification, {"num_labels": 3}, [0, 3, 0], r"labels must be in \[0, 3\) or -100 \(ignored\), got \[3\]"),
    (BertForSequenceClassification, {"num_labels": 3, "problem_type": "multi_label_classification"}, [0.0, 2.0, 1.0],
     r"multi-label labels must be probabilities in \[0, 1\]"),
])
def test_out_of_range_labels_stop_training_with_a_clear_error(cls, kwargs, label, match):
    model = make(cls, **kwargs)
    good = 0 if isinstance(label, int) else ([0] * len(label) if isinstance(label[0], int) else [0.0] * len(label))
    ids = [CLS, 20, 21, SEP] if not isinstance(label, list) or isinstance(label[0], float) else [CLS, 20, 21, 22, SEP]
    if cls is BertForTokenClassification:
        label, good = [IGNORE_INDEX] + label + [IGNORE_INDEX], [IGNORE_INDEX] + good + [IGNORE_INDEX]
    data = [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": good}] * 3 + \
           [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label}]
    config = TrainConfig(lr=1e-3, max_steps=2, amp="off", device="cpu", disable_progress=True)
    trainer = Trainer(model, config, make_loader(data, 4, shuffle=False, collate_fn=collate))
    with pytest.raises(ValueError, match=match):
        trainer.train()
