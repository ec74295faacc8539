"""train_wordpiece_vocab: the scored merges of WordPiece training, on a toy corpus and on BBC."""

import pytest

from bertbook.tokenization import WordpieceTokenizer, train_wordpiece_vocab

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The toy corpus of the Hugging Face course's WordPiece section: hug x10, pug x5, pun x12,
# bun x4, hugs x5.
TOY = ["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5
TOY_ALPHABET = ["##g", "##n", "##s", "##u", "b", "h", "p"]


def test_vocab_starts_with_the_specials_then_the_sorted_characters():
    vocab = train_wordpiece_vocab(TOY, 20)
    assert vocab[:5] == SPECIALS
    assert vocab[5:12] == TOY_ALPHABET
    assert len(vocab) == len(set(vocab)) <= 20


def test_first_merge_is_the_best_scored_pair_not_the_most_frequent():
    # (##u, ##g) occurs 20 times, (##g, ##s) only 5, but 5 / (20 * 5) > 20 / (36 * 20).
    vocab = train_wordpiece_vocab(TOY, 13)
    assert vocab[12] == "##gs"


def test_frequency_score_merges_the_most_frequent_pair_first():
    vocab = train_wordpiece_vocab(TOY, 13, score="frequency")
    assert vocab[12] == "##ug"  # (##u, ##g): 20 times, more than any other pair


def test_learnt_vocab_spells_every_training_word_without_unk():
    texts = ["The markets rose sharply", "markets fell", "the market rose again"]
    vocab = train_wordpiece_vocab(texts, 40, min_frequency=1)
    wordpiece = WordpieceTokenizer({t: i for i, t in enumerate(vocab)})
    for text in texts:
        assert "[UNK]" not in wordpiece.tokenize(text.lower())
    # Trained until no pair is left, every word is an entry of its own.
    whole = train_wordpiece_vocab(texts, 200, min_frequency=1)
    assert {"market", "markets", "sharply", "again"} <= set(whole) and len(whole) < 200


def test_training_stops_when_no_pair_is_frequent_enough():
    vocab = train_wordpiece_vocab(TOY, 1000, min_frequency=6)
    assert len(vocab) < 1000
    assert train_wordpiece_vocab(TOY, 1000, min_frequency=6) == vocab  # deterministic


def test_bbc_vocab_shares_entries_with_minilm():
    from bertbook import BertTokenizer, minilm_path
    from bertbook.corpora import read_bbc_articles

    texts = [a.text for a in read_bbc_articles()[:50]]
    vocab = train_wordpiece_vocab(texts, 600)
    minilm = BertTokenizer.from_pretrained(minilm_path()).vocab
    learnt = vocab[5:]
    assert len(vocab) == 600
    assert sum(t in minilm for t in learnt) > len(learnt) // 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(texts="hug pug", vocab_size=20), TypeError, "one string"),
        (dict(texts=["hug", 3], vocab_size=20), TypeError, "int"),
        (dict(texts=TOY, vocab_size=8), ValueError, "vocab_size=8"),
        (dict(texts=TOY, vocab_size=0), ValueError, "positive"),
        (dict(texts=TOY, vocab_size=20, min_frequency=0), ValueError, "min_frequency"),
        (dict(texts=TOY, vocab_size=20, score="bpe"), ValueError, "'bpe'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        train_wordpiece_vocab(**kwargs)
