"""The fairseq Transformer encoder-decoder forward pass in plain PyTorch.

It reproduces fairseq's ``transformer`` family at inference (see NOTES-fairseq.md in the
project's shared notes; parity is tested against real fairseq). It knows nothing of
alignment: a forced-decoding pass returns, for the decoder layers asked for, the
cross-attention weights and the per-head value vectors f(x), and runs no layer beyond
the deepest one asked for, and never the vocabulary projection.

Tensors are batch-first: (batch, time, channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Collection, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...contributions import SubLayer
from ..base import CrossAttention, ForcedDecoding

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    # fairseq computes gelu in float32 whatever the input dtype.
    "gelu": lambda x: F.gelu(x.float()).type_as(x),
    "gelu_accurate": lambda x: F.gelu(x.float(), approximate="tanh").type_as(x),
    "gelu_fast": lambda x: F.gelu(x.float(), approximate="tanh").type_as(x),
    "tanh": torch.tanh,
    "linear": lambda x: x,
    "swish": F.silu,
}


@dataclass(frozen=True)
class TransformerSpec:
    """What the forward pass needs to know beyond the weights' shapes."""

    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_normalize_before: bool = False
    decoder_normalize_before: bool = False
    encoder_learned_pos: bool = False
    decoder_learned_pos: bool = False
    no_token_positional_embeddings: bool = False
    layernorm_embedding: bool = False
    no_scale_embedding: bool = False
    activation_fn: str = "relu"
    max_source_positions: int = 1024
    max_target_positions: int = 1024
    encoder_final_norm: bool = False
    decoder_final_norm: bool = False
    padding_idx: int = 1


def make_positions(tokens: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """fairseq's position ids: count real tokens from the left, padding keeps ``padding_idx``."""
    mask = tokens.ne(padding_idx).int()
    return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + padding_idx


def sinusoidal_table(num_embeddings: int, dim: int, padding_idx: int) -> torch.Tensor:
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float) * -step)
    angles = torch.arange(num_embeddings, dtype=torch.float).unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2 == 1:
        table = torch.cat([table, torch.zeros(num_embeddings, 1)], dim=1)
    table[padding_idx, :] = 0
    return table


