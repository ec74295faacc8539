"""Tests for bertbook/qa.py: span decoding rules on hand-made logits, the maximal-context rule,
text recovery through offsets, and the SQuAD v1.1 metrics on hand-worked examples.

The HF `evaluate` package is not installed here, so the expected metric values are worked out by
hand in the comments next to each assertion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bertbook.qa import (
    SpanCandidate,
    best_spans,
    compute_max_context,
    exact_match_score,
    f1_score,
    max_context_mask,
    metric_max_over_ground_truths,
    normalize_answer,
    postprocess_predictions,
    squad_evaluate,
    window_token_spans,
)

# ----------------------------------------------------------------------------------------------
# A hand-made window: [CLS] where ? [SEP] <context tokens> [SEP] [PAD] [PAD]
# ----------------------------------------------------------------------------------------------

CONTEXT = "Café Zoë is in Paris—France."
#          0123456789012345678901234567
#          C0 a1 f2 é3 _4 Z5 o6 ë7 _8 i9 s10 _11 i12 n13 _14 P15..s19 —20 F21..e26 .27
OFFSETS = [
    None,  # 0 [CLS]
    None,  # 1 where   (question)
    None,  # 2 ?       (question)
    None,  # 3 [SEP]
    (0, 4),  # 4 cafe
    (5, 8),  # 5 zoe
    (9, 11),  # 6 is
    (12, 14),  # 7 in
    (15, 20),  # 8 paris
    (20, 21),  # 9 —
    (21, 27),  # 10 france
    (27, 28),  # 11 .
    None,  # 12 [SEP]
    None,  # 13 [PAD]
    None,  # 14 [PAD]
]
T = len(OFFSETS)


def test_fixture_offsets_point_at_the_words():
    # Guards the hand-made fixture itself: each offset cuts out the intended word.
    words = [CONTEXT[s:e] for s, e in (o for o in OFFSETS if o is not None)]
    assert words == ["Café", "Zoë", "is", "in", "Paris", "—", "France", "."]


def logits(**at: float) -> np.ndarray:
    """(T,) logits, 0 everywhere except at the given positions: logits(p4=5.0, p8=3.0)."""
    x = np.zeros(T)
    for key, value in at.items():
        x[int(key[1:])] = value
    return x


def text_of(c: SpanCandidate) -> str:
    return CONTEXT[c.start_char : c.end_char]


# ----------------------------------------------------------------------------------------------
# best_spans: each rejection rule, then the next valid span
# ----------------------------------------------------------------------------------------------


def test_inverted_best_pair_is_rejected():
    # Best start "France" (10), best end "Paris" (8): end < start. Next: (10, 10) = 5 + 4 = 9
    # "France"; (8, 8) = 3 + 5 = 8; (8, 10) = 3 + 4 = 7.
    start = logits(p10=5.0, p8=3.0)
    end = logits(p8=5.0, p10=4.0)
    cands = best_spans(start, end, OFFSETS)
    assert all(c.end_token >= c.start_token for c in cands)
    assert (cands[0].start_token, cands[0].end_token) == (10, 10)
    assert cands[0].score == 9.0 and text_of(cands[0]) == "France"
    assert [(c.start_token, c.end_token, c.score) for c in cands[1:3]] == [(8, 8, 8.0), (8, 10, 7.0)]
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)


def test_too_long_span_is_rejected_and_the_limit_is_inclusive():
    # Best pair (4, 11) = 10 is 11 - 4 + 1 = 8 tokens: "Café Zoë is in Paris—France."
    start = logits(p4=5.0)
    end = logits(p11=5.0, p5=3.0)
    assert text_of(best_spans(start, end, OFFSETS, max_answer_length=8)[0]) == CONTEXT  # 8 <= 8: kept
    best = best_spans(start, end, OFFSETS, max_answer_length=7)[0]  # 8 > 7: rejected
    assert (best.start_token, best.end_token, best.score) == (4, 5, 8.0)
    assert text_of(best) == "Café Zoë"
    assert all(c.end_token - c.start_token + 1 <= 7 for c in best_spans(start, end, OFFSETS, max_answer_length=7))


@pytest.mark.parametrize(
    "bad_start, what",
    [(2, "question token '?'"), (0, "[CLS]"), (13, "padding"), (12, "[SEP]")],
)
def test_start_outside_the_context_is_rejected(bad_start, what):
    # The best start sits on a non-context token; the next start (4, "Café") must be used.
    start = logits(**{f"p{bad_start}": 9.0, "p4": 2.0})
    end = logits(p5=4.0)
    cands = best_spans(start, end, OFFSETS)
    assert cands, what
    assert all(OFFSETS[c.start_token] is not None and OFFSETS[c.end_token] is not None for c in cands)
    assert (cands[0].start_token, cands[0].end_token) == (4, 5)
    assert text_of(cands[0]) == "Café Zoë"


def test_end_on_sep_or_padding_is_rejected():
    # A span that runs from the context into [SEP] (12) or padding (14) is not an answer.
    start = logits(p8=5.0)
    end = logits(p12=9.0, p14=8.0, p10=1.0)
    best = best_spans(start, end, OFFSETS)[0]
    assert (best.start_token, best.end_token) == (8, 10)
    assert text_of(best) == "Paris—France"  # em dash kept exactly, through the offsets


def test_only_top_n_best_indices_are_paired():
    # n_best=1: the single best start is on the question, so no span survives (as run_squad);
    # n_best=2 reaches start 4.
    start = logits(p1=9.0, p4=2.0)
    end = logits(p5=4.0)
    assert best_spans(start, end, OFFSETS, n_best=1) == []
    assert text_of(best_spans(start, end, OFFSETS, n_best=2)[0]) == "Café Zoë"
    # n_best bounds the pairs: at most n_best**2 candidates.
    rng = np.random.default_rng(0)
    assert len(best_spans(rng.normal(size=T), rng.normal(size=T), OFFSETS, n_best=3)) <= 9


def test_ties_go_to_earlier_start_then_shorter_span():
    # Starts 4 and 8 tie, ends 5 and 8 tie: (4,5), (4,8), (8,8) all score 10.
    # Order: earlier start first -> (4,5) and (4,8) before (8,8); same start -> shorter first.
    start = logits(p4=5.0, p8=5.0)
    end = logits(p5=5.0, p8=5.0)
    cands = best_spans(start, end, OFFSETS)
    assert [(c.start_token, c.end_token) for c in cands[:3]] == [(4, 5), (4, 8), (8, 8)]
    assert {c.score for c in cands[:3]} == {10.0}
    # A tie at the top-n cut keeps the earlier index: n_best=1 pairs start 4 only.
    assert {c.start_token for c in best_spans(start, end, OFFSETS, n_best=1)} == {4}


def test_token_is_max_context_rejects_start_only():
    start = logits(p8=5.0, p4=1.0)
    end = logits(p8=5.0)
    mask = [o is not None for o in OFFSETS]
    mask[8] = False  # token 8 is scored in another window
    cands = best_spans(start, end, OFFSETS, token_is_max_context=mask)
    assert all(c.start_token != 8 for c in cands)
    assert (cands[0].start_token, cands[0].end_token) == (4, 8)  # end on 8 is still allowed (start-only rule)


def test_zero_width_offsets_are_never_an_answer():
    # Raw tokenizer offsets give (0, 0) to special tokens; such a span would be the empty string.
    raw = [(0, 0)] * 4 + OFFSETS[4:12] + [(0, 0)] * 3
    start = logits(p0=9.0, p4=1.0)
    end = logits(p0=9.0, p4=1.0)
    cands = best_spans(start, end, raw)
    assert all(raw[c.start_token] != (0, 0) and raw[c.end_token] != (0, 0) for c in cands)
    assert (cands[0].start_token, cands[0].end_token) == (4, 4)  # not (0, 4), which would read "Café"


def test_accepts_torch_and_lists():
    start = logits(p8=5.0)
    end = logits(p10=5.0)
    a = best_spans(start, end, OFFSETS)
    b = best_spans(torch.tensor(start, dtype=torch.bfloat16), torch.tensor(end), [list(o) if o else None for o in OFFSETS])
    c = best_spans(start.tolist(), end.tolist(), OFFSETS)
    assert a[0] == b[0] == c[0]
    assert text_of(a[0]) == "Paris—France"


# ----------------------------------------------------------------------------------------------
# The maximal-context rule
# ----------------------------------------------------------------------------------------------


def test_max_context_mask_hand_worked():
    # 10 tokens, windows [0, 6) and [4, 10) (docstring example). Score = min(left, right) + 0.01*len.
    # token 4: w0 min(4, 1) = 1.06, w1 min(0, 5) = 0.06 -> w0.  token 5: w0 min(5, 0) = 0.06,
    # w1 min(1, 4) = 1.06 -> w1. Tokens 0-3 are only in w0, 6-9 only in w1.
    assert max_context_mask([0, 4], [6, 6]) == [
        [True, True, True, True, True, False],
        [False, True, True, True, True, True],
    ]
    # Three windows of 4 over 8 tokens, stride 2: [0,4), [2,6), [4,8).
    # token 2: w0 min(2,1)=1.04 > w1 min(0,3)=0.04 -> w0; token 3: w0 0.04 < w1 min(1,2)=1.04 -> w1;
    # token 4: w1 min(2,1)=1.04 > w2 0.04 -> w1; token 5: w1 0.04 < w2 min(1,2)=1.04 -> w2.
    assert max_context_mask([0, 2, 4], [4, 4, 4]) == [
        [True, True, True, False],
        [False, True, True, False],
        [False, True, True, True],
    ]
    # Exact tie: windows [0,4) and [1,5); token 2 has min(2,1)=1 in w0 and min(1,2)=1 in w1, equal
    # lengths -> the earlier window keeps it. Token 1: w0 min(1,2)=1 > w1 min(0,3)=0 -> w0.
    # Token 3: w0 min(3,0)=0 < w1 min(2,1)=1 -> w1.
    assert max_context_mask([0, 1], [4, 4]) == [[True, True, True, False], [False, False, True, True]]
    # Equal min, different lengths: 0.01 * length prefers the longer window. Windows [0,3), [0,5):
    # token 1 has min(1,1)=1 in both: 1.03 < 1.05 -> w1.
    assert max_context_mask([0, 0], [3, 5])[1][1] is True


def test_every_token_has_exactly_one_max_context_window():
    starts, lengths = [0, 7, 14, 21], [10, 10, 10, 5]  # covers 0..25
    masks = max_context_mask(starts, lengths)
    owners = {}
    for w, (s, mask) in enumerate(zip(starts, masks)):
        for i, flag in enumerate(mask):
            if flag:
                assert s + i not in owners
                owners[s + i] = w
    assert sorted(owners) == list(range(26))


WORDS = "one two three four five six seven eight nine ten".split()
LONG_CONTEXT = " ".join(WORDS)


def _word_offsets(text):
    out, pos = [], 0
    for w in text.split():
        s = text.index(w, pos)
        out.append((s, s + len(w)))
        pos = s + len(w)
    return out


def _window(ctx_offsets):
    # [CLS] q [SEP] <context> [SEP]
    return [None, None, None, *ctx_offsets, None]


def _two_window_features():
    word_offsets = _word_offsets(LONG_CONTEXT)
    w0 = _window(word_offsets[0:6])  # context tokens 0..5 at positions 3..8
    w1 = _window(word_offsets[4:10])  # context tokens 4..9 at positions 3..8
    return [{"example_index": 0, "offset_mapping": w0}, {"example_index": 0, "offset_mapping": w1}]


def test_window_token_spans_recovers_the_overlap():
    feats = _two_window_features()
    assert window_token_spans([f["offset_mapping"] for f in feats]) == [(0, 6), (4, 6)]
    wo = _word_offsets(LONG_CONTEXT)
    # No overlap: the next window starts right after the previous one.
    assert window_token_spans([_window(wo[0:5]), _window(wo[5:10])]) == [(0, 5), (5, 5)]
    # Three windows, stride 2.
    assert window_token_spans([_window(wo[0:4]), _window(wo[2:6]), _window(wo[4:8])]) == [(0, 4), (2, 4), (4, 4)]
    # Two tokens sharing one offset (a character that became two tokens): a window starting on the
    # second copy must be placed there, not on the first copy.
    dup = [(0, 1), (2, 3), (2, 3), (4, 5), (6, 7)]
    assert window_token_spans([_window(dup[0:3]), _window(dup[2:5])]) == [(0, 3), (2, 3)]
    assert window_token_spans([_window(dup[0:3]), _window(dup[1:5])]) == [(0, 3), (1, 4)]


def test_compute_max_context_scatters_to_token_positions():
    masks = compute_max_context(_two_window_features())
    # Positions 0-2 and 9 are [CLS], question, [SEP], [SEP]: False.
    assert masks[0] == [False, False, False, True, True, True, True, True, False, False]
    assert masks[1] == [False, False, False, False, True, True, True, True, True, False]


def test_max_context_picks_the_window_that_holds_the_whole_answer():
    # Answer "six seven" = context tokens 5..6. Window 0 sees token 5 at its right edge
    # (position 8) and cannot see token 6; window 1 sees both, at positions 4 and 5.
    # Window 0 gives its edge token a higher score (6 + 6 = 12 for "six") than window 1 gives the
    # full answer (5 + 5 = 10). Token 5 has more context in window 1 (min(1, 4) vs min(5, 0)),
    # so the rule rejects window 0's start there and the full answer wins.
    feats = _two_window_features()
    start0, end0 = np.zeros(10), np.zeros(10)
    start0[8] = end0[8] = 6.0
    start1, end1 = np.zeros(10), np.zeros(10)
    start1[4], end1[5] = 5.0, 5.0
    examples = [{"id": "q", "context": LONG_CONTEXT}]
    preds, nbest = postprocess_predictions(examples, feats, [start0, start1], [end0, end1])
    assert preds == {"q": "six seven"}
    assert nbest["q"][0]["feature_index"] == 1 and nbest["q"][0]["score"] == 10.0
    # Without the rule (HF postprocess_qa_predictions), window 0's truncated "six" wins.
    preds_no_rule, _ = postprocess_predictions(examples, feats, [start0, start1], [end0, end1], use_max_context=False)
    assert preds_no_rule == {"q": "six"}
    # A precomputed token_is_max_context in the features is used as given.
    given = [dict(f, token_is_max_context=[o is not None for o in f["offset_mapping"]]) for f in feats]
    assert postprocess_predictions(examples, given, [start0, start1], [end0, end1])[0] == {"q": "six"}


# ----------------------------------------------------------------------------------------------
# postprocess_predictions
# ----------------------------------------------------------------------------------------------


def test_postprocess_nbest_probabilities_hand_worked():
    # n_best=2: starts {4: 2, 8: 1}, ends {5: 2, 8: 1}. Pairs: (4,5)=4 "Café Zoë", (4,8)=3
    # "Café Zoë is in Paris", (8,8)=2 "Paris", (8,5) inverted. The list keeps the best 2:
    # p = softmax([4, 3]) = [e/(e+1), 1/(e+1)] = [0.731059, 0.268941].
    start = logits(p4=2.0, p8=1.0)
    end = logits(p5=2.0, p8=1.0)
    preds, nbest = postprocess_predictions(
        [("a", CONTEXT)], [{"example_index": 0, "offset_mapping": OFFSETS}], [start], [end], n_best=2
    )
    assert preds == {"a": "Café Zoë"}
    assert [e["text"] for e in nbest["a"]] == ["Café Zoë", "Café Zoë is in Paris"]
    assert [e["score"] for e in nbest["a"]] == [4.0, 3.0]
    assert nbest["a"][0]["probability"] == pytest.approx(math.e / (math.e + 1))
    assert nbest["a"][1]["probability"] == pytest.approx(1 / (math.e + 1))
    assert (nbest["a"][0]["start_char"], nbest["a"][0]["end_char"]) == (0, 8)


def test_postprocess_best_over_windows_of_several_examples_and_dedup():
    # Example 0 has two windows; the better span is in the second. Example 1 has one window.
    ctx0 = "Le Procope, rue de l'Ancienne-Comédie, opened in 1686."
    # tokens: le(0,2) procope(3,10) ,(10,11) rue(12,15) de(16,18) l(19,20) '(20,21) ancienne(21,29)
    #         -(29,30) comedie(30,37) ,(37,38) opened(39,45) in(46,48) 1686(49,53) .(53,54)
    toks = [(0, 2), (3, 10), (10, 11), (12, 15), (16, 18), (19, 20), (20, 21), (21, 29), (29, 30),
            (30, 37), (37, 38), (39, 45), (46, 48), (49, 53), (53, 54)]
    assert ctx0[21:37] == "Ancienne-Comédie" and ctx0[49:53] == "1686"
    wa = _window(toks[0:10])  # context tokens 0..9 at positions 3..12
    wb = _window(toks[6:15])  # context tokens 6..14 at positions 3..11
    feats = [
        {"example_index": 0, "offset_mapping": wa},
        {"example_index": 0, "offset_mapping": wb},
        {"example_index": 1, "offset_mapping": OFFSETS},
    ]
    sa, ea = np.zeros(len(wa)), np.zeros(len(wa))
    sa[3 + 1] = ea[3 + 1] = 2.0  # "Procope", score 4
    sb, eb = np.zeros(len(wb)), np.zeros(len(wb))
    sb[3 + 7] = 3.0  # token 13 "1686"
    eb[3 + 7] = 3.0  # score 6
    sb[3 + 1] = 2.5  # token 7 "Ancienne" -> "Ancienne-Comédie" would score 5, but token 7 has
    eb[3 + 3] = 2.5  # more context in window a (min(7, 2) = 2 vs min(1, 7) = 1): rejected here
    sb[3 + 5] = 2.5  # token 11 "opened": with end 13 "1686" 2.5 + 3 = 5.5, with end 12 "in" 5
    eb[3 + 6] = 2.5  # token 12 "in"
    s1 = logits(p8=4.0)
    e1 = logits(p10=4.0)
    preds, nbest = postprocess_predictions(
        [{"id": "x", "context": ctx0}, {"id": "y", "context": CONTEXT}],
        feats, [sa, sb, s1], [ea, eb, e1],
    )
    assert preds == {"x": "1686", "y": "Paris—France"}
    texts = [e["text"] for e in nbest["x"]]
    # By hand: "1686" 6, "opened in 1686" 5.5, "opened in" 5, "Procope" 4 (window a), then score-0 spans.
    assert texts[:4] == ["1686", "opened in 1686", "opened in", "Procope"]
    assert [e["score"] for e in nbest["x"][:4]] == [6.0, 5.5, 5.0, 4.0]
    assert [e["feature_index"] for e in nbest["x"][:4]] == [1, 1, 1, 0]
    assert not any(e["text"] == "Ancienne-Comédie" and e["feature_index"] == 1 for e in nbest["x"])
    assert len(texts) == len(set(texts)) <= 20  # one entry per distinct text
    assert sum(e["probability"] for e in nbest["x"]) == pytest.approx(1.0)
    # An example with no window at all also gets "" (and the warning).
    with pytest.warns(RuntimeWarning, match="1 of 3 examples"):
        preds3, _ = postprocess_predictions(
            [("x", ctx0), ("y", CONTEXT), ("z", "Never tokenized.")], feats, [sa, sb, s1], [ea, eb, e1]
        )
    assert preds3["z"] == ""


def test_postprocess_dedups_same_text_keeping_best_score():
    # "one" appears twice in the context; both spans give the text "one".
    ctx = "one and one"
    offs = [None, (0, 3), (4, 7), (8, 11), None]
    start = np.array([0.0, 3.0, -5.0, 2.0, 0.0])
    end = np.array([0.0, 3.0, -5.0, 2.0, 0.0])
    _, nbest = postprocess_predictions([("d", ctx)], [{"example_index": 0, "offset_mapping": offs}], [start], [end])
    entries = [e for e in nbest["d"] if e["text"] == "one"]
    assert len(entries) == 1 and entries[0]["score"] == 6.0 and entries[0]["start_char"] == 0


def test_postprocess_no_valid_span_returns_empty_string_and_warns():
    start = logits(p1=9.0)  # top-1 start on the question
    end = logits(p5=9.0)
    with pytest.warns(RuntimeWarning, match="no valid span"):
        preds, nbest = postprocess_predictions(
            [("e", CONTEXT)], [{"example_index": 0, "offset_mapping": OFFSETS}], [start], [end], n_best=1
        )
    assert preds == {"e": ""} and nbest == {"e": []}


def test_postprocess_cuts_batch_padding_from_logits():
    # A (2, T+3) tensor: row 0 is padded by 3 positions whose logits are huge. Cut off, they cannot
    # take the single top slot (n_best=1); left in, the top start would be padding and the answer "".
    offs_short = OFFSETS[:12]  # feature without [SEP]/[PAD]: 12 tokens
    start = torch.zeros(2, T + 3)
    end = torch.zeros(2, T + 3)
    start[0, 12:] = end[0, 12:] = 100.0
    start[0, 8] = end[0, 10] = 5.0
    start[1, 4] = end[1, 5] = 5.0
    feats = [{"example_index": 0, "offset_mapping": offs_short}, {"example_index": 1, "offset_mapping": OFFSETS}]
    preds, _ = postprocess_predictions([("p", CONTEXT), ("q", CONTEXT)], feats, start, end, n_best=1)
    assert preds == {"p": "Paris—France", "q": "Café Zoë"}


def test_text_through_real_tokenizer_windows_keeps_accents_and_case():
    # End to end with data.py's windows and the real (uncased, accent-stripping) MiniLM vocabulary:
    # the answer must come back exactly as written, which decoding the tokens cannot do.
    transformers = pytest.importorskip("transformers")
    import bertbook
    from bertbook.data import prepare_qa_eval_features

    tok = transformers.AutoTokenizer.from_pretrained(str(bertbook.minilm_path()))
    filler = "The committee met again on Tuesday and discussed the budget at length. " * 6
    answer = "Zoë Dupré-Façade"
    context = filler + f"The prize went to {answer}, «née» Müller. " + filler
    question = "Who won the prize?"
    feats = prepare_qa_eval_features(tok, [question], [context], max_length=48, doc_stride=16)
    assert len(feats) > 3

    # window_token_spans must agree with the tokenizer: each window's context offsets are the
    # slice [start, start + length) of the context tokenized alone.
    full = [tuple(o) for o in tok(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
    spans = window_token_spans([f["offset_mapping"] for f in feats])
    for (s, n), f in zip(spans, feats):
        assert [o for o in f["offset_mapping"] if o is not None] == full[s : s + n]
    assert all(spans[w + 1][0] - spans[w][0] == spans[w][1] - 16 for w in range(len(spans) - 2))  # overlap = stride

    a0 = context.index(answer)
    a1 = a0 + len(answer)
    start_logits, end_logits = [], []
    for f in feats:
        s, e = np.zeros(len(f["offset_mapping"])), np.zeros(len(f["offset_mapping"]))
        for k, o in enumerate(f["offset_mapping"]):
            if o is not None and o[0] == a0:
                s[k] = 8.0
            if o is not None and o[1] == a1:
                e[k] = 8.0
        start_logits.append(s)
        end_logits.append(e)
    preds, nbest = postprocess_predictions([("w", context)], feats, start_logits, end_logits)
    assert preds["w"] == answer
    f = feats[nbest["w"][0]["feature_index"]]
    ids = f["input_ids"]
    k0 = next(k for k, o in enumerate(f["offset_mapping"]) if o is not None and o[0] == a0)
    k1 = next(k for k, o in enumerate(f["offset_mapping"]) if o is not None and o[1] == a1)
    assert tok.decode(ids[k0 : k1 + 1]) != answer  # decoding gives "zoe dupre - facade"


# ----------------------------------------------------------------------------------------------
# SQuAD v1.1 metrics, hand-worked
# ----------------------------------------------------------------------------------------------


def test_normalize_answer():
    assert normalize_answer("The  Eiffel\tTower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("The Theatre") == "theatre"  # "the" inside "theatre" is not an article
    assert normalize_answer("the,") == ""  # comma removed first, then the article
    # Only ASCII punctuation goes: "-" is removed (the numbers join), an en dash stays.
    assert normalize_answer("1914-1918") == "19141918"
    assert normalize_answer("1914–1918") == "1914–1918"


def test_exact_match_hand_worked():
    # "the Eiffel Tower" -> "eiffel tower" == "eiffel tower": EM 1.
    assert exact_match_score("the Eiffel Tower", "Eiffel Tower") is True
    assert exact_match_score("Paris, France.", "paris france") is True
    assert exact_match_score("in Paris", "Paris") is False


def test_f1_hand_worked():
    # pred [in, paris, france], gold [paris]: 1 shared; P = 1/3, R = 1; F1 = 2*(1/3*1)/(1/3+1) = 0.5.
    assert f1_score("in Paris France", "Paris") == pytest.approx(0.5)
    # Counter, not set: pred [paris, paris], gold [paris]: shared min(2,1) = 1; P = 1/2, R = 1;
    # F1 = 2*(1/2)/(3/2) = 2/3 (a set would give 1.0).
    assert f1_score("Paris Paris", "Paris") == pytest.approx(2 / 3)
    # pred [eiffel, tower], gold [tower, bridge]: 1 shared; P = 1/2, R = 1/2; F1 = 0.5.
    assert f1_score("the Eiffel Tower", "Tower Bridge") == pytest.approx(0.5)
    assert f1_score("London", "Paris") == 0.0
    assert f1_score("", "Paris") == 0.0
    assert f1_score("The Eiffel Tower", "eiffel tower.") == 1.0
    # Max over gold answers: vs "city of Paris": P = 1, R = 1/3 -> 0.5; vs "Paris France":
    # P = 1, R = 1/2 -> 2/3. Max = 2/3. EM is 0 for both.
    golds = ["city of Paris", "Paris France"]
    assert metric_max_over_ground_truths(f1_score, "Paris", golds) == pytest.approx(2 / 3)
    assert metric_max_over_ground_truths(exact_match_score, "Paris", golds) == 0


def test_squad_evaluate_averages_hand_worked():
    predictions = {
        "q1": "the Eiffel Tower",  # gold "Eiffel Tower": EM 1, F1 1
        "q2": "in Paris France",  # gold "Paris": EM 0, F1 0.5
        # q3 unanswered: EM 0, F1 0
        "q4": "Paris",  # golds "city of Paris", "Paris France": EM 0, F1 2/3
        "extra": "ignored",  # not in references
    }
    references = {"q1": ["Eiffel Tower"], "q2": "Paris", "q3": ["Lyon"], "q4": ["city of Paris", "Paris France"]}
    # EM = 100 * (1 + 0 + 0 + 0) / 4 = 25.0; F1 = 100 * (1 + 0.5 + 0 + 2/3) / 4 = 100 * 13/24 = 54.1667.
    with pytest.warns(RuntimeWarning, match="1 of 4 questions have no prediction"):
        scores = squad_evaluate(predictions, references)
    assert scores["exact_match"] == pytest.approx(25.0)
    assert scores["f1"] == pytest.approx(1300 / 24)
    # HF datasets rows give the same.
    rows = [{"id": k, "answers": {"text": [v] if isinstance(v, str) else v, "answer_start": [0]}} for k, v in references.items()]
    with pytest.warns(RuntimeWarning):
        assert squad_evaluate(predictions, rows) == scores
    assert squad_evaluate({"q": "Paris"}, {"q": ["paris"]}) == {"exact_match": 100.0, "f1": 100.0}


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def _feat(**kw):
    return dict({"example_index": 0, "offset_mapping": OFFSETS}, **kw)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_bad_n_best_and_max_answer_length(value):
    z = np.zeros(T)
    with pytest.raises(ValueError, match="n_best must be an int >= 1"):
        best_spans(z, z, OFFSETS, n_best=value)
    with pytest.raises(ValueError, match="max_answer_length must be an int >= 1"):
        best_spans(z, z, OFFSETS, max_answer_length=value)
    with pytest.raises(ValueError, match="n_best must be an int >= 1"):
        postprocess_predictions([("a", CONTEXT)], [_feat()], [z], [z], n_best=value)
    with pytest.raises(ValueError, match="max_answer_length must be an int >= 1"):
        postprocess_predictions([("a", CONTEXT)], [_feat()], [z], [z], max_answer_length=value)


def test_bad_lengths_in_best_spans():
    z = np.zeros(T)
    with pytest.raises(ValueError, match="same length T"):
        best_spans(np.zeros(T - 1), z, OFFSETS)
    with pytest.raises(ValueError, match="same length T"):
        best_spans(z, np.zeros(T + 1), OFFSETS)
    with pytest.raises(ValueError, match="same length T"):
        best_spans(z, z, OFFSETS[:-1])
    with pytest.raises(ValueError, match="token_is_max_context has 3 entries"):
        best_spans(z, z, OFFSETS, token_is_max_context=[True] * 3)
    with pytest.raises(ValueError, match=r"shape \(T,\)"):
        best_spans(np.zeros((2, T)), np.zeros((2, T)), OFFSETS)
    with pytest.raises(ValueError, match="NaN"):
        best_spans(np.full(T, np.nan), z, OFFSETS)
    with pytest.raises(ValueError, match=r"offset_mapping\[4\]"):
        best_spans(z, z, OFFSETS[:4] + [(5, 2)] + OFFSETS[5:])
    with pytest.raises(ValueError, match=r"offset_mapping\[4\]"):
        best_spans(z, z, OFFSETS[:4] + [(1, 2, 3)] + OFFSETS[5:])


def test_bad_examples_and_features():
    z = np.zeros(T)
    with pytest.raises(ValueError, match="context is empty"):
        postprocess_predictions([("a", "")], [_feat()], [z], [z])
    with pytest.raises(ValueError, match="context is empty"):
        postprocess_predictions([{"id": "a", "context": "   \n"}], [_feat()], [z], [z])
    with pytest.raises(TypeError, match="context must be a str"):
        postprocess_predictions([("a", None)], [_feat()], [z], [z])
    with pytest.raises(ValueError, match="needs keys 'id' and 'context'"):
        postprocess_predictions([{"context": CONTEXT}], [_feat()], [z], [z])
    with pytest.raises(ValueError, match="unique"):
        postprocess_predictions([("a", CONTEXT), ("a", CONTEXT)], [_feat()], [z], [z])
    for bad in (1, -1, 2.0, None):
        with pytest.raises(ValueError, match=r"example_index=.*1 examples \(allowed 0..0\)"):
            postprocess_predictions([("a", CONTEXT)], [_feat(example_index=bad)], [z], [z])
    with pytest.raises(ValueError, match="has no 'offset_mapping'"):
        postprocess_predictions([("a", CONTEXT)], [{"example_index": 0}], [z], [z])
    with pytest.raises(ValueError, match="2 rows but there are 1 features"):
        postprocess_predictions([("a", CONTEXT)], [_feat()], [z, z], [z])
    with pytest.raises(ValueError, match=r"all_end_logits\[0\] has 14 logits"):
        postprocess_predictions([("a", CONTEXT)], [_feat()], [z], [z[:-1]])
    with pytest.raises(ValueError, match="beyond its context"):
        postprocess_predictions([("a", "Café")], [_feat()], [z], [z])  # offsets of a longer context


def test_bad_windows_and_masks():
    wo = _word_offsets(LONG_CONTEXT)
    with pytest.raises(ValueError, match="does not continue window 0"):
        window_token_spans([_window(wo[4:10]), _window(wo[0:6])])  # out of order
    with pytest.raises(ValueError, match="example_index 0: window 1 does not continue"):
        compute_max_context([{"example_index": 0, "offset_mapping": _window(wo[4:10])},
                             {"example_index": 0, "offset_mapping": _window(wo[0:6])}])
    with pytest.raises(ValueError, match="2 window_starts but 1 window_lengths"):
        max_context_mask([0, 4], [6])
    with pytest.raises(ValueError, match=r"window_lengths\[0\] must be an int >= 0"):
        max_context_mask([0], [-1])
    with pytest.raises(ValueError, match=r"window_starts\[0\] must be an int >= 0"):
        max_context_mask([1.5], [3])


def test_bad_metric_input():
    with pytest.raises(ValueError, match="references is empty"):
        squad_evaluate({}, {})
    # An empty gold list is no longer an error: it is an unanswerable question (SQuAD 2.0).
    assert squad_evaluate({"q": ""}, {"q": []})["NoAns_exact"] == 100.0
    with pytest.raises(TypeError, match="must be a str"):
        squad_evaluate({"q": None}, {"q": ["x"]})
    with pytest.raises(TypeError, match="predictions must be a dict"):
        squad_evaluate(["x"], {"q": ["x"]})
    with pytest.raises(ValueError, match="appears twice"):
        squad_evaluate({"q": "x"}, [{"id": "q", "answers": {"text": ["x"]}}, {"id": "q", "answers": {"text": ["y"]}}])
    with pytest.raises(TypeError, match="answers must be str"):
        normalize_answer(None)


# ----------------------------------------------------------------------------------------------
# Answers across window edges and ties between windows (added with chapter 13)
# ----------------------------------------------------------------------------------------------


def test_answer_split_across_real_windows_is_taken_whole_from_the_next_window():
    # Real windows from prepare_qa_eval_features and our tokenizer. The answer is three context
    # tokens starting at the LAST context token of window 0: window 0 sees only its first token,
    # window 1 sees all three. Window 0 gives its visible piece a higher score (6 + 6) than window 1
    # gives the whole answer (5 + 5), so without the maximal-context rule the truncated piece
    # would win; with it, the start token belongs to window 1 (where it has doc_stride - 1 tokens
    # on its left, against none on its right in window 0) and the whole answer is returned.
    import bertbook
    from bertbook.data import prepare_qa_eval_features

    tok = bertbook.BertTokenizer.from_pretrained(bertbook.minilm_path())
    context = " ".join(f"word{k} alpha beta gamma delta" for k in range(12))
    feats = prepare_qa_eval_features(tok, ["Which word?"], [context], max_length=40, doc_stride=12)
    assert len(feats) >= 2
    w0, w1 = feats[0]["offset_mapping"], feats[1]["offset_mapping"]
    last0 = max(k for k, o in enumerate(w0) if o is not None)  # window 0's last context token
    first_char = w0[last0][0]
    k1 = next(k for k, o in enumerate(w1) if o is not None and o[0] == first_char)  # the same token in window 1
    assert w1[k1 + 2] is not None
    end_char = w1[k1 + 2][1]
    full = context[first_char:end_char]
    piece = context[w0[last0][0] : w0[last0][1]]
    assert full != piece and full.startswith(piece)

    s0, e0 = np.zeros(len(w0)), np.zeros(len(w0))
    s0[last0] = e0[last0] = 6.0
    s1, e1 = np.zeros(len(w1)), np.zeros(len(w1))
    s1[k1], e1[k1 + 2] = 5.0, 5.0
    examples = [("x", context)]
    preds, nbest = postprocess_predictions(examples, feats[:2], [s0, s1], [e0, e1])
    assert preds["x"] == full and nbest["x"][0]["feature_index"] == 1
    preds_no_rule, _ = postprocess_predictions(examples, feats[:2], [s0, s1], [e0, e1], use_max_context=False)
    assert preds_no_rule["x"] == piece


def test_equal_scores_in_two_windows_go_to_the_earlier_answer_whatever_the_window_order():
    # Window 0 scores "two" (context token 1) 5 + 5, window 1 scores "eight" (token 7) 5 + 5: a
    # tie across windows. The earlier answer in the text wins, and listing the windows' logits in
    # the other order cannot change that (the features keep their order; only scores tie).
    feats = _two_window_features()
    s0, e0 = np.zeros(10), np.zeros(10)
    s0[3 + 1] = e0[3 + 1] = 5.0  # window 0, context token 1: "two"
    s1, e1 = np.zeros(10), np.zeros(10)
    s1[3 + 3] = e1[3 + 3] = 5.0  # window 1 starts at context token 4: position 6 is token 7, "eight"
    examples = [{"id": "t", "context": LONG_CONTEXT}]
    preds, nbest = postprocess_predictions(examples, feats, [s0, s1], [e0, e1])
    assert preds == {"t": "two"}
    assert [e["text"] for e in nbest["t"][:2]] == ["two", "eight"]
    assert nbest["t"][0]["probability"] == pytest.approx(nbest["t"][1]["probability"])


def test_normalization_keeps_accents_and_drops_dots_hand_worked():
    # "U.S." loses its dots (ASCII punctuation) and "the" goes: both sides become "us economy".
    assert exact_match_score("the U.S. economy", "US economy") is True
    # SQuAD's normalisation does not strip accents: "Café" and "Cafe" are different words.
    assert exact_match_score("Café Zoë", "Cafe Zoe") is False
    assert f1_score("Café Zoë", "Cafe Zoe") == 0.0
    # pred [zoe, cafe, paris], gold [cafe, zoe] (order does not matter in F1): 2 shared;
    # P = 2/3, R = 1, F1 = 2 * (2/3) / (5/3) = 0.8.
    assert f1_score("Zoe, Cafe (Paris)", "Cafe Zoe") == pytest.approx(0.8)


# ----------------------------------------------------------------------------------------------
# read_squad: SQuAD v1.1 and v2.0 files
# ----------------------------------------------------------------------------------------------

FIAT = "Fiat said Sergio Marchionne will run Fiat Auto. The FAO warned of locusts."
#       0         1         2         3         4         5         6         7
#       0123456789012345678901234567890123456789012345678901234567890123456789012345


def _squad_file(tmp_path, qas, version="v2.0", context=FIAT, name="squad.json"):
    data = {
        "version": version,
        "data": [{"title": "business/1", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path = tmp_path / name
    path.write_text(__import__("json").dumps(data), encoding="utf-8")
    return path


def test_read_squad_v2_rows(tmp_path):
    from bertbook.qa import read_squad

    path = _squad_file(
        tmp_path,
        [
            {
                "id": "q1",
                "question": "Who will run Fiat Auto?",
                "answer_type": "PERSON",
                "answers": [
                    {"text": "Sergio Marchionne", "answer_start": 10},
                    {"text": "Marchionne", "answer_start": 17},
                ],
            },
            {
                "id": "q2",
                "question": "Who runs Ford?",
                "answers": [],
                "is_impossible": True,
                "plausible_answers": [{"text": "Sergio Marchionne", "answer_start": 10}],
            },
        ],
    )
    rows = read_squad(path)
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert rows[0]["answers"] == {
        "text": ["Sergio Marchionne", "Marchionne"],
        "answer_start": [10, 17],
    }
    assert rows[0]["is_impossible"] is False and rows[0]["answer_type"] == "PERSON"
    assert rows[0]["title"] == rows[0]["article_id"] == "business/1" and rows[0]["context"] == FIAT
    # Unanswerable: no answers, even though the file lists a plausible one (as HF datasets).
    assert (
        rows[1]["answers"] == {"text": [], "answer_start": []} and rows[1]["is_impossible"] is True
    )
    assert rows[1]["answer_type"] == ""


def test_read_squad_v1_has_no_is_impossible_key(tmp_path):
    from bertbook.qa import read_squad

    path = _squad_file(
        tmp_path,
        [{"id": "q", "question": "Who warned?", "answers": [{"text": "FAO", "answer_start": 52}]}],
        version="1.1",
    )
    (row,) = read_squad(path)
    assert row["is_impossible"] is False and row["answers"]["text"] == ["FAO"]


@pytest.mark.parametrize(
    "qas, message",
    [
        ([{"question": "Who?", "answers": []}], r"\['qas'\]\[0\] has no key 'id'"),
        (
            [{"id": "q", "question": "Who?", "answers": [{"text": "FAO", "answer_start": 51}]}],
            r"'FAO' is not at character 51 of the context \(the context has ' FA' there\)",
        ),
        (
            [{"id": "q", "question": "Who?", "answers": [{"text": "FAO", "answer_start": "52"}]}],
            r"\['answer_start'\] must be int, got str",
        ),
        ([{"id": "q", "question": "Who?", "answers": []}], "has no answers; mark it"),
        (
            [
                {
                    "id": "q",
                    "question": "Who?",
                    "is_impossible": True,
                    "answers": [{"text": "FAO", "answer_start": 52}],
                }
            ],
            "is_impossible but has answers",
        ),
        (
            [
                {"id": "q", "question": "Who?", "answers": [{"text": "FAO", "answer_start": 52}]},
                {"id": "q", "question": "Why?", "answers": [{"text": "FAO", "answer_start": 52}]},
            ],
            "the id 'q' is used twice",
        ),
        ([], "holds no questions"),
    ],
)
def test_read_squad_malformed_files_say_where(tmp_path, qas, message):
    from bertbook.qa import SquadFormatError, read_squad

    with pytest.raises(SquadFormatError, match=message):
        read_squad(_squad_file(tmp_path, qas))


def test_read_squad_missing_and_non_json_files(tmp_path):
    from bertbook.qa import read_squad

    with pytest.raises(FileNotFoundError, match="no SQuAD file"):
        read_squad(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON file"):
        read_squad(bad)
    bad.write_text('{"version": "1.1"}', encoding="utf-8")
    with pytest.raises(ValueError, match="the file has no key 'data'"):
        read_squad(bad)


# ----------------------------------------------------------------------------------------------
# Whole words (run_squad's get_final_text)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context, span, expected",
    [
        ("The FAO warned.", "O", "FAO"),  # ends inside a word on both sides: the whole word
        ("Sergio Marchionne, boss", "Marchion", "Marchionne"),
        ("Sergio Marchionne, boss", "gio Marchionne,", "Sergio Marchionne"),  # comma trimmed
        ("said Fiat.", "Fiat.", "Fiat"),  # a sentence's full stop is not part of the answer
        ("the U.S. economy", "U.S.", "U.S."),  # an abbreviation keeps its own
        ("the U.S. economy", "U.S", "U.S"),  # punctuation is its own token: never widened into
        ('he said "Fiat" twice', '"Fiat', "Fiat"),  # an unpaired quote
        ('he said "Fiat" twice', '"Fiat"', '"Fiat"'),  # a paired one stays
        ("rose 5.5% to", "5.5%", "5.5%"),
        ("cost $5m in", "5", "5m"),
        ("Anglo-Dutch firm", "Dutch", "Dutch"),  # a hyphen separates words, as BERT's tokenizer
        ("boss (Fiat) said", "Fiat)", "Fiat"),  # a bracket whose partner is outside
        ("a Smiths' song", "Smiths' ", "Smiths"),
    ],
)
def test_snap_to_words_hand_made(context, span, expected):
    from bertbook.qa import snap_to_words

    start = context.index(span)
    s, e = snap_to_words(context, start, start + len(span))
    assert context[s:e] == expected


def test_snap_to_words_bad_spans():
    from bertbook.qa import snap_to_words

    with pytest.raises(ValueError, match="not a non-empty span"):
        snap_to_words("Fiat", 2, 2)
    with pytest.raises(ValueError, match="not a non-empty span"):
        snap_to_words("Fiat", 0, 5)
    with pytest.raises(TypeError, match="start_char must be an int"):
        snap_to_words("Fiat", 0.0, 2)


# Real MiniLM WordPiece windows: "FAO" -> fa ##o, "Marchionne" -> march ##ion ##ne.
#   4 fiat  5 said  6 sergio  7 march  8 ##ion  9 ##ne  10 will ... 13 auto  14 .  15 the
#   16 fa  17 ##o  18 warned ...
def _fiat_features():
    from bertbook import BertTokenizer, minilm_path
    from bertbook.data import prepare_qa_eval_features

    tok = BertTokenizer.from_pretrained(minilm_path())
    features = prepare_qa_eval_features(tok, ["Who?"], [FIAT], max_length=64, doc_stride=16)
    assert len(features) == 1
    pieces = tok.convert_ids_to_tokens(features[0]["input_ids"])
    assert pieces[7:10] == ["march", "##ion", "##ne"] and pieces[16:18] == ["fa", "##o"]
    return features


def test_postprocess_answers_whole_words_through_real_word_pieces():
    features = _fiat_features()
    T = len(features[0]["input_ids"])
    start, end = np.zeros(T), np.zeros(T)
    start[17], end[17] = 6.0, 6.0  # "O" of "FAO": score 12
    start[16], end[8] = 5.0, 5.0  # (16, 17) "FAO" = 5 + 6 = 11; (6, 8) "Sergio Marchion" below
    start[6] = 4.5  # (6, 8) = 4.5 + 5 = 9.5 and (6, 17) = 10.5
    preds, nbest = postprocess_predictions([("q", FIAT)], features, [start], [end], n_best=3)
    assert preds == {"q": "FAO"}
    texts = [e["text"] for e in nbest["q"]]
    # "O" (12) and "FA"+"O" (11) both snap to "FAO": listed once, with the better score.
    assert texts[0] == "FAO" and texts.count("FAO") == 1 and nbest["q"][0]["score"] == 12.0
    # (6, 17) = 10.5 is the long "Sergio ... FAO"; (6, 8) = 9.5 "Sergio Marchion" -> whole word.
    assert texts == ["FAO", FIAT[10:55], "Sergio Marchionne"]
    assert all(FIAT[e["start_char"] : e["end_char"]] == e["text"] for e in nbest["q"])
    raw, _ = postprocess_predictions([("q", FIAT)], features, [start], [end], snap_to_words=False)
    assert raw == {"q": "O"}  # the piece itself, as the decoder saw it


# ----------------------------------------------------------------------------------------------
# "No answer" (SQuAD 2.0)
# ----------------------------------------------------------------------------------------------


def _decode_v2(start, end, threshold=0.0, features=None):
    features = features or [{"example_index": 0, "offset_mapping": OFFSETS}]
    return postprocess_predictions(
        [("a", CONTEXT)],
        features,
        [start] * len(features) if isinstance(start, np.ndarray) else start,
        [end] * len(features) if isinstance(end, np.ndarray) else end,
        version_2_with_negative=True,
        null_score_diff_threshold=threshold,
        use_max_context=False,
    )


def test_null_answer_wins_above_the_threshold_hand_worked():
    from bertbook.qa import apply_null_threshold, null_score_diff

    # Null = start[0] + end[0] = 3 + 3 = 6; best span (8, 8) "Paris" = 2 + 2 = 4; diff = 2.
    start, end = logits(p0=3.0, p8=2.0), logits(p0=3.0, p8=2.0)
    preds, nbest = _decode_v2(start, end, threshold=0.0)
    assert preds == {"a": ""}  # 2 > 0
    assert nbest["a"][0]["text"] == "" and nbest["a"][0]["score"] == 6.0
    assert null_score_diff(nbest["a"]) == 2.0
    # Probabilities include the null: softmax over [6, 4, ...] puts most on "".
    assert nbest["a"][0]["probability"] > nbest["a"][1]["probability"]
    assert sum(e["probability"] for e in nbest["a"]) == pytest.approx(1.0)
    assert _decode_v2(start, end, threshold=2.0)[0] == {"a": "Paris"}  # 2 > 2 is false
    assert apply_null_threshold(nbest, 1.99) == {"a": ""}
    assert apply_null_threshold(nbest, 2.0) == {"a": "Paris"}
    # Without version_2_with_negative the [CLS] slot is never an answer (v1.1 decoding).
    plain, plain_nbest = postprocess_predictions(
        [("a", CONTEXT)], [{"example_index": 0, "offset_mapping": OFFSETS}], [start], [end]
    )
    assert plain == {"a": "Paris"} and all(e["text"] for e in plain_nbest["a"])


def test_null_score_is_the_minimum_over_windows():
    from bertbook.qa import null_score_diff

    # Two windows of one example: null 6 in the first, 1 in the second -> the example's null is
    # 1 (it must win in every window); best span "Paris" = 4 -> diff -3: answered.
    windows = [{"example_index": 0, "offset_mapping": OFFSETS}] * 2
    starts = [logits(p0=3.0, p8=2.0), logits(p0=0.5, p8=2.0)]
    ends = [logits(p0=3.0, p8=2.0), logits(p0=0.5, p8=2.0)]
    preds, nbest = _decode_v2(starts, ends, features=windows)
    assert preds == {"a": "Paris"}
    null = next(e for e in nbest["a"] if e["text"] == "")
    assert null["score"] == 1.0 and null["feature_index"] == 1
    assert null_score_diff(nbest["a"]) == -3.0


def test_squad_evaluate_v2_hand_worked():
    refs = {"h1": ["Paris"], "h2": ["Café Zoë", "Zoë"], "n1": [], "n2": []}
    preds = {"h1": "Paris", "h2": "Zoë is", "n1": "", "n2": "France"}
    scores = squad_evaluate(preds, refs)
    # h1: EM 1, F1 1; h2: best vs "Zoë": P 1/2, R 1 -> F1 2/3, EM 0; n1: "" right (1, 1);
    # n2: a text for an unanswerable question (0, 0).
    assert scores["HasAns_exact"] == pytest.approx(50.0)
    assert scores["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert scores["NoAns_exact"] == scores["NoAns_f1"] == pytest.approx(50.0)
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 4)
    assert (scores["total"], scores["HasAns_total"], scores["NoAns_total"]) == (4, 2, 2)
    # v1.1 data keep the v1.1 output: two keys, "" scores 0.
    assert squad_evaluate({"h1": ""}, {"h1": ["Paris"]}) == {"exact_match": 0.0, "f1": 0.0}


def _nbest(null_score, span_text, span_score):
    entries = [{"text": "", "score": null_score}]
    if span_text:
        entries.append({"text": span_text, "score": span_score})
    return sorted(entries, key=lambda e: -e["score"])


def test_best_null_threshold_hand_worked():
    from bertbook.qa import apply_null_threshold, best_null_threshold

    # diff = null - span: a -2 (right), b -1 (unanswerable, has a text), c 0.5 (half right:
    # F1 "Paris France" vs "Paris" = 2/3), d 3 (unanswerable).
    all_nbest = {
        "a": _nbest(0.0, "Paris", 2.0),
        "b": _nbest(0.0, "Zoë", 1.0),
        "c": _nbest(1.0, "Paris France", 0.5),
        "d": _nbest(4.0, "Café", 1.0),
    }
    refs = {"a": ["Paris"], "b": [], "c": ["Paris"], "d": []}
    # Start all "": b, d right -> 2. Answer a: 3 (best so far, threshold -2). b: 2. c: 2 + 2/3.
    # d: 1 + 2/3. Best: 3 of 4 = 75% after a (-2); the next question, b, is at -1: the
    # threshold is the middle of that gap, -1.5.
    threshold, best = best_null_threshold(all_nbest, refs)
    assert threshold == -1.5 and best == pytest.approx(75.0)
    preds = apply_null_threshold(all_nbest, threshold)
    assert preds == {"a": "Paris", "b": "", "c": "", "d": ""}
    assert squad_evaluate(preds, refs)["f1"] == pytest.approx(best)
    # With EM the same order gives 2, 3, 2, 2, 1: threshold -1.5 again.
    assert best_null_threshold(all_nbest, refs, metric="exact") == (-1.5, 75.0)
    # Best when everything is answered: no next question, the threshold is the last diff.
    assert best_null_threshold({"a": all_nbest["a"], "c": all_nbest["c"]},
                               {"a": ["Paris"], "c": ["Paris"]}) == (0.5, pytest.approx(100 * 5 / 6))


def test_best_null_threshold_answers_ties_together_and_can_answer_nothing():
    from bertbook.qa import apply_null_threshold, best_null_threshold

    # Equal diffs (0): a right, b unanswerable with a text. One threshold cannot split them:
    # all "" gives 1 (b), answering both gives 1 + 0 = 1: not better -> answer nothing, and
    # the threshold lies just below 0.
    all_nbest = {"a": _nbest(1.0, "Paris", 1.0), "b": _nbest(1.0, "Zoë", 1.0)}
    threshold, best = best_null_threshold(all_nbest, {"a": ["Paris"], "b": []})
    assert threshold < 0.0 and best == 50.0
    assert apply_null_threshold(all_nbest, threshold) == {"a": "", "b": ""}


def test_best_null_threshold_bad_input():
    from bertbook.qa import best_null_threshold

    with pytest.raises(ValueError, match="metric must be"):
        best_null_threshold({"a": _nbest(0.0, "x", 1.0)}, {"a": ["x"]}, metric="em")
    with pytest.raises(ValueError, match="have no n-best list"):
        best_null_threshold({}, {"a": ["x"]})
    with pytest.raises(ValueError, match="no null entry"):
        best_null_threshold({"a": [{"text": "x", "score": 1.0}]}, {"a": ["x"]})
    with pytest.raises(ValueError, match="null_score_diff_threshold must be a number"):
        _decode_v2(logits(), logits(), threshold="0")


# ----------------------------------------------------------------------------------------------
# Baselines with no training
# ----------------------------------------------------------------------------------------------

NEWS = (
    "Fiat said on Tuesday that Sergio Marchionne will run Fiat Auto from June 2005. Herbert Demel, "
    "who ran it since 2003, leaves. Marchionne joined Fiat in 2003. The FAO warned of locusts in "
    "Mauritania, where 4,000 hectares were sprayed at a cost of $5m. Shares rose 5.5%."
)


def test_extract_entities_light_rule_hand_made():
    from bertbook.qa import extract_entities

    found = {NEWS[s:e]: label for s, e, label in extract_entities(NEWS)}
    assert found["Sergio Marchionne"] == found["Herbert Demel"] == "PERSON"
    assert found["Marchionne"] == "PERSON"  # the last word of a person seen before
    assert found["FAO"] == "ORG"  # "The" is dropped, an acronym is an organisation
    assert found["Mauritania"] == "GPE"  # after "in"
    assert (found["June 2005"], found["Tuesday"], found["2003"]) == ("DATE", "DATE", "DATE")
    assert (found["4,000"], found["$5m"], found["5.5%"]) == ("CARDINAL", "MONEY", "PERCENT")
    assert "The" not in found and "Shares" not in found


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Who will run Fiat Auto?", "Sergio Marchionne"),
        ("Who ran Fiat Auto since 2003?", "Herbert Demel"),  # 2003 is in the question: skipped
        ("Where were hectares sprayed?", "Mauritania"),
        ("How many hectares were sprayed?", "4,000"),
        ("When will Marchionne run Fiat Auto?", "June 2005"),
        ("How much did the spraying cost?", "$5m"),
        ("By how much did shares rise?", "5.5%"),
    ],
)
def test_typed_entity_baseline_hand_made(question, expected):
    from bertbook.qa import typed_entity_baseline

    assert typed_entity_baseline(question, NEWS) == expected


def test_frequent_entity_baseline_skips_entities_of_the_question():
    from bertbook.qa import baseline_predictions, frequent_entity_baseline

    # Counts: "Fiat" 2, "2003" 2, everything else 1. "Fiat" is in the question -> "2003".
    assert frequent_entity_baseline("Who will run Fiat Auto?", NEWS) == "2003"
    # Neither in the question: the tie goes to the first mentioned, "Fiat".
    assert frequent_entity_baseline("Who leaves?", NEWS) == "Fiat"
    assert frequent_entity_baseline("Who?", "no names here at all.") == ""
    rows = [{"id": "a", "question": "Who leaves?", "context": NEWS}]
    assert baseline_predictions(rows, frequent_entity_baseline) == {"a": "Fiat"}


def test_expected_answer_type_from_the_wh_phrase():
    from bertbook.qa import expected_answer_type

    assert expected_answer_type("How many cars did Fiat sell?") == {"CARDINAL"}
    assert expected_answer_type("When did the plan take effect?") == {"DATE"}
    assert expected_answer_type("In which year was it founded?") == {"DATE"}
    assert expected_answer_type("Which company bought Rover?") == {"ORG"}
    assert expected_answer_type("Whose plan was it?") == {"PERSON", "ORG"}
    assert expected_answer_type("What did Fiat buy?") == set()  # any entity


def test_train_windows_of_an_unanswerable_question_all_point_at_cls():
    # SQuAD 2.0 rows (no answer: answer_start None or text "") label every window [CLS] = 0, as
    # HF run_qa.py; an answerable row labels its answer only in the window that holds it whole.
    from bertbook import BertTokenizer, minilm_path
    from bertbook.data import prepare_qa_train_features

    tok = BertTokenizer.from_pretrained(minilm_path())
    start = FIAT.index("FAO")
    features = prepare_qa_train_features(
        tok, ["Who?", "Who?", "Who?"], [FIAT] * 3, [None, 0, start], [None, "", "FAO"],
        max_length=16, doc_stride=4,
    )
    by_example = {i: [f for f in features if f["example_index"] == i] for i in range(3)}
    assert len(by_example[0]) > 1  # several windows each
    for i in (0, 1):
        assert all(f["start_positions"] == f["end_positions"] == 0 for f in by_example[i])
    labelled = [f for f in by_example[2] if f["start_positions"] != 0]
    assert labelled and len(labelled) < len(by_example[2])
    pieces = tok.convert_ids_to_tokens(labelled[0]["input_ids"])
    assert pieces[labelled[0]["start_positions"] : labelled[0]["end_positions"] + 1] == ["fa", "##o"]
