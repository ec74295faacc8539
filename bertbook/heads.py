"""Every head that sits on top of `BertModel`, with the losses ``transformers`` uses.

    BertForPreTraining             MLM + NSP, the original pre-training objective
    BertForMaskedLM                MLM only
    BertLMHeadModel                BERT as a causal (left-to-right) language model
    BertForNextSentencePrediction  NSP only
    BertForSequenceClassification  pooled [CLS] -> labels (single-label, regression, multi-label)
    BertForMultipleChoice          one score per (context, choice) pair, softmax over the choices
    BertForTokenClassification     one label per token (NER)
    BertForQuestionAnswering       start / end logits of the answer span

Names and state-dict keys are those of ``transformers.models.bert.modeling_bert``. The MLM
decoder shares its weight with the input word embeddings ("tied"), as in the original BERT.
Each model builds its encoder from ``self.base_model_class`` (``BertModel``; megatron.py swaps in
its pre-LN encoder). The forward passes check label shapes and dtypes only: label *values* are
checked on the host by ``bertbook.checks.validate_inputs`` and the collators, so no forward pass
waits on the device.

Shapes: B batch, T sequence length, H hidden, V vocabulary, C choices, K labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .modeling import ACTIVATIONS, BertConfig, BertPreTrainedModel, ModelOutput, check_shapes

IGNORE_INDEX = -100  # label value that CrossEntropyLoss skips (PyTorch's default ignore_index)


# ----------------------------------------------------------------------------- outputs


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None  # (B, T, V), or (N, V) at the N masked positions when sparse
    seq_relationship_logits: torch.Tensor | None = None  # (B, 2)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, V), or (N, V) when sparse
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class CausalLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, V)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, 2): index 0 = "B follows A", 1 = "B is random"
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, K)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, C)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # of the flattened (B*C, T) batch
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, K)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None  # (B, T)
    end_logits: torch.Tensor | None = None  # (B, T)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


# ----------------------------------------------------------------------------- label shapes


def check_labels(labels: torch.Tensor, shape: tuple, name: str = "labels") -> torch.Tensor:
    """Class-index labels: a tensor of integers of the given shape (values: checks.py).
    One label per sequence may come as (B,) or (B, 1), as in transformers."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if len(shape) == 1 and labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels.view(-1)  # (B, 1) -> (B,)
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point:
        raise TypeError(f"{name} must hold integer class ids (torch.long), got dtype {labels.dtype}")
    return labels


def _outputs(out) -> dict:
    return {"hidden_states": out.hidden_states, "attentions": out.attentions}


# ----------------------------------------------------------------------------- MLM and NSP heads


class BertPredictionHeadTransform(nn.Module):
    """dense -> activation -> LayerNorm, applied to every position before the vocabulary projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))  # (..., H)


class BertLMPredictionHead(nn.Module):
    """Transform, then project onto the vocabulary with the (tied) word-embedding matrix plus a bias.

    Trap: ``decoder.weight`` must be the *same Parameter* as ``bert.embeddings.word_embeddings.weight``
    (the model ties them in ``tie_weights``), and ``decoder.bias`` the same Parameter as ``bias``: HF
    checkpoints store the output bias as ``cls.predictions.bias``.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))  # (..., V)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


class BertOnlyNSPHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.seq_relationship(pooled_output)  # (B, 2)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, sequence_output: torch.Tensor, pooled_output: torch.Tensor):
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


