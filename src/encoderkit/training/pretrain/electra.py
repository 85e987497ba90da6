"""ELECTRA replaced-token detection (Clark, Luong, Le & Manning, ICLR 2020).

A small masked-LM *generator* fills the masked positions with tokens sampled from its softmax; the
*discriminator* (the encoder being trained) sees the corrupted sequence and predicts, for every
non-special, non-padding token, whether it is the original or a replacement. A sampled token equal to
the original counts as *original* (paper, section 2). Loss = MLM_gen + λ·RTD with λ = 50. The
generator and discriminator share the embeddings (token, position, type, embedding LayerNorm); the
generator is smaller (``size`` scales its hidden, intermediate size and heads; the paper finds 1/4 to
1/2 of the discriminator best) and projects the shared embeddings to its own width, as ELECTRA's
``embedding_size != hidden_size`` does. Sampling is not differentiated through (the generator is
trained by its MLM loss only). Generator input masking follows the official implementation:
85% [MASK], 15% unchanged (:data:`GENERATOR_MASKING`).

The discriminator is any transformers encoder (``AutoModel``, e.g. the bundled MiniLM's ``BertModel``)
plus :class:`RTDHead` (dense + activation + dense to 1 logit, like ``ElectraDiscriminatorPredictions``);
the generator is a ``transformers.ElectraForMaskedLM`` whose embedding module *is* the
discriminator's.

>>> import torch
>>> original = torch.tensor([[101, 5, 6, 7, 102]])
>>> sampled = torch.tensor([[101, 9, 6, 7, 102]])      # position 2 was sampled back to the original
>>> selected = torch.tensor([[False, True, True, False, False]])
>>> rtd_labels(original, sampled, selected).tolist()
[[0.0, 1.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import torch
from torch import nn

from .masking import MaskSpec

GENERATOR_MASKING = dict(mask_frac=0.85, random_frac=0.0)
RTD_WEIGHT = 50.0


class RTDHead(nn.Module):
    """Per-token original/replaced logit: dense(H, H) -> activation -> dense(H, 1)."""

    def __init__(self, hidden: int, activation: str = "gelu"):
        super().__init__()
        from transformers.activations import get_activation

        self.dense = nn.Linear(hidden, hidden)
        self.activation = get_activation(activation)
        self.dense_prediction = nn.Linear(hidden, 1)
        for lin in (self.dense, self.dense_prediction):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.activation(self.dense(hidden))).squeeze(-1)


def generator_config(disc_config, size: float = 0.25, layers: int | None = None):
    """ElectraConfig of a generator ``size`` times the discriminator's width, sharing its embedding size."""
    from transformers import ElectraConfig

    from ...errors import EncoderkitError

    if not 0.0 < size <= 1.0:
        raise EncoderkitError(f"generator size {size} is not in (0, 1]", hint="the paper uses 0.25-0.5")
    hidden = disc_config.hidden_size
    head_dim = hidden // disc_config.num_attention_heads
    gen_hidden = max(16, int(round(hidden * size)))  # ELECTRA-Small: 256 -> 64 at size 1/4
    heads = max(1, gen_hidden // head_dim)  # keep the discriminator's head width where possible
    while gen_hidden % heads:
        heads -= 1
    emb = disc_config.get_input_embeddings_size() if hasattr(disc_config, "get_input_embeddings_size") else None
    return ElectraConfig(
        vocab_size=disc_config.vocab_size,
        embedding_size=getattr(disc_config, "embedding_size", None) or emb or hidden,
        hidden_size=gen_hidden,
        num_hidden_layers=layers or disc_config.num_hidden_layers,
        num_attention_heads=heads,
        intermediate_size=max(4, int(round(disc_config.intermediate_size * gen_hidden / hidden))),
        max_position_embeddings=disc_config.max_position_embeddings,
        type_vocab_size=getattr(disc_config, "type_vocab_size", 2),
        pad_token_id=disc_config.pad_token_id if disc_config.pad_token_id is not None else 0,
        hidden_act="gelu",
        layer_norm_eps=getattr(disc_config, "layer_norm_eps", 1e-12),
        tie_word_embeddings=True,
    )


def share_embeddings(generator, discriminator) -> None:
    """Make the generator use the discriminator's embedding module, and tie its output layer to it."""
    generator.electra.embeddings = discriminator.embeddings
    generator.generator_lm_head.weight = discriminator.embeddings.word_embeddings.weight


def build_generator(discriminator, size: float = 0.25, layers: int | None = None, seed: int = 0):
    """A new random generator sharing ``discriminator``'s embeddings."""
    from transformers import ElectraForMaskedLM

    torch.manual_seed(seed)
    gen = ElectraForMaskedLM(generator_config(discriminator.config, size, layers))
    share_embeddings(gen, discriminator)
    return gen


def sample_replacements(logits: torch.Tensor, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """One token per row drawn from softmax(logits / temperature), without gradient.

    Inverse-CDF sampling (one uniform per row, ``searchsorted`` in the cumulative distribution):
    ``torch.multinomial`` draws an exponential per vocabulary entry, which took 40% of a small RTD step
    on a CPU. float32 cumulative sums shift probabilities by ~1e-5 at most, irrelevant here.
    """
    with torch.no_grad():
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        cdf = probs.cumsum(dim=-1)
        u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=cdf.dtype) * cdf[:, -1:]
        return torch.searchsorted(cdf, u).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


def rtd_labels(original: torch.Tensor, corrupted: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """1.0 where the discriminator input differs from the original (a sample equal to it is 'original')."""
    return ((corrupted != original) & selected).float()


def corrupt(original: torch.Tensor, selected: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """The discriminator's input: original ids with every selected position set to its sample."""
    out = original.clone()
    out[selected] = samples
    return out


def generator_spec(prob: float = 0.15, strategy: str = "token") -> MaskSpec:
    return MaskSpec(prob=prob, strategy=strategy, **GENERATOR_MASKING)
