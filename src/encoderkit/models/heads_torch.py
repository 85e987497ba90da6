"""The torch modules of the extraction heads (imported only when torch runs them or trains them).

* :class:`TaggerModule`: transformer + optional casing embedding (added to the input embeddings of
  each sub-token, see :mod:`.casing`) + linear tag classifier (+ optional CRF transitions, trained with
  pytorch-crf's negative log-likelihood).
* :class:`SpanPairModule`: transformer whose input carries entity marker tokens; the states of the
  start markers of the argument(s) are concatenated, layer-normalised and classified by one linear layer
  per output head ("entity markers, entity start" of Baldini Soares et al., 2019).

Both return one logits tensor, so an ONNX export has a single output.
"""

from __future__ import annotations

import torch
from torch import nn

from .casing import CASES
from .head_io import torch_inputs


class TaggerModule(nn.Module):
    def __init__(self, encoder, n_labels: int, *, case_features: bool, crf: bool, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
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


def torch_runner(module, names: list[str]):
    """feats (numpy) -> logits (numpy float32), running ``module`` under inference mode."""
    import numpy as np

    def run(feats: dict) -> np.ndarray:
        inputs = {k: torch.from_numpy(np.ascontiguousarray(feats[k])) for k in names if k in feats}
        was_training = module.training
        module.eval()
        try:
            with torch.inference_mode():
                out = module(**inputs)
        finally:
            module.train(was_training)
        return out.float().numpy()

    return run
