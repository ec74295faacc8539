"""bertbook: BERT from raw text to extractive question answering.

Every class here is named as in Hugging Face ``transformers`` and keeps its
state-dict keys, so checkpoints move both ways without renaming.
"""

__version__ = "0.1.0"

from .checks import validate_inputs
from .heads import (
    BertForMaskedLM,
    BertForMeanPoolClassification,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLMHeadModel,
)
from .loading import minilm_path
from .modeling import BertConfig, BertModel
from .packing import padding_free

__all__ = [
    "BertConfig",
    "BertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertLMHeadModel",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForMeanPoolClassification",
    "BertForMultipleChoice",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertTokenizer",
    "minilm_path",
    "padding_free",
    "validate_inputs",
]


def __getattr__(name):
    # The tokenizer is imported lazily: importing the models should not pay for it, and it keeps
    # `import bertbook` working while tokenization.py is absent from a copied subset of modules.
    if name == "BertTokenizer":
        from .tokenization import BertTokenizer

        return BertTokenizer
    raise AttributeError(f"module 'bertbook' has no attribute {name!r}")
