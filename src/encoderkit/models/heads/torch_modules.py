"""The torch modules of encoderkit's trained heads (imported only when torch runs or trains them).

* :class:`ClassifierModule`: transformer body -> pooling -> [L2 normalisation] -> [dropout] -> one linear
  layer (logits). The pooled (and normalised) sentence embedding is what the linear head reads, so a
  head fitted on frozen embeddings (the linear probe, the SetFit head, the label embeddings of
  zero-shot) is the same layer that full fine-tuning starts from (LP-FT, Kumar et al. 2022,
  "Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution").
* :class:`TaggerModule`: transformer + optional casing embedding (added to the input embeddings of
  each sub-token, see :mod:`.casing`) + linear tag classifier (+ optional CRF transitions, trained with
  pytorch-crf's negative log-likelihood).
* :class:`SpanPairModule`: transformer whose input carries entity marker tokens; the states of the
  start markers of the argument(s) are concatenated, layer-normalised and classified by one linear layer
  per output head ("entity markers, entity start" of Baldini Soares et al., 2019).

Each returns one logits output, so an ONNX export has a single output.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .casing import CASES
from .pooling import pool


def torch_inputs(module) -> list[str]:
    """Which of input_ids / attention_mask / token_type_ids the transformer's forward takes."""
    import inspect

    params = inspect.signature(module.forward).parameters
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]


class TaggerModule(nn.Module):
    def __init__(self, encoder, n_labels: int, *, case_features: bool, crf: bool, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config  # what Backbone and TorchRunner read
        hidden = encoder.config.hidden_size
        self.case_embeddings = nn.Embedding(len(CASES), hidden) if case_features else None
        if self.case_embeddings is not None:
            nn.init.zeros_(self.case_embeddings.weight)  # start from the unchanged encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)
        if crf:
            from torchcrf import CRF

            self.crf = CRF(n_labels, batch_first=True)
        else:
            self.crf = None
        self._inputs = torch_inputs(encoder)

    def forward(self, input_ids, attention_mask, token_type_ids=None, case_ids=None):
        """Emission scores [batch, tokens, labels]."""
        emb = self.encoder.get_input_embeddings()(input_ids)
        if self.case_embeddings is not None and case_ids is not None:
            emb = emb + self.case_embeddings(case_ids)
        kwargs = {"inputs_embeds": emb, "attention_mask": attention_mask}
        if token_type_ids is not None and "token_type_ids" in self._inputs:
            kwargs["token_type_ids"] = token_type_ids
        states = self.encoder(**kwargs).last_hidden_state
        return self.classifier(self.dropout(states))


class SpanPairModule(nn.Module):
    """``heads``: output name -> number of labels; ``n_args``: 2 (relations) or 1 (span attributes)."""

    def __init__(self, encoder, heads: dict[str, int], *, n_args: int = 2, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config  # what Backbone and TorchRunner read
        self.n_args = n_args
        self.head_names = list(heads)
        hidden = encoder.config.hidden_size * n_args
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, sum(heads.values()))
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)
        self._inputs = torch_inputs(encoder)

    def forward(self, input_ids, attention_mask, token_type_ids=None, e1_pos=None, e2_pos=None):
        """Logits [batch, sum of the heads' labels] from the states at the start markers."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and "token_type_ids" in self._inputs:
            kwargs["token_type_ids"] = token_type_ids
        states = self.encoder(**kwargs).last_hidden_state
        rows = torch.arange(states.shape[0])
        pooled = states[rows, e1_pos]
        if self.n_args == 2:
            pooled = torch.cat([pooled, states[rows, e2_pos]], dim=-1)
        return self.classifier(self.dropout(self.norm(pooled)))


class ClassifierModule(torch.nn.Module):
    """``body``: a transformers encoder (``AutoModel``); the head has ``n_labels`` outputs."""

    def __init__(
        self,
        body,
        n_labels: int,
        *,
        pooling: str = "mean",
        normalize: bool = True,
        dropout: float = 0.0,
        body_is_base: bool = False,
    ):
        super().__init__()
        self.body = body
        self.body_is_base = body_is_base  # the body holds the base model's weights unchanged (probe, zero-shot)
        self.pooling = pooling
        self.normalize = normalize
        self.config = body.config  # what Backbone and TorchRunner read
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(int(body.config.hidden_size), int(n_labels))

    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """The sentence embedding the head reads: [batch, hidden]."""
        kw = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        hidden = self.body(**kw).last_hidden_state
        vec = pool(hidden, attention_mask, self.pooling)
        if self.normalize:
            vec = torch.nn.functional.normalize(vec.float(), dim=-1)
        return vec

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> SequenceClassifierOutput:
        vec = self.embed(input_ids, attention_mask, token_type_ids)
        logits = self.head(self.dropout(vec).to(self.head.weight.dtype))
        return SequenceClassifierOutput(logits=logits)

    def set_head(self, weight, bias) -> None:
        """Load head weights given as numpy arrays or tensors ([n_labels, hidden], [n_labels])."""
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def merged_body_state(body) -> dict[str, torch.Tensor]:
    """The body's weights as a plain transformers state dict. A peft LoRA body is merged on the fly
    (W + scaling * B @ A for each adapted layer) without touching the live module, so training can
    go on (and resume exactly) after an export."""
    try:
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft is optional
        PeftModel = LoraLayer = None
    if PeftModel is None or not isinstance(body, PeftModel):
        return {k: v.detach().clone().contiguous() for k, v in body.state_dict().items()}
    base = body.get_base_model()
    deltas = {}
    for name, mod in base.named_modules():
        if isinstance(mod, LoraLayer):
            for adapter in mod.active_adapters:
                if adapter in mod.lora_A:
                    d = mod.get_delta_weight(adapter).detach()
                    deltas[name] = deltas.get(name, 0) + d
    out = {}
    for key, value in base.state_dict().items():
        if ".lora_" in key:
            continue
        clean = key.replace(".base_layer.", ".")
        owner = clean.rsplit(".", 1)[0]
        value = value.detach().clone()
        if clean.endswith(".weight") and owner in deltas:
            value = value + deltas[owner].to(value.dtype)
        out[clean] = value.contiguous()
    return out
