"""RoBERTa: BERT's encoder with padding-aware position ids, and its own two heads.

Everything RoBERTa changes in the encoder is a value of the config (``BertConfig.for_roberta()``:
one token type, ``pad_token_id=1``, 514 position rows) except one piece of code: where the
position ids come from (:func:`create_position_ids_from_input_ids`). ``RobertaModel`` is
``BertModel`` with those embeddings under RoBERTa's state-dict prefix (``roberta.``). Its heads
have their own layout (``lm_head.{dense, layer_norm, decoder, bias}``; ``classifier.dense`` /
``classifier.out_proj``), so transformers' RoBERTa checkpoints load with no renaming.
A ``config.json`` with ``"model_type": "roberta"`` sets ``config.position_ids_from_padding``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .heads import (IGNORE_INDEX, BertForSequenceClassification, MaskedLMOutput,
                    SequenceClassifierOutput, _outputs, check_labels)
from .modeling import BertConfig, BertEmbeddings, BertModel, BertPreTrainedModel


def create_position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa's position ids (fairseq's ``make_positions``): real tokens are numbered
    ``padding_idx + 1, padding_idx + 2, ...`` in order, and every padding token gets ``padding_idx``.

    With ``padding_idx=1``: ids ``[0, 713, 2, 1, 1]`` -> positions ``[2, 3, 4, 1, 1]``. Traps: which
    tokens are padding is read from the *ids* (``== padding_idx``), not from the attention mask; and
    a left-padded sequence still starts at ``padding_idx + 1``.
    """
    mask = input_ids.ne(padding_idx).long()  # (B, T): 1 = real token
    return torch.cumsum(mask, dim=1) * mask + padding_idx  # (B, T)


class RobertaEmbeddings(BertEmbeddings):
    """BERT's embeddings with positions counted over the real tokens, from ``pad_token_id + 1``."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        # Padding sits at position pad_token_id: a row that starts at zero and gets no gradient.
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=config.pad_token_id)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if position_ids is None and input_ids is not None:
            position_ids = create_position_ids_from_input_ids(input_ids, self.padding_idx)  # (B, T)
        elif position_ids is None:
            # Given embeddings, padding cannot be seen: every token counts (as in transformers).
            first, T = self.padding_idx + 1, inputs_embeds.shape[1]
            position_ids = self.position_ids[:, first:first + T]  # (1, T)
        return super().forward(input_ids, token_type_ids, position_ids, inputs_embeds)


class RobertaModel(BertModel):
    """RoBERTa's encoder; same state-dict keys as transformers' ``RobertaModel``, pooler included."""

    base_model_prefix = "roberta"
    model_type = "roberta"

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config, add_pooling_layer=add_pooling_layer)
        self.embeddings = RobertaEmbeddings(config)
        self.init_weights()


class RobertaPreTrainedModel(BertPreTrainedModel):
    """Base of the RoBERTa task models: the ``roberta.`` prefix and a RoBERTa config."""

    base_model_prefix = "roberta"
    model_type = "roberta"


class RobertaLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder (tied to the word embeddings) + bias.

    The computation of BERT's ``cls.predictions`` in one flat module with fairseq's names
    (``layer_norm``, not ``LayerNorm``). Trap: the activation is always the exact GELU, whatever
    ``config.hidden_act`` says; transformers hard-codes it here, so do we.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # checkpoints store it as lm_head.bias

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.dense(features))  # (..., H)
        return self.decoder(self.layer_norm(x))  # (..., V)


class RobertaClassificationHead(nn.Module):
    """Sentence classification from the first token (``<s>``, RoBERTa's [CLS]).

    Where BERT reads the pooler (dense + tanh, pre-trained by NSP) and adds one linear layer,
    RoBERTa has no NSP and so no pre-trained pooler: its head *is* a fresh dense + tanh, with
    dropout before and after, then ``out_proj`` (H -> K).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.dropout(features[:, 0])  # (B, H): the first token
        x = self.dropout(torch.tanh(self.dense(x)))  # (B, H)
        return self.out_proj(x)  # (B, K)


class RobertaForMaskedLM(RobertaPreTrainedModel):
    """MLM on RoBERTa: loss = cross-entropy over the labelled positions (label != -100), as BERT's."""

    tied_weights_keys = ("lm_head.decoder.weight", "lm_head.decoder.bias")

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.init_weights()

    def tie_weights(self) -> None:
        self.lm_head.decoder.weight = self.roberta.embeddings.word_embeddings.weight
        self.lm_head.decoder.bias = self.lm_head.bias

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> MaskedLMOutput:
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
        loss = None
        if labels is not None:
            check_labels(labels, tuple(logits.shape[:2]))
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.view(-1), ignore_index=IGNORE_INDEX)
        return MaskedLMOutput(loss, logits, **_outputs(out))


class RobertaForSequenceClassification(RobertaPreTrainedModel):
    """RoBERTa's classification head on the first token; the loss is BERT's (``config.problem_type``:
    regression, single-label or multi-label, inferred per call when None; see
    ``BertForSequenceClassification``), reused as is."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)
        self.init_weights()

    problem_type_for = BertForSequenceClassification.problem_type_for
    loss = BertForSequenceClassification.loss

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> SequenceClassifierOutput:
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state)  # (B, K)
        loss = self.loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, **_outputs(out))
