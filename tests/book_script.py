"""scripts/book.py loaded once as a module, for the tests that need it (scripts/ is no package)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bertbook_book_script", ROOT / "scripts" / "book.py")
book = sys.modules.get(_spec.name) or importlib.util.module_from_spec(_spec)
if _spec.name not in sys.modules:
    sys.modules[_spec.name] = book
    _spec.loader.exec_module(book)
