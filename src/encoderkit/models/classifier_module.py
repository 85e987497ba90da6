"""The torch module of a sequence classifier: transformer body -> pooling -> [L2 normalisation] ->
[dropout] -> one linear layer (logits). Trained by :mod:`encoderkit.training.classify`, run for
inference through :class:`encoderkit.models.classifier.Classifier` and traced for ONNX export.

The pooled (and normalised) sentence embedding is what the linear head reads, so a head fitted on
frozen embeddings (the linear probe, the SetFit head, the label embeddings of zero-shot) is the same
layer that full fine-tuning starts from (LP-FT, Kumar et al. 2022, "Fine-Tuning can Distort
Pretrained Features and Underperform Out-of-Distribution").
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from .pooling import pool


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
