"""The Hugging Face model as the engine's :class:`~aligner.backends.base.Backend`.

:class:`HFSeq2SeqBackend` runs transformers' forward pass in the model's own token layout
(language tags, decoder start tokens). This adapter gives the engine what every backend
gives it: the cross-attention in the fairseq shape that :class:`~aligner.backends.base.CrossAttention`
defines, decoder steps ``<step before y1> y1 .. yn`` and source ``x1 .. xm </s>``. So the
engine's row selection (AWO/AWI), subword merging, measures and decisions apply unchanged,
and a language tag is never a row or a column of a word matrix.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Collection, Sequence

from ...errors import ConfigError
from ..base import CrossAttention, EncodedSentence, ModelInfo
from .backend import HFSeq2SeqBackend

if TYPE_CHECKING:
    from ...config import ModelSource
    from ...engine import EncodedPair

SUBWORDS = {"fsmt": "moses+bpe"}  # every other family splits words with SentencePiece


class HuggingFaceBackend:
    """A loaded :class:`HFSeq2SeqBackend` as the engine sees it; :meth:`load` reads a :class:`ModelSource`."""

    def __init__(self, model: HFSeq2SeqBackend):
        self.model = model
        self.device = model.device
        hf = self.model.info
        layout = self.model.layout
        positions = hf.max_positions if hf.max_positions is not None else sys.maxsize
        langs = f"[{hf.src_lang_code or '-'}>{hf.tgt_lang_code or '-'}]" if hf.src_lang_code or hf.tgt_lang_code else ""
        self.info = ModelInfo(
            name=f"hf-{hf.model_type}:{hf.path.name}{langs}",
            sha256=hf.weights_sha256,
            decoder_layers=hf.decoder_layers,
            heads=hf.heads,
            max_source_positions=positions,
            max_target_positions=positions,
            lowercase=False,  # the tokenizer normalizes as it was trained to; aligner adds nothing
            subword=SUBWORDS.get(hf.family, "sentencepiece"),
            dtype=hf.dtype,
            source_specials=len(layout.source_prefix) + len(layout.source_suffix),
            target_specials=len(layout.decoder_prefix),
        )
        self.forward_calls = 0

    @classmethod
    def load(cls, source: "ModelSource", device: str = "auto", dtype: str = "float32") -> "HuggingFaceBackend":
        from .. import resolve_device

        if source.path is None:
            raise ConfigError("a Hugging Face model needs a path (a model directory or a cached hub id)")
        model = HFSeq2SeqBackend.load(
            source.path,
            src_lang_code=source.src_lang_code,
            tgt_lang_code=source.tgt_lang_code,
            device=resolve_device(device),
            dtype=dtype,
        )
        return cls(model)

    def encode(self, words: Sequence[str], side: str) -> EncodedSentence:
        return self.model.encode_words(words, side)

    def cross_attention(
        self, pairs: Sequence["EncodedPair"], layers: Collection[int], need_values: bool, full_context: bool = False
    ) -> dict[int, CrossAttention]:
        """One forward pass; rows before the step that predicts y1 and source-prefix columns cut off.

        Columns after the source ``</s>`` (a suffix language code, padding) stay: the engine
        reads a pair's columns only up to its ``</s>``.
        """
        if full_context:
            # Hugging Face decoders build their causal mask inside; no translation model there is
            # trained to align without it.
            raise ConfigError("--step full (a decoder pass without the causal mask) is available for fairseq models only")
        batch = self.model.collate([(pair.src, pair.tgt) for pair in pairs])
        self.forward_calls += 1
        decoding = self.model.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, set(layers), need_values)
        first_row, first_column = batch.target_start - 1, batch.source_start
        return {
            layer: CrossAttention(
                cross.alpha[:, :, first_row:, first_column:],
                None if cross.values is None else cross.values[:, :, first_column:],
                # the residual r_i belongs to a decoder step: cut like alpha's rows
                None if cross.block is None else replace(cross.block, residual=cross.block.residual[:, first_row:]),
            )
            for layer, cross in decoding.cross_attention.items()
        }