def masked_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat indices of the positions that carry an MLM label (label != -100)."""
    return (labels.reshape(-1) != IGNORE_INDEX).nonzero(as_tuple=True)[0]  # (N,)


class _TiedMLMMixin:
    """Ties the MLM decoder to the input embeddings (shared by every model with ``self.cls.predictions``)."""

    tied_weights_keys = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")

    def tie_weights(self) -> None:
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        self.cls.predictions.decoder.bias = self.cls.predictions.bias

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def _mlm_logits_and_loss(self, sequence_output, labels, sparse_prediction):
        """The MLM logits and loss. With ``sparse_prediction`` the vocabulary projection runs only at
        the N labelled positions: (N, H) x (H, V) instead of (B*T, H) x (H, V), which for a small
        model is most of the step. Only the labelled positions enter the loss, so it is identical."""
        V = self.config.vocab_size
        if sparse_prediction:
            if labels is None:
                raise ValueError("sparse_prediction=True needs labels: it predicts only at labelled positions")
            idx = masked_positions(labels)  # (N,)
            hidden = sequence_output.reshape(-1, sequence_output.shape[-1]).index_select(0, idx)  # (N, H)
            logits = self.cls.predictions(hidden)  # (N, V)
            # Trap: with no labelled position at all, cross_entropy(mean) of an empty batch is NaN;
            # HF's dense loss is NaN too, so we keep it, but callers should not feed such batches.
            loss = F.cross_entropy(logits, labels.reshape(-1).index_select(0, idx))
            return logits, loss
        logits = self.cls.predictions(sequence_output)  # (B, T, V)
        loss = None
        if labels is not None:
            # Mean over labelled positions only: ignore_index drops the -100s from numerator *and* denominator.
            loss = F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=IGNORE_INDEX)
        return logits, loss


# ----------------------------------------------------------------------------- pre-training


class BertForPreTraining(_TiedMLMMixin, BertPreTrainedModel):
    """MLM + NSP. ``loss = MLM cross-entropy (mean over masked tokens) + NSP cross-entropy``."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = self.base_model_class(config)
        self.cls = BertPreTrainingHeads(config)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, next_sentence_label=None, output_attentions=False, output_hidden_states=False,
                sparse_prediction=False) -> BertForPreTrainingOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        B, T = out.last_hidden_state.shape[:2]
        if labels is not None:
            check_labels(labels, (B, T))
        if next_sentence_label is not None:
            # NSP labels are 0/1 only: -100 there is a data bug (NSP trained with the MLM ignore
            # index). Trap: cross_entropy skips -100 by default, so the model would silently drop
            # such a pair (as transformers does); checks.validate_inputs rejects it on the host.
            next_sentence_label = check_labels(next_sentence_label, (B,), "next_sentence_label")
        prediction_logits, mlm_loss = self._mlm_logits_and_loss(out.last_hidden_state, labels, sparse_prediction)
        seq_relationship_logits = self.cls.seq_relationship(out.pooler_output)  # (B, 2)
        loss = None
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(seq_relationship_logits.view(-1, 2), next_sentence_label)
            # Deliberate difference: transformers returns no loss unless *both* label kinds are given;
            # we return the parts that were asked for. With both, the value is identical.
            loss = nsp_loss if mlm_loss is None else mlm_loss + nsp_loss
        elif mlm_loss is not None:
            loss = mlm_loss
        return BertForPreTrainingOutput(loss, prediction_logits, seq_relationship_logits, **_outputs(out))


