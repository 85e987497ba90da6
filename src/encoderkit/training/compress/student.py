"""Build a compact student from a teacher transformer: a subset of its layers, optionally a smaller
hidden size, every kept weight copied from the teacher.

* Layer subset (DistilBERT, Sanh et al. 2019: "initialise the student from the teacher by taking one
  layer out of two"; Sajjad et al. 2023, "On the effect of dropping layers of pre-trained transformer
  models", compare which layers to keep). :func:`select_layers` offers ``even`` (evenly spaced, first
  and last kept: the last layer is what the pooled sentence vector was trained on), ``alternate``
  (DistilBERT's every other layer from the first), ``bottom``, ``top`` or explicit indices.
* Width (optional): the hidden size, attention heads and feed-forward neurons are pruned by activation
  importance on a calibration batch, as in Minitron (Muralidharan et al. 2024, "Compact language models
  via pruning and knowledge distillation"): a hidden channel's importance is the mean magnitude of the
  LayerNorm outputs in that channel, a head's the norm of its attention output, a neuron's the mean
  magnitude of its activation. Heads keep their size (``width`` must be a multiple of it); the
  feed-forward size shrinks in proportion. Kept rows and columns are copied exactly, in their
  original order. Width pruning knows the BERT layout (BERT, RoBERTa, XLM-R, ELECTRA, MiniLM).

Written by hand: no maintained library copies a layer subset of a sentence encoder or prunes its
width (transformers' ``prune_heads`` removes heads only and keeps the hidden size).

>>> select_layers(6, 3, "even"), select_layers(6, 3, "alternate"), select_layers(12, 4, "even")
([0, 2, 5], [0, 2, 4], [0, 4, 7, 11])
>>> select_layers(6, 2, "top"), select_layers(6, 3, "1,3,5")
([4, 5], [1, 3, 5])
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Sequence

from ...errors import EncoderkitError

SELECTIONS = ("even", "alternate", "bottom", "top")
WIDTH_TYPES = ("bert", "roberta", "xlm-roberta", "electra")
_LAYER_KEY = re.compile(r"^(.*?\blayer\.)(\d+)(\..*)$")


def select_layers(n_teacher: int, n_student: int, how: str = "even") -> list[int]:
    """Teacher layer indices (0-based, increasing) the student keeps."""
    if not 1 <= n_student <= n_teacher:
        raise EncoderkitError(f"--layers {n_student}: the teacher has {n_teacher} layers", hint=f"use 1..{n_teacher}")
    if how == "even":
        if n_student == 1:
            return [n_teacher - 1]
        # evenly spaced from the first to the last layer, rounded half down so ties keep lower layers
        return [int(i * (n_teacher - 1) / (n_student - 1) + 0.5 - 1e-9) for i in range(n_student)]
    if how == "alternate":
        step = max(1, n_teacher // n_student)
        return list(range(0, n_teacher, step))[:n_student]
    if how == "bottom":
        return list(range(n_student))
    if how == "top":
        return list(range(n_teacher - n_student, n_teacher))
    try:
        chosen = [int(x) for x in how.split(",") if x.strip()]
    except ValueError:
        raise EncoderkitError(
            f"unknown layer selection '{how}'", hint=f"use {', '.join(SELECTIONS)} or indices such as 0,2,5"
        ) from None
    if len(chosen) != n_student or sorted(set(chosen)) != chosen or chosen[0] < 0 or chosen[-1] >= n_teacher:
        raise EncoderkitError(
            f"layer indices '{how}' must be {n_student} increasing numbers in 0..{n_teacher - 1}",
            hint="e.g. --layer-selection 0,2,5",
        )
    return chosen


def n_layers_key(config) -> str:
    """Name of the config attribute holding the number of layers."""
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if hasattr(config, key):
            return key
    raise EncoderkitError(f"cannot tell the number of layers of a {config.model_type} model")


def remap_layers(state: dict, layers: Sequence[int]) -> dict:
    """The state dict of a model keeping ``layers``: layer ``layers[j]`` becomes layer ``j``; layers not
    kept are dropped; everything else (embeddings, pooler) is kept as is.

    >>> sorted(remap_layers({"encoder.layer.0.w": 0, "encoder.layer.2.w": 2, "emb.w": 9}, [2]).items())
    [('emb.w', 9), ('encoder.layer.0.w', 2)]
    """
    new_index = {old: new for new, old in enumerate(layers)}
    out = {}
    for key, value in state.items():
        m = _LAYER_KEY.match(key)
        if m is None:
            out[key] = value
        elif int(m.group(2)) in new_index:
            out[f"{m.group(1)}{new_index[int(m.group(2))]}{m.group(3)}"] = value
    return out


@dataclass
class StudentPlan:
    """What the student keeps of the teacher (recorded in its model card)."""

    layers: list[int]
    hidden: list[int] | None = None  # kept hidden channels (None: all)
    heads: list[list[int]] = field(default_factory=list)  # kept heads per student layer (empty: all)
    neurons: list[list[int]] = field(default_factory=list)  # kept feed-forward neurons per student layer

    def summary(self) -> dict:
        return {
            "layers": self.layers,
            "hidden_kept": None if self.hidden is None else len(self.hidden),
            "heads_kept": [h for h in self.heads] or None,
            "ffn_kept": [len(n) for n in self.neurons] or None,
        }


def build_student(teacher, layers: Sequence[int], *, width: int | None = None, calibration=None):
    """(student, plan): a model of the teacher's class with ``layers`` copied from it, and with
    ``width`` (a smaller hidden size) the kept channels, heads and neurons of those layers.
    ``calibration``: tokenized inputs (dict of tensors) the width pruning measures importance on."""
    cfg = copy.deepcopy(teacher.config)
    setattr(cfg, n_layers_key(cfg), len(layers))
    plan = StudentPlan(list(layers))
    state = remap_layers(teacher.state_dict(), layers)
    if width is not None and width != cfg.hidden_size:
        if cfg.model_type not in WIDTH_TYPES:
            raise EncoderkitError(
                f"--width is supported for {', '.join(WIDTH_TYPES)} models, not {cfg.model_type}",
                hint="leave --width out (layer subset only)",
            )
        head_dim = cfg.hidden_size // cfg.num_attention_heads
        if width % head_dim or not 0 < width < cfg.hidden_size:
            raise EncoderkitError(
                f"--width {width} must be a multiple of the head size {head_dim} below {cfg.hidden_size}",
                hint=f"e.g. --width {cfg.hidden_size - 2 * head_dim}",
            )
        if calibration is None:
            raise EncoderkitError("width pruning needs calibration texts")
        importance = activation_importance(teacher, calibration, layers)
        n_heads = width // head_dim
        n_ffn = max(1, round(cfg.intermediate_size * width / cfg.hidden_size))
        plan.hidden = _top(importance["hidden"], width)
        plan.heads = [_top(h, n_heads) for h in importance["heads"]]
        plan.neurons = [_top(n, n_ffn) for n in importance["neurons"]]
        state = prune_state(state, plan, head_dim)
        cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size = width, n_heads, n_ffn
    student = type(teacher)(cfg)
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:  # every weight must come from the teacher: never a silent random layer
        raise EncoderkitError(f"student initialisation left weights unset: {(missing + unexpected)[:4]}")
    student.train()
    return student, plan


def _top(scores, k: int) -> list[int]:
    """Indices of the ``k`` largest scores, in increasing index order."""
    import torch

    return sorted(torch.topk(scores, k).indices.tolist())


def activation_importance(teacher, calibration: dict, layers: Sequence[int]) -> dict:
    """Minitron-style activation importance on the calibration batch (padding excluded):
    ``hidden`` [H] (LayerNorm outputs of the embeddings and the kept layers), ``heads`` per kept layer
    [n_heads], ``neurons`` per kept layer [intermediate]."""
    import torch

    cfg = teacher.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    mask = calibration["attention_mask"].bool()
    hidden = torch.zeros(cfg.hidden_size)
    heads: dict[int, torch.Tensor] = {}
    neurons: dict[int, torch.Tensor] = {}

    def tokens(x):  # [B, T, D] -> [real tokens, D]
        return x[mask]

    def on_norm(_m, _i, out):
        hidden.add_(tokens(out).abs().mean(0))

    hooks = []
    base = teacher.base_model
    hooks.append(base.embeddings.LayerNorm.register_forward_hook(on_norm))
    for j, li in enumerate(layers):
        layer = base.encoder.layer[li]

        def on_heads(_m, _i, out, j=j):
            ctx = tokens(out[0] if isinstance(out, tuple) else out)
            heads[j] = ctx.view(ctx.shape[0], -1, head_dim).norm(dim=-1).mean(0)

        def on_ffn(_m, _i, out, j=j):
            neurons[j] = tokens(out).abs().mean(0)

        hooks.append(layer.attention.self.register_forward_hook(on_heads))
        hooks.append(layer.intermediate.register_forward_hook(on_ffn))
        hooks.append(layer.attention.output.LayerNorm.register_forward_hook(on_norm))
        hooks.append(layer.output.LayerNorm.register_forward_hook(on_norm))
    was_training = teacher.training
    teacher.eval()
    try:
        with torch.no_grad():
            teacher(**calibration)
    finally:
        for h in hooks:
            h.remove()
        teacher.train(was_training)
    return {
        "hidden": hidden,
        "heads": [heads[j] for j in range(len(layers))],
        "neurons": [neurons[j] for j in range(len(layers))],
    }


def prune_state(state: dict, plan: StudentPlan, head_dim: int) -> dict:
    """The kept rows/columns of every tensor of a (layer-remapped) BERT-layout state dict: hidden
    channels everywhere, heads in the attention projections, neurons in the feed-forward block."""
    import torch

    h = torch.tensor(plan.hidden)
    size = None  # the teacher's hidden size, read from the word embeddings
    for key, t in state.items():
        if key.endswith("word_embeddings.weight"):
            size = t.shape[1]
    if size is None:
        raise EncoderkitError("width pruning found no word embeddings in the teacher")

    def head_rows(j):
        return torch.tensor([hd * head_dim + d for hd in plan.heads[j] for d in range(head_dim)])

    out = {}
    for key, t in state.items():
        m = _LAYER_KEY.match(key)
        j, rest = (int(m.group(2)), m.group(3)) if m else (None, key)
        if not t.is_floating_point():  # buffers such as position_ids
            out[key] = t
        elif j is not None and re.search(r"attention\.self\.(query|key|value)\.weight$", rest):
            out[key] = t[head_rows(j)][:, h]
        elif j is not None and re.search(r"attention\.self\.(query|key|value)\.bias$", rest):
            out[key] = t[head_rows(j)]
        elif j is not None and rest.endswith("attention.output.dense.weight"):
            out[key] = t[h][:, head_rows(j)]
        elif j is not None and rest.endswith("intermediate.dense.weight"):
            out[key] = t[torch.tensor(plan.neurons[j])][:, h]
        elif j is not None and rest.endswith("intermediate.dense.bias"):
            out[key] = t[torch.tensor(plan.neurons[j])]
        elif j is not None and rest.endswith("output.dense.weight"):  # feed-forward output [hidden, ffn]
            out[key] = t[h][:, torch.tensor(plan.neurons[j])]
        elif t.ndim == 2 and t.shape == (size, size):  # pooler: hidden -> hidden
            out[key] = t[h][:, h]
        elif t.ndim == 2 and t.shape[1] == size:  # embeddings [vocab or positions, hidden]
            out[key] = t[:, h]
        elif t.ndim == 1 and t.shape[0] == size:  # LayerNorm weights and biases, output biases
            out[key] = t[h]
        else:
            raise EncoderkitError(f"width pruning does not know the tensor {key} {tuple(t.shape)}")
    return out
