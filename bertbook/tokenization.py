"""BERT's WordPiece tokenizer, from scratch, with the standard library only.

Text becomes token ids in two stages, as in google-research/bert ``tokenization.py``:

1. ``BasicTokenizer`` cleans and normalises the text (control characters out, lower case,
   accents off) and cuts it into words at whitespace, at punctuation and around every CJK
   character;
2. ``WordpieceTokenizer`` cuts each word into vocabulary pieces, greedy longest match first,
   marking a piece that continues a word with ``##`` ("unaffable" -> una ##ffa ##ble).

``BertTokenizer`` adds the vocabulary file, the special tokens (``[CLS] A [SEP] B [SEP]``),
truncation (with overlapping windows over a long context), padding, the masks, character
offsets into the original string and word ids. Its output equals the Hugging Face *fast*
tokenizer's id for id and offset for offset; ``tests/test_tokenization.py`` checks this on
every BBC News article and on random Unicode text.

Only the standard library is needed; torch is imported when ``return_tensors="pt"`` asks for it.

Where we knowingly differ from HF: ``padding="max_length"`` without ``max_length`` is an error
(HF pads to ``model_max_length``); a ``stride`` too large for the room left after the special
tokens, ``max_length`` below the number of special tokens and ``truncation="only_second"``
without a second text are errors even when the text is short enough not to need cutting (HF
fails only when it has to cut, or ignores the limit); ``never_split`` tokens are kept whole (HF's
fast tokenizer ignores ``never_split``). The offsets of an [UNK] word with two spacing combining
marks out of canonical order may differ (see ``BasicTokenizer._normalize_char``).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
PADDING_STRATEGIES = (False, True, "longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = (None, False, True, "longest_first", "only_first", "only_second", "do_not_truncate")


class TokenizerInputError(TypeError, ValueError):
    """Input of the wrong type. A TypeError, and also a ValueError so either ``except`` catches it."""


class VocabFileNotFoundError(FileNotFoundError, ValueError):
    """The vocabulary file is missing (a FileNotFoundError that is also a ValueError)."""


# ----------------------------------------------------------------------------------------------
# Character classes
#
# Hugging Face's fast tokenizer (Rust) classifies characters with Unicode 8.0 tables, while
# Python's ``unicodedata`` knows a later Unicode (14.0 in Python 3.11). For the few hundred marks,
# format characters and punctuation added since 8.0, ``_category`` answers as Unicode 8.0 did
# (see ``_UNICODE_8_CATEGORY`` at the end of the file), so the ids match on any text.
# ----------------------------------------------------------------------------------------------

# White_Space characters that are not control characters. \t \n \r are control characters in
# Unicode (Cc) but BERT counts them as whitespace; \x0b \x0c \x85 are Cc and get deleted instead.
_WHITESPACE = frozenset("\t\n\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
_WHITESPACE_CHAR = re.compile("[\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
# In printable ASCII a word is a run of letters and digits, and every other character is
# punctuation: the fast path for most English text. Anything else takes the general path.
_ASCII_WORD_OR_PUNCT = re.compile(r"[a-zA-Z0-9]+|[!-/:-@\[-`{-~]")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\t\n\r\x20-\x7e]")


def _category(ch: str) -> str:
    """The Unicode general category, as Unicode 8.0 (the fast tokenizer's tables) has it."""
    return _UNICODE_8_CATEGORY.get(ord(ch)) or unicodedata.category(ch)


def _is_whitespace(ch: str) -> bool:
    return ch in _WHITESPACE


def _is_control(ch: str) -> bool:
    # \t \n \r are whitespace for BERT, not control characters to delete.
    if ch in "\t\n\r":
        return False
    # Cc control, Cf format (zero-width space, soft hyphen, BOM ...), Co private use. Unassigned
    # code points (Cn) are kept as they are: they will become [UNK].
    return _category(ch) in ("Cc", "Cf", "Co")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # All non-letter/number ASCII characters count as punctuation ("$", "^", "`" are symbols in
    # Unicode, but BERT splits them off like "." so that "$5" becomes "$" "5").
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return _category(ch).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    """A CJK Unified Ideograph. Written Chinese has no spaces, so each one becomes its own word.

    Hiragana, katakana and hangul are not in these blocks: Japanese kana and Korean are split
    only at whitespace and punctuation, like Latin script.
    """
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        # Trap: google-research/bert starts this block at 0x2B820; the fast tokenizer (whose ids
        # we match) at 0x2B920, so the 256 ideographs 0x2B820-0x2B91F are not split there.
        or 0x2B920 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _nfd(ch: str) -> str:
    # U+11938 got its canonical decomposition after Unicode 8.0: the fast tokenizer keeps it whole.
    return ch if ch == "\U00011938" else unicodedata.normalize("NFD", ch)


# ----------------------------------------------------------------------------------------------
# Stage 1: clean, normalise, split into words
# ----------------------------------------------------------------------------------------------


class BasicTokenizer:
    """Split raw text into normalised words, remembering where each character came from.

    Rules, in the order they are applied:

    1. ``never_split`` tokens (the special tokens ``[CLS]`` ``[MASK]`` ...) are cut out of the
       raw text first and kept exactly as written;
    2. NUL, U+FFFD and control/format characters are deleted; whitespace becomes a space;
    3. every CJK ideograph becomes its own word (``tokenize_chinese_chars``);
    4. accents are stripped: NFD, then drop the non-spacing marks (``strip_accents``; None
       means "do it when lower-casing", which is what uncased BERT models were trained with);
    5. lower case (``do_lower_case``);
    6. split at whitespace, and every punctuation character becomes a word of its own.
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: Sequence[str] | None = None,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
    ):
        self.do_lower_case = do_lower_case
        self.never_split = frozenset(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        # Longest first, so that a token that contains another one wins.
        self._never_split_re = (
            re.compile("|".join(map(re.escape, sorted(self.never_split, key=len, reverse=True))))
            if self.never_split
            else None
        )
        self._char_cache: dict[str, str] = {}  # raw character -> what it normalises to
        self._punctuation: set[str] = set()  # the punctuation among the normalised characters seen

    def tokenize(self, text: str) -> list[str]:
        """The words of ``text``: ``"Héllo, World!"`` -> ``["hello", ",", "world", "!"]``."""
        return [word for word, _ in self.split_words(text)]

    def split_words(self, text: str) -> list[tuple[str, Sequence[int]]]:
        """Words with their origins: ``origins[i]`` is the index in ``text`` of the word's i-th character.

        Normalising can delete characters (controls, accents) and add some (``İ`` lower-cases to two
        characters), so a word's characters need not be contiguous in ``text``.
        """
        words: list[tuple[str, Sequence[int]]] = []
        start = 0
        if self._never_split_re is not None:
            for match in self._never_split_re.finditer(text):
                self._split_span(text, start, match.start(), words)
                words.append((match.group(), range(match.start(), match.end())))  # untouched
                start = match.end()
        self._split_span(text, start, len(text), words)
        return words

    def _split_span(self, text: str, begin: int, end: int, words: list) -> None:
        # Most text is printable ASCII: it takes the fast path, and only the whitespace-delimited
        # chunks around anything else ("£5m", "café") take the general one.
        span = text[begin:end]
        pos = 0
        while (unusual := _NOT_PRINTABLE_ASCII.search(span, pos)) is not None:
            i = unusual.start()
            left = max(pos, *(span.rfind(c, pos, i) + 1 for c in " \t\n\r"))  # start of its chunk
            while True:  # end of its chunk, and of the chunks just after it that are unusual too
                after = _WHITESPACE_CHAR.search(span, i + 1)
                right = after.start() if after else len(span)
                nearby = _NOT_PRINTABLE_ASCII.search(span, right, right + 8)
                if nearby is None:
                    break
                i = nearby.start()
            self._split_ascii(span[pos:left], begin + pos, words)
            self._split_unicode(span[left:right], begin + left, words)
            pos = right
        self._split_ascii(span[pos:], begin + pos, words)

    def _split_ascii(self, chunk: str, offset: int, words: list) -> None:
        # Fast path for printable ASCII (and \t \n \r): no accents, and lower-casing keeps the
        # length, so the characters of a word map one to one onto the original text.
        if self.do_lower_case:
            chunk = chunk.lower()
        for match in _ASCII_WORD_OR_PUNCT.finditer(chunk):
            start, end = match.span()
            words.append((match.group(), range(offset + start, offset + end)))

    def _split_unicode(self, chunk: str, offset: int, words: list) -> None:
        # General path, one character at a time. ``chunk`` holds no whitespace, but normalising
        # can still produce some (around CJK characters) and punctuation.
        chars: list[str] = []
        origins: list[int] = []
        punctuation = self._punctuation
        for i, ch in enumerate(chunk, start=offset):
            normalized = self._char_cache.get(ch)
            if normalized is None:
                normalized = self._cache_char(ch)
            for c in normalized:
                if c == " ":
                    if chars:  # end of a word
                        words.append(("".join(chars), origins))
                        chars, origins = [], []
                elif c in punctuation:
                    if chars:
                        words.append(("".join(chars), origins))
                        chars, origins = [], []
                    words.append((c, (i,)))  # punctuation: a word of its own
                else:
                    chars.append(c)
                    origins.append(i)
        if chars:
            words.append(("".join(chars), origins))

    def _cache_char(self, ch: str) -> str:
        # Characters repeat: normalise each once, and classify what it becomes once.
        normalized = self._char_cache[ch] = self._normalize_char(ch)
        self._punctuation.update(c for c in normalized if _is_punctuation(c))
        return normalized

    def _normalize_char(self, ch: str) -> str:
        """What one character of the raw text becomes: "" (deleted), " " (a word break) or text."""
        cp = ord(ch)
        # Clean: NUL and U+FFFD (the replacement character of a failed decode) carry no meaning.
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            return ""
        if _is_whitespace(ch):
            return " "
        out = ch
        # Accents: "é" is "e" + U+0301 after NFD; drop the non-spacing mark (Mn), keep the letter.
        # (NFD of one character at a time skips one step of NFD of a whole string: putting a run
        # of combining marks in canonical order. It only matters for marks that survive the
        # stripping, spacing marks of a few scripts, and BERT's vocabulary has none of them: the
        # word is [UNK] either way, only the offsets of such a word may differ.)
        if self.strip_accents or (self.strip_accents is None and self.do_lower_case):
            out = "".join(c for c in _nfd(out) if _category(c) != "Mn")
        if self.do_lower_case:
            # Character by character, as the fast tokenizer does: str.lower() on a whole word
            # would turn a word-final "Σ" into "ς", the fast tokenizer always gives "σ".
            out = "".join(c.lower() for c in out)
        # CJK: spaces around the ideograph make it a word of its own.
        if self.tokenize_chinese_chars and _is_chinese_char(cp):
            out = f" {out} "
        return out


# ----------------------------------------------------------------------------------------------
# Stage 2: WordPiece
# ----------------------------------------------------------------------------------------------


class WordpieceTokenizer:
    """Greedy longest-match-first over the vocabulary: "unaffable" -> ["una", "##ffa", "##ble"]."""

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]", max_input_chars_per_word: int = 100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # No entry is longer than this, so longer candidate pieces need not be looked up.
        self._max_piece_chars = max((len(t) - 2 if t.startswith("##") else len(t)) for t in vocab)

    def tokenize(self, text: str) -> list[str]:
        """Pieces of already basic-tokenized, space-separated ``text``."""
        return [piece for word in text.split() for piece, _, _ in self.split_word(word)]

    def split_word(self, word: str) -> list[tuple[str, int, int]]:
        """``(piece, start, end)`` for each piece; start/end index the characters of ``word``."""
        n = len(word)
        # A very long "word" is more likely a URL or a base64 blob than language: one [UNK].
        if n > self.max_input_chars_per_word:
            return [(self.unk_token, 0, n)]
        pieces = []
        start = 0
        while start < n:
            # Longest vocabulary entry that matches at ``start``; "##" marks a continuation.
            end = min(n, start + self._max_piece_chars)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:
                # Some part of the word has no piece at all: the whole word is [UNK], not a
                # mix of pieces and [UNK] (as in the original BERT).
                return [(self.unk_token, 0, n)]
            pieces.append((piece, start, end))
            start = end
        return pieces


# ----------------------------------------------------------------------------------------------
# The vocabulary file
# ----------------------------------------------------------------------------------------------


def load_vocab(vocab_file: str | Path, required: Sequence[str] = ()) -> dict[str, int]:
    """``vocab.txt``: one token per line, the line number (from 0) is the token id."""
    path = Path(vocab_file)
    if not path.is_file():
        raise VocabFileNotFoundError(f"vocabulary file not found: {path} (expected a vocab.txt, one token a line)")
    with open(path, encoding="utf-8") as f:
        # Only the line break is removed: a token may legitimately contain other whitespace.
        tokens = [line.rstrip("\r\n") for line in f]
    if not tokens:
        raise ValueError(f"vocabulary file {path} is empty; it must hold one token a line")
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token in vocab:
            raise ValueError(
                f"vocabulary file {path}: token {token!r} appears twice (lines {vocab[token] + 1} and "
                f"{index + 1}); every token must be unique, its line number is its id"
            )
        vocab[token] = index
    missing = [t for t in required if t not in vocab]
    if missing:
        raise ValueError(f"vocabulary file {path} lacks the special token(s) {missing}; BERT needs {list(required)}")
    return vocab


# ----------------------------------------------------------------------------------------------
# Encodings: one row of token ids with everything aligned to it
# ----------------------------------------------------------------------------------------------


class _Sequence:
    """One text, tokenized: ids, (start, end) character offsets, word index of each token."""

    __slots__ = ("ids", "offsets", "words")

    def __init__(self, ids: list[int], offsets: list[tuple[int, int]], words: list[int]):
        self.ids, self.offsets, self.words = ids, offsets, words

    def __len__(self) -> int:
        return len(self.ids)

    def window(self, start: int, stop: int) -> _Sequence:
        return _Sequence(self.ids[start:stop], self.offsets[start:stop], self.words[start:stop])


def _windows(n: int, max_len: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges of a sequence of ``n`` tokens cut to ``max_len``, the first range first.

    Each further window starts ``max_len - stride`` tokens after the previous one, so consecutive
    windows share ``stride`` tokens: an answer cut by one window's edge is whole in the next.
    """
    if n <= max_len:
        return [(0, n)]
    if max_len == 0:
        return [(0, 0), (0, n)]  # as the fast tokenizer: nothing fits, all of it overflows
    if stride >= max_len:
        raise ValueError(
            f"stride={stride} must be smaller than the {max_len} tokens each window of this sequence "
            f"holds (max_length minus the special tokens and the other sequence); use stride < {max_len}"
        )
    out = []
    for start in range(0, n, max_len - stride):
        stop = min(start + max_len, n)
        out.append((start, stop))
        if stop == n:
            break
    return out


class _Row:
    """One final row (a padded window): what ``word_ids()`` and friends read."""

    __slots__ = ("ids", "type_ids", "attention", "special", "offsets", "words", "sequence_ids")

    def __init__(self):
        self.ids, self.type_ids, self.attention, self.special = [], [], [], []
        self.offsets, self.words, self.sequence_ids = [], [], []

    def add_special(self, token_id: int, type_id: int) -> None:
        self.ids.append(token_id)
        self.type_ids.append(type_id)
        self.attention.append(1)
        self.special.append(1)
        self.offsets.append((0, 0))
        self.words.append(None)
        self.sequence_ids.append(None)

    def add_sequence(self, seq: _Sequence, type_id: int, sequence_id: int) -> None:
        n = len(seq)
        self.ids += seq.ids
        self.type_ids += [type_id] * n
        self.attention += [1] * n
        self.special += [0] * n
        self.offsets += seq.offsets
        self.words += seq.words
        self.sequence_ids += [sequence_id] * n

    def pad_to(self, length: int, pad_id: int) -> None:
        n = length - len(self.ids)
        if n <= 0:
            return
        self.ids += [pad_id] * n
        self.type_ids += [0] * n
        self.attention += [0] * n  # padding is not attended to
        self.special += [1] * n  # and counts as special, so MLM masking never picks it
        self.offsets += [(0, 0)] * n
        self.words += [None] * n
        self.sequence_ids += [None] * n


class BatchEncoding(dict):
    """The tokenizer's output: a dict of lists (or tensors) with a few helpers, as in HF.

    Keys: ``input_ids``, ``token_type_ids``, ``attention_mask``, ``special_tokens_mask``, and on
    request ``offset_mapping`` and ``overflow_to_sample_mapping``. Keys read as attributes too
    (``enc.input_ids``).
    """

    def __init__(self, data: dict[str, Any], rows: list[_Row] | None = None, id_to_token: Sequence[str] = ()):
        super().__init__(data)
        self._rows = rows or []
        self._id_to_token = id_to_token

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no key or attribute {name!r}") from None

    def _row(self, batch_index: int) -> _Row:
        if not -len(self._rows) <= batch_index < len(self._rows):
            raise IndexError(f"batch_index={batch_index} is out of range for a batch of {len(self._rows)} row(s)")
        return self._rows[batch_index]

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Index of the word (of its own text) each token comes from; None for special tokens and padding."""
        return list(self._row(batch_index).words)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 for tokens of the first text, 1 for the second, None for special tokens and padding."""
        return list(self._row(batch_index).sequence_ids)

    def tokens(self, batch_index: int = 0) -> list[str]:
        return [self._id_to_token[i] for i in self._row(batch_index).ids]

    def to(self, device: Any) -> BatchEncoding:
        """Move every tensor to ``device`` (after ``return_tensors="pt"``)."""
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device)
        return self