class BertForMaskedLM(_TiedMLMMixin, BertPreTrainedModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = self.base_model_class(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False, sparse_prediction=False) -> MaskedLMOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        if labels is not None:
            check_labels(labels, tuple(out.last_hidden_state.shape[:2]))
        logits, loss = self._mlm_logits_and_loss(out.last_hidden_state, labels, sparse_prediction)
        return MaskedLMOutput(loss, logits, **_outputs(out))


class BertLMHeadModel(_TiedMLMMixin, BertPreTrainedModel):
    """BERT as a left-to-right decoder: causal self-attention (``config.is_decoder=True``) and the MLM
    head predicting the *next* token. ``labels`` are the input ids themselves; the shift happens here."""

    def __init__(self, config: BertConfig):
        if not config.is_decoder:
            raise ValueError("BertLMHeadModel needs a causal encoder: build it with BertConfig(is_decoder=True)")
        super().__init__(config)
        self.bert = self.base_model_class(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> CausalLMOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.cls(out.last_hidden_state)  # (B, T, V)
        loss = None
        if labels is not None:
            check_labels(labels, tuple(logits.shape[:2]))
            # Position t predicts token t+1: drop the last logit and the first label.
            shift_logits = logits[:, :-1, :].float()  # (B, T-1, V); fp32 for the loss, as HF
            shift_labels = labels[:, 1:]  # (B, T-1)
            loss = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                                   ignore_index=IGNORE_INDEX)
        return CausalLMOutput(loss, logits, **_outputs(out))

    @torch.no_grad()
    def generate_greedy(self, input_ids: torch.Tensor, max_new_tokens: int, eos_token_id: int | None = None) -> torch.Tensor:
        """Greedy decoding without a KV cache: re-encode the whole prefix at every step (clear, O(T^2))."""
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if input_ids.shape[1] + max_new_tokens > self.config.max_position_embeddings:
            raise ValueError(
                f"prompt length {input_ids.shape[1]} + max_new_tokens {max_new_tokens} exceeds "
                f"max_position_embeddings={self.config.max_position_embeddings}"
            )
        ids = input_ids
        finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            next_ids = self(ids).logits[:, -1, :].argmax(dim=-1)  # (B,)
            if eos_token_id is not None:
                next_ids = next_ids.masked_fill(finished, eos_token_id)
                finished |= next_ids == eos_token_id
            ids = torch.cat([ids, next_ids[:, None]], dim=1)
            if eos_token_id is not None and bool(finished.all()):
                break
        return ids


class BertForNextSentencePrediction(BertPreTrainedModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = self.base_model_class(config)
        self.cls = BertOnlyNSPHead(config)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> NextSentencePredictorOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.cls(out.pooler_output)  # (B, 2)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, check_labels(labels, (logits.shape[0],)))
        return NextSentencePredictorOutput(loss, logits, **_outputs(out))


# ----------------------------------------------------------------------------- fine-tuning heads


class BertForSequenceClassification(BertPreTrainedModel):
    """pooled [CLS] -> dropout -> linear (H -> K). The loss follows ``config.problem_type``:

    * ``regression`` (MSE; K = 1 is the usual case),
    * ``single_label_classification`` (cross-entropy over K classes, integer labels),
    * ``multi_label_classification`` (BCE with logits, K independent 0/1 targets, float labels).

    When ``problem_type`` is None it is inferred per call exactly as HF does: K == 1 -> regression;
    integer labels -> single-label; otherwise multi-label. Deliberate difference: HF *writes* the
    inferred type into the config on the first call, so one call with float labels silently changes
    every later call; we leave the config alone.
    """

    add_pooling_layer = True  # the sentence vector is the pooler's; see BertForMeanPoolClassification

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = self.base_model_class(config, add_pooling_layer=self.add_pooling_layer)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def sentence_vector(self, out, attention_mask) -> torch.Tensor:
        return out.pooler_output  # (B, H): tanh(W h_[CLS] + b)

    def problem_type_for(self, labels: torch.Tensor) -> str:
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.num_labels == 1:
            return "regression"
        if labels.dtype in (torch.long, torch.int):
            return "single_label_classification"
        return "multi_label_classification"

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> SequenceClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(self.sentence_vector(out, attention_mask)))  # (B, K)
        loss = None
        if labels is not None:
            loss = self.loss(logits, labels)
        return SequenceClassifierOutput(loss, logits, **_outputs(out))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        B, K = logits.shape
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        problem = self.problem_type_for(labels)
        if problem == "regression":
            if labels.shape not in ((B,), (B, K)) and not (K == 1 and labels.shape == (B, 1)):
                raise ValueError(f"regression labels must have shape ({B},) or ({B}, {K}), got {tuple(labels.shape)}")
            labels = labels.to(logits.dtype)
            if K == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze())
            return F.mse_loss(logits, labels)
        if problem == "single_label_classification":
            # Every example must have a class: cross_entropy would skip a -100 silently (as in
            # transformers), so checks.validate_inputs rejects it on the host.
            return F.cross_entropy(logits, check_labels(labels, (B,)))
        # multi-label: one independent sigmoid per class
        if tuple(labels.shape) != (B, K):
            raise ValueError(f"multi-label labels must have shape ({B}, {K}) of 0/1 targets, got {tuple(labels.shape)}")
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class BertForMeanPoolClassification(BertForSequenceClassification):
    """Sentence classification from the *mean of the token vectors* instead of the pooler.

    BERT's pooler was trained by NSP to summarise the pair in [CLS]. A checkpoint trained another
    way may have a pooler that means nothing: sentence-transformers' MiniLM was trained on the
    mean of its token vectors and its pooler never was. For such a checkpoint, classify what it
    was trained to produce. Same losses and state-dict keys as BertForSequenceClassification,
    without the pooler (transformers has no such class: its BertForSequenceClassification would
    load this checkpoint with a fresh pooler and read [CLS]).
    """

    add_pooling_layer = False

    def sentence_vector(self, out, attention_mask) -> torch.Tensor:
        h = out.last_hidden_state  # (B, T, H)
        if attention_mask is None:
            return h.mean(dim=1)  # (B, H)
        m = attention_mask[:, :, None].to(h.dtype)  # (B, T, 1): padding counts 0
        return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)  # (B, H)


