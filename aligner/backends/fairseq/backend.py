"""The fairseq Transformer backend: a checkpoint or bundle read safely, run by our own forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Collection, Sequence

import torch

from .checkpoint import load_model
from ...errors import ConfigError, ResourceError
from .transformer import TransformerModel
from .resources import ModelResources, default_model, find_bundle, resolve_resources
from .. import resolve_device
from ..base import CrossAttention, EncodedSentence, ModelInfo

if TYPE_CHECKING:
    from ...config import ModelSource
    from ...engine import EncodedPair


def collate(pairs: Sequence["EncodedPair"], pad: int, eos: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``source + </s>`` and ``</s> + target`` id tensors."""
    src_len = max(len(p.src.ids) for p in pairs) + 1
    tgt_len = max(len(p.tgt.ids) for p in pairs) + 1
    src = torch.full((len(pairs), src_len), pad, dtype=torch.long)
    prev = torch.full((len(pairs), tgt_len), pad, dtype=torch.long)
    for row, pair in enumerate(pairs):
        pieces = len(pair.src.ids)
        src[row, :pieces] = torch.tensor(pair.src.ids, dtype=torch.long)
        src[row, pieces] = eos
        prev[row, 0] = eos
        prev[row, 1 : len(pair.tgt.ids) + 1] = torch.tensor(pair.tgt.ids, dtype=torch.long)
    return src.to(device), prev.to(device)


class FairseqBackend:
    """A fairseq Transformer checkpoint (or aligner bundle) with its dictionaries and subword models."""

    def __init__(self, source: "ModelSource", device: str = "auto", dtype: str = "float32"):
        checkpoint, bundle = find_bundle(Path(source.path) if source.path is not None else default_model())
        self.device = resolve_device(device)
        model, self.checkpoint = load_model(checkpoint, getattr(torch, dtype))
        self.model: TransformerModel = model.to(self.device)
        self.resources: ModelResources = resolve_resources(
            checkpoint,
            bundle,
            self.checkpoint,
            data_dir=source.data_dir,
            source_lang=source.source_lang,
            target_lang=source.target_lang,
            sentencepiece_model=source.sentencepiece_model,
            bpe_codes=source.bpe_codes,
            lowercase=source.lowercase,
            target_sentencepiece_model=source.target_sentencepiece_model,
            target_bpe_codes=source.target_bpe_codes,
        )
        self._check_vocabulary_sizes()
        spec = self.model.spec
        self.info = ModelInfo(
            name=self.resources.name,
            sha256=self.checkpoint.sha256,
            decoder_layers=spec.decoder_layers,
            heads=spec.decoder_attention_heads,
            max_source_positions=spec.max_source_positions,
            max_target_positions=spec.max_target_positions,
            lowercase=self.resources.lowercase,
            subword=self.resources.subword,
            dtype=dtype,
            full_context_alignment=self.checkpoint.full_context_alignment,
        )
        self.forward_calls = 0

    def _check_vocabulary_sizes(self) -> None:
        for side, dictionary, embedding in (
            ("source", self.resources.source_dictionary, self.model.encoder_embed_tokens),
            ("target", self.resources.target_dictionary, self.model.decoder_embed_tokens),
        ):
            if len(dictionary) != embedding.num_embeddings:
                raise ResourceError(
                    f"{side} dictionary has {len(dictionary)} symbols but the checkpoint's {side} embedding has "
                    f"{embedding.num_embeddings} rows: not the dictionary this model was trained with",
                    self.resources.dictionary_paths[0 if side == "source" else 1],
                )

    def encode(self, words: Sequence[str], side: str) -> EncodedSentence:
        resources = self.resources
        if side == "source":
            return resources.source_preprocessor.encode(words, resources.source_dictionary)
        return resources.target_preprocessor.encode(words, resources.target_dictionary)

    def cross_attention(
        self, pairs: Sequence["EncodedPair"], layers: Collection[int], need_values: bool, full_context: bool = False
    ) -> dict[int, CrossAttention]:
        dictionary = self.resources.target_dictionary
        src, prev = collate(pairs, dictionary.pad, dictionary.eos, self.device)
        self.forward_calls += 1
        decoding = self.model.forced_decode(src, prev, set(layers), need_values, full_context)
        return {layer: CrossAttention(cross.alpha, cross.values, cross.block) for layer, cross in decoding.cross_attention.items()}
