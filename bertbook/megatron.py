"""MegatronBERT: BERT with its LayerNorms moved *before* each sub-block (pre-LN).

    post-LN (BERT, modeling.py):   x = LN(x + Attn(x));     x = LN(x + FFN(x))
    pre-LN (MegatronBERT):         x = x + Attn(LN(x));     x = x + FFN(LN(x));   LN after the stack

The residual stream is never normalised inside the stack, so gradients reach the first layers
undamped and deep models train without a long warm-up (Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture"). The embeddings lose their LayerNorm (each layer
normalises its own input) and one final LayerNorm closes the stack.

Every class here is the plain BERT class with those LayerNorms moved; module names are
transformers' ``modeling_megatron_bert.py`` names (``attention.ln``, ``ln``, ``encoder.ln``), so
its checkpoints load with no key mapping. A ``config.json`` with ``"model_type":
"megatron-bert"`` sets ``config.pre_layernorm``; these classes refuse any other config.
"""

from __future__ import annotations

from torch import nn

from . import heads
from .modeling import BertAttention, BertConfig, BertEncoder, BertLayer, BertModel


class MegatronBertAttention(BertAttention):
    """x + Attn(LN(x)): the residual is the input *before* the LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.output.LayerNorm = nn.Identity()  # BertSelfOutput then adds the residual only

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        context, probs = self.self(self.ln(hidden_states), attention_mask, output_attentions)
        return self.output(context, hidden_states), probs  # (B, T, H)


class MegatronBertLayer(BertLayer):
    """x = x + Attn(LN(x)); x = x + FFN(LN(x))."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.attention = MegatronBertAttention(config)
        self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # before the FFN
        self.output.LayerNorm = nn.Identity()

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        attention_output, probs = self.attention(hidden_states, attention_mask, output_attentions)
        layer_output = self.output(self.intermediate(self.ln(attention_output)), attention_output)
        return layer_output, probs  # (B, T, H)


class MegatronBertEncoder(BertEncoder):
    """Pre-LN layers, then the one final LayerNorm that the un-normalised stream needs."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.layer = nn.ModuleList([MegatronBertLayer(config) for _ in range(config.num_hidden_layers)])
        self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False,
                output_hidden_states=False):
        hidden_states, all_hidden, all_probs = super().forward(
            hidden_states, attention_mask, output_attentions, output_hidden_states)
        hidden_states = self.ln(hidden_states)
        if output_hidden_states:  # as transformers: the last entry is the *normalised* state
            all_hidden[-1] = hidden_states
        return hidden_states, all_hidden, all_probs


class MegatronBertModel(BertModel):
    model_type = "megatron-bert"

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config, add_pooling_layer)
        self.embeddings.LayerNorm = nn.Identity()  # each layer normalises its own input
        self.encoder = MegatronBertEncoder(config)
        self.init_weights()


class _Megatron:
    """Mixed into each task model: build the pre-LN encoder, accept megatron-bert configs."""

    model_type = "megatron-bert"
    base_model_class = MegatronBertModel


# The task models: BERT's heads, unchanged, on the pre-LN encoder (transformers' class names).


class MegatronBertForPreTraining(_Megatron, heads.BertForPreTraining):
    pass


class MegatronBertForMaskedLM(_Megatron, heads.BertForMaskedLM):
    pass


class MegatronBertForCausalLM(_Megatron, heads.BertLMHeadModel):
    pass


class MegatronBertForNextSentencePrediction(_Megatron, heads.BertForNextSentencePrediction):
    pass


class MegatronBertForSequenceClassification(_Megatron, heads.BertForSequenceClassification):
    pass


class MegatronBertForMultipleChoice(_Megatron, heads.BertForMultipleChoice):
    pass


class MegatronBertForTokenClassification(_Megatron, heads.BertForTokenClassification):
    pass


class MegatronBertForQuestionAnswering(_Megatron, heads.BertForQuestionAnswering):
    pass