class BertForMultipleChoice(BertPreTrainedModel):
    """Score each (context, choice) pair with the pooled [CLS] and a 1-unit linear layer.

    Inputs are (B, C, T): flatten to (B*C, T), encode, score -> (B*C, 1), reshape to (B, C); the
    softmax over the C choices is inside the cross-entropy.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = self.base_model_class(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> MultipleChoiceModelOutput:
        B, C, T = check_shapes(self.config, input_ids, inputs_embeds, ndim=3,
                               attention_mask=attention_mask, token_type_ids=token_type_ids,
                               position_ids=position_ids)

        def flat(t):
            return None if t is None else t.reshape(B * C, *t.shape[2:])  # (B*C, T[, H])

        out = self.bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), flat(inputs_embeds),
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output)).view(B, C)  # (B*C, 1) -> (B, C)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, check_labels(labels, (B,)))
        return MultipleChoiceModelOutput(loss, logits, **_outputs(out))


class BertForTokenClassification(BertPreTrainedModel):
    """One label per token: sequence output -> dropout -> linear (H -> K). Labels -100 (sub-word
    continuations, special tokens, padding) are left out of the loss."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = self.base_model_class(config, add_pooling_layer=False)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, output_attentions=False, output_hidden_states=False) -> TokenClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, K)
        loss = None
        if labels is not None:
            check_labels(labels, tuple(logits.shape[:2]))
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1), ignore_index=IGNORE_INDEX)
        return TokenClassifierOutput(loss, logits, **_outputs(out))


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive QA: a linear layer (H -> 2) gives every token a start score and an end score.

    Loss = (CE(start) + CE(end)) / 2 over the T positions. As in HF, gold positions outside [0, T)
    are clamped to T and ignored (an answer cut off by truncation contributes nothing); a negative
    position is clamped to 0, the [CLS] "no answer in this window" target.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering needs num_labels=2 (start and end), got {config.num_labels}")
        self.bert = self.base_model_class(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                start_positions=None, end_positions=None, output_attentions=False, output_hidden_states=False
                ) -> QuestionAnsweringModelOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, T, 2)
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()  # (B, T)
        end_logits = end_logits.squeeze(-1).contiguous()  # (B, T)
        loss = None
        if (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions, or neither")
        if start_positions is not None:
            B, T = start_logits.shape
            positions = []
            for name, pos in (("start_positions", start_positions), ("end_positions", end_positions)):
                if not isinstance(pos, torch.Tensor):
                    raise TypeError(f"{name} must be a torch.Tensor, got {type(pos).__name__}")
                if tuple(pos.shape) not in ((B,), (B, 1)):
                    raise ValueError(f"{name} must have shape ({B},) (one position per sequence), got {tuple(pos.shape)}")
                if pos.dtype.is_floating_point:
                    raise TypeError(f"{name} must hold integer token positions, got dtype {pos.dtype}")
                positions.append(pos.view(-1).clamp(0, T))  # T = "outside the window": ignored below
            start_loss = F.cross_entropy(start_logits, positions[0], ignore_index=T)
            end_loss = F.cross_entropy(end_logits, positions[1], ignore_index=T)
            loss = (start_loss + end_loss) / 2
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, **_outputs(out))