class PositionalEmbedding(nn.Module):
    def __init__(self, dim: int, padding_idx: int, learned_rows: Optional[int]):
        super().__init__()
        self.dim = dim
        self.padding_idx = padding_idx
        self.weight = nn.Parameter(torch.zeros(learned_rows, dim), requires_grad=False) if learned_rows else None
        self._table = torch.empty(0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = make_positions(tokens, self.padding_idx)
        if self.weight is not None:
            return F.embedding(positions, self.weight)
        needed = self.padding_idx + 1 + tokens.size(1)
        if self._table.size(0) < needed or self._table.device != tokens.device:
            self._table = sinusoidal_table(needed, self.dim, self.padding_idx).to(tokens.device)
        return self._table[positions]


class MultiheadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, kdim: int, vdim: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(kdim, embed_dim)
        self.v_proj = nn.Linear(vdim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _ = x.shape
        return x.view(batch, time, self.num_heads, self.head_dim).transpose(1, 2)

    def weights(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Float32 attention weights (batch, heads, target, source), softmax in float32 as fairseq."""
        # in place: these tensors are this function's own, and each copy is a pass over memory
        q = self._split_heads(self.q_proj(query).mul_(self.scaling))
        k = self._split_heads(self.k_proj(key))
        logits = torch.matmul(q, k.transpose(-1, -2))
        if attn_mask is not None:
            logits += attn_mask
        if key_padding_mask is not None:
            logits.masked_fill_(key_padding_mask[:, None, None, :], float("-inf"))
        return torch.softmax(logits.float(), dim=-1)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the output (batch, target, dim) and float32 weights (batch, heads, target, source)."""
        alpha = self.weights(query, key, key_padding_mask, attn_mask)
        v = self._split_heads(self.v_proj(key))
        mixed = torch.matmul(alpha.type_as(v), v)
        batch, _, target, _ = mixed.shape
        output = self.out_proj(mixed.transpose(1, 2).reshape(batch, target, -1))
        return output, alpha

    def value_vectors(self, key: torch.Tensor) -> torch.Tensor:
        """f^h(x_j) for every head and source token: (batch, heads, source, dim)."""
        values = self.v_proj(key).view(key.size(0), key.size(1), self.num_heads, self.head_dim)
        out_blocks = self.out_proj.weight.view(-1, self.num_heads, self.head_dim)
        return torch.einsum("bshd,chd->bhsc", values, out_blocks)


def _sublayer(x: torch.Tensor, norm: nn.LayerNorm, pre_norm: bool, run: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Residual block, post-norm ``LN(x + f(x))`` or pre-norm ``x + f(LN(x))``."""
    if pre_norm:
        return x + run(norm(x))
    return norm(x + run(x))


class _FeedForwardMixin:
    fc1: nn.Linear
    fc2: nn.Linear
    activation: Callable[[torch.Tensor], torch.Tensor]

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(x)))


class EncoderLayer(_FeedForwardMixin, nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int, pre_norm: bool, activation: str):
        super().__init__()
        self.pre_norm = pre_norm
        self.self_attn = MultiheadAttention(dim, heads, dim, dim)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation = ACTIVATIONS[activation]
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = _sublayer(x, self.self_attn_layer_norm, self.pre_norm, lambda h: self.self_attn(h, h, padding_mask)[0])
        return _sublayer(x, self.final_layer_norm, self.pre_norm, self.feed_forward)


class DecoderLayer(_FeedForwardMixin, nn.Module):
    def __init__(self, dim: int, encoder_dim: int, ffn_dim: int, heads: int, pre_norm: bool, activation: str):
        super().__init__()
        self.pre_norm = pre_norm
        self.self_attn = MultiheadAttention(dim, heads, dim, dim)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = MultiheadAttention(dim, heads, encoder_dim, encoder_dim)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation = ACTIVATIONS[activation]
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        encoder_out: torch.Tensor,
        encoder_padding_mask: Optional[torch.Tensor],
        causal_mask: Optional[torch.Tensor],
        self_padding_mask: Optional[torch.Tensor],
        weights_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(layer output, cross-attention weights, the residual entering the cross-attention sub-layer).

        With ``weights_only`` the output is not computed: the weights depend only on the layer's
        input, so the deepest layer a request needs stops there (its cross-attention output and
        feed-forward block are never run).
        """
        x = _sublayer(
            x, self.self_attn_layer_norm, self.pre_norm, lambda h: self.self_attn(h, h, self_padding_mask, causal_mask)[0]
        )
        if weights_only:
            query = self.encoder_attn_layer_norm(x) if self.pre_norm else x
            return x, self.encoder_attn.weights(query, encoder_out, encoder_padding_mask), x
        residual = x
        alpha: list[torch.Tensor] = []

        def cross(h: torch.Tensor) -> torch.Tensor:
            output, weights = self.encoder_attn(h, encoder_out, encoder_padding_mask)
            alpha.append(weights)
            return output

        x = _sublayer(x, self.encoder_attn_layer_norm, self.pre_norm, cross)
        x = _sublayer(x, self.final_layer_norm, self.pre_norm, self.feed_forward)
        return x, alpha[0], residual

    def sub_layer(self, residual: torch.Tensor) -> SubLayer:
        """r_i, b_O and (post-norm only) the LayerNorm after the cross-attention."""
        block = SubLayer(residual, self.encoder_attn.out_proj.bias)
        if self.pre_norm:
            return block
        norm = self.encoder_attn_layer_norm
        return replace(block, gamma=norm.weight, beta=norm.bias, eps=norm.eps)


class TransformerModel(nn.Module):
    """fairseq ``TransformerModel`` at inference; build it with :func:`aligner.backends.fairseq.checkpoint.load_model`."""

    def __init__(
        self,
        spec: TransformerSpec,
        src_vocab: int,
        tgt_vocab: int,
        encoder_embed_dim: int,
        decoder_input_dim: int,
        decoder_embed_dim: int,
        decoder_output_dim: int,
        encoder_ffn_dim: int,
        decoder_ffn_dim: int,
        encoder_learned_rows: Optional[int],
        decoder_learned_rows: Optional[int],
    ):
        super().__init__()
        self.spec = spec
        pad = spec.padding_idx
        self.encoder_embed_tokens = nn.Embedding(src_vocab, encoder_embed_dim, padding_idx=pad)
        self.decoder_embed_tokens = nn.Embedding(tgt_vocab, decoder_input_dim, padding_idx=pad)
        self.encoder_embed_scale = 1.0 if spec.no_scale_embedding else math.sqrt(encoder_embed_dim)
        # fairseq scales by the decoder's model width, not the input embedding width.
        self.decoder_embed_scale = 1.0 if spec.no_scale_embedding else math.sqrt(decoder_embed_dim)
        self.decoder_project_in_dim = (
            nn.Linear(decoder_input_dim, decoder_embed_dim, bias=False) if decoder_input_dim != decoder_embed_dim else None
        )
        self.decoder_project_out_dim = (
            nn.Linear(decoder_embed_dim, decoder_output_dim, bias=False) if decoder_output_dim != decoder_embed_dim else None
        )
        positional = not spec.no_token_positional_embeddings
        self.encoder_embed_positions = PositionalEmbedding(encoder_embed_dim, pad, encoder_learned_rows) if positional else None
        self.decoder_embed_positions = PositionalEmbedding(decoder_embed_dim, pad, decoder_learned_rows) if positional else None
        self.encoder_layernorm_embedding = nn.LayerNorm(encoder_embed_dim) if spec.layernorm_embedding else None
        self.decoder_layernorm_embedding = nn.LayerNorm(decoder_embed_dim) if spec.layernorm_embedding else None
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(encoder_embed_dim, encoder_ffn_dim, spec.encoder_attention_heads, spec.encoder_normalize_before, spec.activation_fn)
            for _ in range(spec.encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(
                decoder_embed_dim,
                encoder_embed_dim,
                decoder_ffn_dim,
                spec.decoder_attention_heads,
                spec.decoder_normalize_before,
                spec.activation_fn,
            )
            for _ in range(spec.decoder_layers)
        )
        self.encoder_layer_norm = nn.LayerNorm(encoder_embed_dim) if spec.encoder_final_norm else None
        self.decoder_layer_norm = nn.LayerNorm(decoder_embed_dim) if spec.decoder_final_norm else None

    @property
    def padding_idx(self) -> int:
        return self.spec.padding_idx

    def encode(self, src_tokens: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Encoder states (batch, source, dim) and the source padding mask (None without padding)."""
        padding_mask = src_tokens.eq(self.padding_idx)
        x = self.encoder_embed_scale * self.encoder_embed_tokens(src_tokens)
        if self.encoder_embed_positions is not None:
            x = x + self.encoder_embed_positions(src_tokens).type_as(x)
        if self.encoder_layernorm_embedding is not None:
            x = self.encoder_layernorm_embedding(x)
        has_padding = bool(padding_mask.any())
        if has_padding:
            x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        mask = padding_mask if has_padding else None
        for layer in self.encoder_layers:
            x = layer(x, mask)
        if self.encoder_layer_norm is not None:
            x = self.encoder_layer_norm(x)
        return x, mask

    def forced_decode(
        self,
        src_tokens: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        layers: Optional[Collection[int]] = None,
        need_values: bool = True,
        full_context: bool = False,
    ) -> ForcedDecoding:
        """Teacher-forced pass over ``prev_output_tokens`` (``</s>`` + target pieces).

        ``layers`` are 0-based decoder layers whose cross-attention is returned; None asks
        for all of them and for the final decoder states (fairseq's ``features_only``).
        ``full_context`` drops the causal mask, so every step sees the whole target: fairseq's
        ``full_context_alignment`` pass, which ``transformer_align`` supervises when trained so.
        """
        wanted = set(range(len(self.decoder_layers))) if layers is None else set(layers)
        if not wanted or min(wanted) < 0 or max(wanted) >= len(self.decoder_layers):
            raise ValueError(f"decoder layers must lie in 0..{len(self.decoder_layers) - 1}, got {sorted(wanted)}")
        encoder_out, encoder_mask = self.encode(src_tokens)

        x = self.decoder_embed_scale * self.decoder_embed_tokens(prev_output_tokens)
        if self.decoder_project_in_dim is not None:
            x = self.decoder_project_in_dim(x)
        if self.decoder_embed_positions is not None:
            x = x + self.decoder_embed_positions(prev_output_tokens).type_as(x)
        if self.decoder_layernorm_embedding is not None:
            x = self.decoder_layernorm_embedding(x)
        target_len = prev_output_tokens.size(1)
        causal_mask = None if full_context else torch.triu(
            torch.full((target_len, target_len), float("-inf"), device=x.device, dtype=x.dtype), diagonal=1
        )
        self_padding = prev_output_tokens.eq(self.padding_idx)
        self_mask = self_padding if bool(self_padding.any()) else None

        cross: dict[int, CrossAttention] = {}
        last = max(wanted)
        need_features = layers is None
        for index, layer in enumerate(self.decoder_layers[: last + 1]):
            x, alpha, residual = layer(x, encoder_out, encoder_mask, causal_mask, self_mask, weights_only=index == last and not need_features)
            if index in wanted:
                if need_values:
                    values = layer.encoder_attn.value_vectors(encoder_out)  # type: ignore[union-attr, operator]
                    cross[index] = CrossAttention(alpha, values, layer.sub_layer(residual))  # type: ignore[operator]
                else:
                    cross[index] = CrossAttention(alpha, None)

        features = None
        if need_features:
            if self.decoder_layer_norm is not None:
                x = self.decoder_layer_norm(x)
            if self.decoder_project_out_dim is not None:
                x = self.decoder_project_out_dim(x)
            features = x
        return ForcedDecoding(cross, features)