# ----------------------------------------------------------------------------------------------
# BertTokenizer
# ----------------------------------------------------------------------------------------------


class BertTokenizer:
    """BERT's tokenizer: ``tok(text, text_pair, truncation=..., max_length=..., padding=...)``.

    >>> tok = BertTokenizer.from_pretrained(minilm_path())
    >>> tok("Hello, world!")["input_ids"]
    [101, 7592, 1010, 2088, 999, 102]
    """

    def __init__(
        self,
        vocab_file: str | Path,
        do_lower_case: bool = True,
        never_split: Sequence[str] | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        model_max_length: int = 512,  # every released BERT has 512 position embeddings
        max_input_chars_per_word: int = 100,
    ):
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.vocab = load_vocab(vocab_file, required=self.all_special_tokens)
        self.ids_to_tokens = list(self.vocab)  # ids are 0..n-1 in file order
        if not isinstance(model_max_length, int) or model_max_length < 2:
            raise ValueError(f"model_max_length must be an int >= 2, got {model_max_length!r}")
        self.model_max_length = model_max_length
        self.do_lower_case = do_lower_case
        self.never_split = list(never_split or [])
        # Special tokens typed in the text ("a [MASK] b") are found before any normalisation, like
        # the fast tokenizer's added tokens; "[mask]" in lower case is ordinary text.
        self.basic_tokenizer = BasicTokenizer(
            do_lower_case=do_lower_case,
            never_split=self.all_special_tokens + self.never_split,
            tokenize_chinese_chars=tokenize_chinese_chars,
            strip_accents=strip_accents,
        )
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token, max_input_chars_per_word)
        # Words repeat a lot (Zipf): remember each word's pieces as (id, start, end).
        self._word_to_pieces = lru_cache(maxsize=1 << 17)(self._pieces)
        self._warned_too_long = False

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
            f"model_max_length={self.model_max_length})"
        )

    # -- loading and saving ---------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder: str | Path, **kwargs: Any) -> BertTokenizer:
        """Read ``vocab.txt`` and, if present, ``tokenizer_config.json`` from a local folder.

        Keyword arguments override the config (``model_max_length=128``).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise VocabFileNotFoundError(
                f"from_pretrained expects a local folder holding {VOCAB_FILE}; {str(folder)!r} is not a "
                "folder (this tokenizer never downloads: pass the path of a saved model)"
            )
        config: dict[str, Any] = {}
        if (folder / CONFIG_FILE).is_file():
            with open(folder / CONFIG_FILE, encoding="utf-8") as f:
                raw = json.load(f)
            for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length", "never_split"):
                if raw.get(key) is not None:
                    config[key] = raw[key]
            for key in SPECIAL_TOKEN_NAMES:
                value = raw.get(key)
                if isinstance(value, dict):  # newer configs store {"content": "[UNK]", ...}
                    value = value.get("content")
                if value is not None:
                    config[key] = value
            # HF writes a huge number (1e30) to mean "no limit"; BERT's positions stop at 512.
            if config.get("model_max_length", 0) > 1_000_000:
                del config["model_max_length"]
        config.update(kwargs)
        return cls(folder / VOCAB_FILE, **config)

    def save_pretrained(self, folder: str | Path) -> tuple[str, str]:
        """Write ``vocab.txt`` and ``tokenizer_config.json`` (readable by transformers too)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / VOCAB_FILE, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token in self.ids_to_tokens)
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.basic_tokenizer.strip_accents,
            "tokenize_chinese_chars": self.basic_tokenizer.tokenize_chinese_chars,
            "never_split": self.never_split or None,
            "model_max_length": self.model_max_length,
            **{name: getattr(self, name) for name in SPECIAL_TOKEN_NAMES},
        }
        with open(folder / CONFIG_FILE, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        return str(folder / VOCAB_FILE), str(folder / CONFIG_FILE)

    # -- vocabulary -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    @property
    def all_special_tokens(self) -> list[str]:
        return [self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token]

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self.all_special_tokens]

    @property
    def unk_token_id(self) -> int:
        return self.vocab[self.unk_token]

    @property
    def sep_token_id(self) -> int:
        return self.vocab[self.sep_token]

    @property
    def pad_token_id(self) -> int:
        return self.vocab[self.pad_token]

    @property
    def cls_token_id(self) -> int:
        return self.vocab[self.cls_token]

    @property
    def mask_token_id(self) -> int:
        return self.vocab[self.mask_token]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Vocabulary ids; a token not in the vocabulary gets the [UNK] id."""
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return self.ids_to_tokens[self._check_id(ids)]
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self.ids_to_tokens[self._check_id(i)] for i in _to_list(ids) if i not in skip]

    def _check_id(self, i: Any) -> int:
        i = int(i)
        if not 0 <= i < len(self.ids_to_tokens):
            raise ValueError(f"token id {i} is out of range: ids go from 0 to {len(self.ids_to_tokens) - 1}")
        return i

    # -- text to tokens -------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text``, without special tokens: "unaffable" -> ["una", "##ffa", "##ble"]."""
        return [self.ids_to_tokens[i] for i in self._encode_text(_check_str(text, "text")).ids]

    def _pieces(self, word: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        """Ids of the word's pieces, and each piece's (start, end) among the word's characters."""
        pieces = self.wordpiece_tokenizer.split_word(word)
        return tuple(self.vocab[p] for p, _, _ in pieces), tuple((a, b) for _, a, b in pieces)

    def _encode_text(self, text: str) -> _Sequence:
        """One text to ids, offsets into ``text`` and word indices (no special tokens)."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        words: list[int] = []
        pieces_of = self._word_to_pieces
        for word_index, (word, origins) in enumerate(self.basic_tokenizer.split_words(text)):
            piece_ids, spans = pieces_of(word)
            ids += piece_ids
            # Offsets of a piece in the ORIGINAL text: its first character's position, and one past
            # its last character's (characters deleted inside the piece are covered).
            if len(spans) == 1:  # most words are one piece
                offsets.append((origins[0], origins[-1] + 1))
                words.append(word_index)
            else:
                offsets += [(origins[a], origins[b - 1] + 1) for a, b in spans]
                words += [word_index] * len(spans)
        return _Sequence(ids, offsets, words)

    # -- ids to text ----------------------------------------------------------------------------

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Tokens joined back into text: "##" pieces glued to the previous token, others after a space.

        As HF's decoder, a space before "." "," "?" "!" is removed; the text is lower-cased and
        spaced around other punctuation, so it need not equal the original string.
        """
        out = []
        for i, token in enumerate(self.convert_ids_to_tokens(_to_list(ids), skip_special_tokens)):
            if i > 0:
                token = token[2:] if token.startswith("##") else " " + token
            out.append(_cleanup(token))
        return "".join(out)

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in _to_list(sequences)]

    # -- special tokens ---------------------------------------------------------------------------

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2  # [CLS] A [SEP] (B [SEP])

    def build_inputs_with_special_tokens(self, ids_a: list[int], ids_b: list[int] | None = None) -> list[int]:
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        return cls + ids_a + sep if ids_b is None else cls + ids_a + sep + ids_b + sep

    def create_token_type_ids_from_sequences(self, ids_a: list[int], ids_b: list[int] | None = None) -> list[int]:
        first = [0] * (len(ids_a) + 2)
        return first if ids_b is None else first + [1] * (len(ids_b) + 1)

    def get_special_tokens_mask(self, ids_a: list[int], ids_b: list[int] | None = None) -> list[int]:
        first = [1] + [0] * len(ids_a) + [1]
        return first if ids_b is None else first + [0] * len(ids_b) + [1]

    # -- the main entry point ---------------------------------------------------------------------

    def encode(self, text: str, text_pair: str | None = None, **kwargs: Any) -> list[int]:
        """Just the ``input_ids`` of one text (or pair)."""
        return self(text, text_pair, **kwargs)["input_ids"]

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = True,
        return_attention_mask: bool | None = True,
        return_special_tokens_mask: bool | None = True,
    ) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of either, as HF's fast tokenizer does.

        * ``text`` is a str or a list of str (a batch); ``text_pair`` the same (the second segment).
        * ``truncation``: ``True``/"longest_first" (cut the longer of the two, token by token),
          "only_first", "only_second" (QA: never cut the question), ``False``/"do_not_truncate".
          ``None`` (default) follows HF: truncate "longest_first" when ``max_length`` is given
          and ``padding`` is False. Without ``max_length`` the limit is ``model_max_length``.
        * ``stride`` with ``return_overflowing_tokens=True``: the cut-off remainder comes back
          as extra rows (windows) overlapping by ``stride`` tokens; ``overflow_to_sample_mapping``
          says which input each row came from.
        * ``padding``: ``True``/"longest" (to the longest row), "max_length", ``False``/"do_not_pad";
          on the right, with [PAD], ``attention_mask`` 0 and ``token_type_ids`` 0.
        * Returns ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``special_tokens_mask``
          (unlike HF, the last one by default: ``return_special_tokens_mask=False`` leaves it out,
          so that ``model(**enc)`` works); ``offset_mapping`` on request: (start, end) character
          offsets into the original string, (0, 0) for special tokens and padding.
        """
        batched, texts, pairs = self._check_inputs(text, text_pair)
        truncation, padding, limit = self._check_options(
            pairs is not None, add_special_tokens, padding, truncation, max_length, stride, pad_to_multiple_of,
            return_overflowing_tokens, return_tensors,
        )

        rows: list[_Row] = []
        sample_of_row: list[int] = []
        for index, first in enumerate(texts):
            seq_a = self._encode_text(first)
            seq_b = self._encode_text(pairs[index]) if pairs is not None else None
            n_tokens = len(seq_a) + (len(seq_b) if seq_b is not None else 0)
            if truncation is None and n_tokens > self.model_max_length:
                self._warn_too_long(n_tokens)
            for window_a, window_b in self._truncate(seq_a, seq_b, truncation, limit, stride, add_special_tokens):
                rows.append(self._build_row(window_a, window_b, add_special_tokens))
                sample_of_row.append(index)
                if not return_overflowing_tokens:
                    break  # only the first window

        if padding is not None:
            target = max_length if padding == "max_length" else max(len(r.ids) for r in rows)
            if pad_to_multiple_of and target % pad_to_multiple_of:
                target += pad_to_multiple_of - target % pad_to_multiple_of
            for row in rows:
                row.pad_to(target, self.pad_token_id)

        data: dict[str, Any] = {"input_ids": [r.ids for r in rows]}
        if return_token_type_ids is not False:
            data["token_type_ids"] = [r.type_ids for r in rows]
        if return_attention_mask is not False:
            data["attention_mask"] = [r.attention for r in rows]
        if return_special_tokens_mask is not False:
            data["special_tokens_mask"] = [r.special for r in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [r.offsets for r in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        if return_tensors == "pt":
            data = _to_tensors(data)
        elif not batched and not return_overflowing_tokens:
            # One text in, one row out: drop the batch level (overflow rows keep it, as in HF).
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, rows, self.ids_to_tokens)

    # -- the steps of __call__ ------------------------------------------------------------------

    @staticmethod
    def _check_inputs(text: Any, text_pair: Any) -> tuple[bool, list[str], list[str] | None]:
        if isinstance(text, str):
            # Trap (kept for parity with HF): an empty text_pair "" counts as no pair at all.
            if text_pair is not None and not isinstance(text_pair, str):
                raise TokenizerInputError(
                    f"text is one str, so text_pair must be a str too, got {type(text_pair).__name__}"
                )
            return False, [text], [text_pair] if text_pair else None
        if not isinstance(text, (list, tuple)):
            raise TokenizerInputError(f"text must be a str or a list of str, got {type(text).__name__}")
        if not text:
            raise ValueError("text is an empty list: give at least one text")
        texts = [_check_str(t, f"text[{i}]") for i, t in enumerate(text)]
        if text_pair is None:
            return True, texts, None
        if not isinstance(text_pair, (list, tuple)):
            raise TokenizerInputError(
                f"text is a batch (list), so text_pair must be a list of the same length, got {type(text_pair).__name__}"
            )
        if len(text_pair) != len(texts):
            raise ValueError(f"text has {len(texts)} items but text_pair has {len(text_pair)}; they must be equal")
        return True, texts, [_check_str(t, f"text_pair[{i}]") for i, t in enumerate(text_pair)]

    def _check_options(
        self, pair, add_special_tokens, padding, truncation, max_length, stride, pad_to_multiple_of,
        return_overflowing_tokens, return_tensors,
    ) -> tuple[str | None, str | None, int | None]:
        """Validate the options; returns (truncation strategy, padding strategy, the length limit)."""
        if padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding={padding!r} is not one of {PADDING_STRATEGIES}")
        if truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation={truncation!r} is not one of {TRUNCATION_STRATEGIES}")
        if return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors={return_tensors!r}: only None (lists) and 'pt' (torch) are supported")
        for name, value in (("max_length", max_length), ("pad_to_multiple_of", pad_to_multiple_of)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
            raise ValueError(f"stride must be an int >= 0, got {stride!r}")

        # HF's rule: max_length alone (padding left False) switches truncation on.
        if truncation is None:
            truncation = "longest_first" if max_length is not None and padding is False else False
        truncation = {True: "longest_first", False: None, "do_not_truncate": None}.get(truncation, truncation)
        padding = {True: "longest", False: None, "do_not_pad": None}.get(padding, padding)
        if padding == "max_length" and max_length is None:
            # (HF would pad to model_max_length here; a silent 512 is rarely what was meant.)
            raise ValueError("padding='max_length' needs max_length (an int); or use padding=True to pad to the longest row")
        if truncation == "only_second" and not pair:
            raise ValueError("truncation='only_second' needs a second text (text_pair); got only one")
        if truncation and padding and pad_to_multiple_of and max_length is not None and max_length % pad_to_multiple_of:
            raise ValueError(
                f"truncation to max_length={max_length} and padding to a multiple of {pad_to_multiple_of} "
                "contradict each other: make max_length a multiple of pad_to_multiple_of"
            )
        if truncation is None:
            return None, padding, None

        limit = max_length if max_length is not None else self.model_max_length
        n_special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        if limit < n_special:
            raise ValueError(
                f"max_length={limit} is too small: {'a pair' if pair else 'one text'} needs "
                f"{n_special} special tokens, so max_length must be >= {n_special}"
            )
        room = limit - n_special  # for the text itself
        if stride and stride >= room:
            raise ValueError(
                f"stride={stride} must be smaller than max_length minus the {n_special} special tokens "
                f"({room}): allowed 0 <= stride < {room}"
            )
        if return_overflowing_tokens and room == 0:
            raise ValueError(
                f"max_length={limit} leaves no room for text after the {n_special} special tokens; "
                f"overflowing windows need max_length >= {n_special + 1}"
            )
        return truncation, padding, limit

    def _truncate(
        self,
        seq_a: _Sequence,
        seq_b: _Sequence | None,
        strategy: str | None,
        limit: int | None,
        stride: int,
        add_special_tokens: bool,
    ) -> list[tuple[_Sequence, _Sequence | None]]:
        """The (first, second) windows of one input: the truncated pair first, then the overflow.

        Follows ``truncate_encodings`` of HF tokenizers, strategy for strategy.
        """
        if strategy is None:
            return [(seq_a, seq_b)]
        room = limit - (self.num_special_tokens_to_add(seq_b is not None) if add_special_tokens else 0)
        len_a, len_b = len(seq_a), len(seq_b) if seq_b is not None else 0
        ranges_a, ranges_b = [(0, len_a)], [(0, len_b)]
        if len_a + len_b > room:
            to_remove = len_a + len_b - room
            if strategy == "longest_first" and seq_b is not None:
                # The shorter sequence keeps all it has if the longer one still gets at least as
                # much; otherwise each gets half the room (an odd token goes to the longer one,
                # or to the second on a tie).
                short, long_first = min(len_a, len_b), len_a > len_b
                keep_short = short
                keep_long = max(short, room - short) if short <= room else short
                if keep_short + keep_long > room:
                    keep_short, keep_long = room // 2, room // 2 + room % 2
                keep_a, keep_b = (keep_long, keep_short) if long_first else (keep_short, keep_long)
                ranges_a, ranges_b = _windows(len_a, keep_a, stride), _windows(len_b, keep_b, stride)
            elif strategy == "longest_first":  # one text: keep what fits
                ranges_a = _windows(len_a, room, stride)
            elif strategy == "only_first":
                if len_a <= to_remove:
                    raise ValueError(self._too_short_message("first", len_a, to_remove, limit))
                ranges_a = _windows(len_a, len_a - to_remove, stride)
            else:  # only_second
                if len_b <= to_remove:
                    raise ValueError(self._too_short_message("second", len_b, to_remove, limit))
                ranges_b = _windows(len_b, len_b - to_remove, stride)

        def cut(seq, r):
            return None if seq is None else seq.window(*r)

        # The order of the windows is the fast tokenizer's (Encoding::merge_with): the first
        # sequence's overflow with the second's first window and then with each of its overflow
        # windows; last, the first window of the first sequence with the second's overflow.
        out = [(cut(seq_a, ranges_a[0]), cut(seq_b, ranges_b[0]))]
        for ra in ranges_a[1:]:
            out += [(cut(seq_a, ra), cut(seq_b, rb)) for rb in ranges_b]
        out += [(cut(seq_a, ranges_a[0]), cut(seq_b, rb)) for rb in ranges_b[1:]]
        return out

    @staticmethod
    def _too_short_message(which: str, n_tokens: int, to_remove: int, limit: int) -> str:
        return (
            f"truncation='only_{which}' cannot fit max_length={limit}: {to_remove} tokens must go but the "
            f"{which} text has only {n_tokens}; raise max_length or use truncation='longest_first'"
        )

    def _build_row(self, seq_a: _Sequence, seq_b: _Sequence | None, add_special_tokens: bool) -> _Row:
        # [CLS] A [SEP] B [SEP]; token type 0 up to the first [SEP], 1 after it.
        row = _Row()
        if add_special_tokens:
            row.add_special(self.cls_token_id, 0)
        row.add_sequence(seq_a, 0, 0)
        if add_special_tokens:
            row.add_special(self.sep_token_id, 0)
        if seq_b is not None:
            row.add_sequence(seq_b, 1, 1)
            if add_special_tokens:
                row.add_special(self.sep_token_id, 1)
        return row

    def _warn_too_long(self, n: int) -> None:
        if not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this "
                "model (%d > %d). Running this sequence through the model will result in indexing errors",
                n,
                self.model_max_length,
            )


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------


def _check_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TokenizerInputError(f"{name} must be a str, got {type(value).__name__}: {value!r:.60}")
    return value


def _to_list(ids: Any) -> list:
    """Python list from a list, tuple, numpy array or torch tensor."""
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def _cleanup(token: str) -> str:
    # HF's WordPiece decoder clean-up, applied to each token with its leading space.
    for dirty, clean in _CLEANUP:
        token = token.replace(dirty, clean)
    return token


_CLEANUP = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
    (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def _to_tensors(data: dict[str, Any]) -> dict[str, Any]:
    import torch  # only here: the tokenizer itself needs no torch

    out = {}
    for key, rows in data.items():
        if key != "overflow_to_sample_mapping" and len({len(r) for r in rows}) > 1:
            raise ValueError(
                f"return_tensors='pt' needs rows of equal length, but {key} has lengths "
                f"{sorted({len(r) for r in rows})}; pass padding=True (and truncation=True) to make them equal"
            )
        out[key] = torch.tensor(rows, dtype=torch.long)
        if key == "offset_mapping":
            out[key] = out[key].reshape(len(rows), -1, 2)  # (B, T, 2), also when T == 0
    return out


# ----------------------------------------------------------------------------------------------
# Unicode 8.0 compatibility table
#
# Characters whose category in Python's Unicode database differs from the Unicode 8.0 tables
# the fast tokenizer uses, and for which that matters (marks, format characters, punctuation).
# Characters added after 8.0 are "Cn" (unassigned) there: kept, not stripped, not split off.
# Derived by running every code point through the fast tokenizer; tests/test_tokenization.py
# re-checks it against transformers.
# ----------------------------------------------------------------------------------------------

_ADDED_AFTER_UNICODE_8 = """
61D 7FD 890-8E2 9FD-9FE A76 AFA-AFF B55 C04-C3C C77 C84 D00 D3B-D3C D81 EBA 180F-1886 1ABF-1ACE
1B7D-1B7E 1DF6-1DFB 2E43-2E5D A82C A8C5 A8FF A9BD 10D24-10D27 10EAB-10EAD 10F46-10F50 10F55-10F59
10F82-10F89 11070 11073-11074 110C2 110CD 111CF 1123E 1133B 11438-1143F 11442-11444 11446
1144B-1144F 1145A-1145B 1145D-1145E 11660-1166C 116B9 1182F-11837 11839-1183B 1193B-1193C 1193E
11943-11946 119D4-119D7 119DA-119DB 119E0 119E2 11A01-11A0A 11A33-11A38 11A3B-11A47 11A51-11A56
11A59-11A5B 11A8A-11A96 11A98-11A9C 11A9E-11AA2 11C30-11C36 11C38-11C3D 11C3F 11C41-11C45
11C70-11C71 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A 11D3C-11D3D
11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 11EF7-11EF8 11FFF 12FF1-12FF2 13430-13438
16E97-16E9A 16F4F 16FE2 16FE4 1CF00-1CF2D 1CF30-1CF46 1E000-1E006 1E008-1E018 1E01B-1E021
1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF 1E944-1E94A 1E95E-1E95F
"""


def _parse_ranges(spec: str) -> dict[int, str]:
    out = {}
    for item in spec.split():
        first, _, last = item.partition("-")
        for cp in range(int(first, 16), int(last or first, 16) + 1):
            # Only the classes that change behaviour are overridden (a letter stays a letter).
            if unicodedata.category(chr(cp)) in ("Mn", "Cf") or unicodedata.category(chr(cp)).startswith("P"):
                out[cp] = "Cn"
    return out


_UNICODE_8_CATEGORY: dict[int, str] = {
    **_parse_ranges(_ADDED_AFTER_UNICODE_8),
    0x1734: "Mn",  # HANUNOO SIGN PAMUDPOD: a non-spacing mark until Unicode 14 (then Mc)
    0x166D: "Po",  # CANADIAN SYLLABICS CHI SIGN: punctuation until Unicode 12 (then So)
    0x111C9: "Po",  # SHARADA SANDHI MARK: punctuation until Unicode 11 (then Mn)
}


def _pairs(units: list[str]) -> list[tuple[str, str]]:
    return list(zip(units, units[1:]))


def _merge_units(units: list[str], a: str, b: str) -> list[str]:
    """``units`` with every neighbouring ``a``, ``b`` joined, left to right."""
    out, i = [], 0
    while i < len(units):
        if i + 1 < len(units) and units[i] == a and units[i + 1] == b:
            out.append(a + b[2:])  # b continues a word, so it starts with "##"
            i += 2
        else:
            out.append(units[i])
            i += 1
    return out


def train_wordpiece_vocab(
    texts,
    vocab_size: int,
    *,
    min_frequency: int = 2,
    special_tokens: Sequence[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    do_lower_case: bool = True,
    score: str = "wordpiece",
) -> list[str]:
    """Learn a WordPiece vocabulary of at most ``vocab_size`` entries from ``texts``.

    The words of the basic tokenizer start as single characters, a character that continues
    a word written ``##c``. Then, again and again, the two neighbouring units with the highest
    score ``count(ab) / (count(a) * count(b))`` are merged into one new entry: a pair is merged
    when it occurs together more often than its parts' own frequencies predict, not just
    because it is frequent. ``score="frequency"`` merges the most frequent pair instead, which
    is byte-pair encoding's rule (with WordPiece's ``##`` spelling). Training stops at
    ``vocab_size`` entries or when no pair occurs ``min_frequency`` times.

    Returns the entries in id order: the special tokens, the characters (sorted), then the
    merged pieces in the order they were learnt. ``WordpieceTokenizer`` applies such a
    vocabulary with its greedy longest match, which need not reproduce the training merges.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be a positive int, got {min_frequency!r}")
    if score not in ("wordpiece", "frequency"):
        raise ValueError(f"score must be 'wordpiece' or 'frequency', got {score!r}")
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    word_counts: dict[str, int] = {}
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must hold strings, got {type(text).__name__}")
        for word in basic.tokenize(text):
            word_counts[word] = word_counts.get(word, 0) + 1
    # Every word spelt in units: "news" -> ["n", "##e", "##w", "##s"].
    splits = {w: [w[0]] + ["##" + ch for ch in w[1:]] for w in word_counts}
    alphabet = sorted({u for units in splits.values() for u in units})
    vocab = list(dict.fromkeys([*special_tokens, *alphabet]))
    if len(vocab) > vocab_size:
        raise ValueError(
            f"vocab_size={vocab_size} cannot hold the {len(special_tokens)} special tokens and "
            f"the {len(alphabet)} characters of the texts ({len(vocab)} entries)"
        )
    unit_count: dict[str, int] = {}
    pair_count: dict[tuple[str, str], int] = {}
    words_with: dict[tuple[str, str], set[str]] = {}  # pair -> the words it occurs in

    def count(word: str, sign: int) -> None:  # add (sign=1) or remove (-1) a word's units
        n = sign * word_counts[word]
        for unit in splits[word]:
            unit_count[unit] = unit_count.get(unit, 0) + n
        for pair in _pairs(splits[word]):
            pair_count[pair] = pair_count.get(pair, 0) + n
            if pair_count[pair] == 0:
                del pair_count[pair]
            words_with.setdefault(pair, set()).add(word)

    for word in splits:
        count(word, 1)
    while len(vocab) < vocab_size:
        candidates = [p for p, n in pair_count.items() if n >= min_frequency]
        if not candidates:
            break
        if score == "wordpiece":
            scores = {p: pair_count[p] / (unit_count[p[0]] * unit_count[p[1]]) for p in candidates}
        else:
            scores = {p: pair_count[p] for p in candidates}
        best = max(scores.values())
        # Ties go to the alphabetically first pair, so that runs repeat.
        a, b = min(p for p, value in scores.items() if value == best)
        for word in sorted(words_with.pop((a, b))):
            count(word, -1)
            splits[word] = _merge_units(splits[word], a, b)
            count(word, 1)
        vocab.append(a + b[2:])
    return vocab
