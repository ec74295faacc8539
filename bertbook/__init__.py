"""bertbook: BERT from raw text to extractive question answering.

Every class here is named as in Hugging Face ``transformers`` and keeps its
state-dict keys, so checkpoints move both ways without renaming.
"""

__version__ = "0.1.0"

from .loading import minilm_path

__all__ = ["minilm_path"]
