"""Forced decoding through a Hugging Face seq2seq model, with its own forward pass.

The model is loaded with ``attn_implementation="eager"`` (SDPA computes no weights) and
run teacher-forced through its base model (``model.model``: encoder and decoder, never the
LM head). Forward hooks on the decoder layers' ``encoder_attn`` modules read each layer's
cross-attention weights from the module's own output, and hooks on their ``v_proj`` read
``x W_V + b_V`` as the model computed it; ``f^h(x) = (x W_V^h + b_V^h) W_O^h`` then uses the
module's ``out_proj`` weight. Both hold whatever the norm placement (the cross-attention
keys and values are the encoder's last hidden states in every family here).

Running only the layers a request needs: the hook on the deepest layer asked for raises a
private exception once that layer's cross-attention has run, which unwinds the forward
pass; the module tree is never modified (no truncated layer list to restore), so a failure
cannot leave the model changed, and nothing past that attention runs (not its residual or
feed-forward block, no later layer, no final norm). Asking for every layer (``layers=None``)
runs the whole decoder and also returns its final states, as the fairseq model does.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Optional, Sequence

import torch

from ...errors import ConfigError, ResourceError
from ...contributions import SubLayer
from ..base import CrossAttention, EncodedSentence, ForcedDecoding
from .detect import Family, family_of, read_json, resolve_model_dir
from .layout import TokenLayout, build_layout
from .weights import weights_sha256
from .words import WordEncoder

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class HFModelInfo:
    """What was loaded; :meth:`signature_fields` go into a result's signature."""

    path: Path
    family: str
    model_type: str
    tokenizer_class: str
    encoder_layers: int
    decoder_layers: int
    heads: int
    model_dim: int
    pre_norm: bool
    weights_sha256: str
    dtype: str
    device: str
    transformers_version: str
    layout: str
    src_lang_code: Optional[str]
    tgt_lang_code: Optional[str]
    max_positions: Optional[int]

    def signature_fields(self) -> dict[str, str]:
        fields = {"backend": "hf", "model_type": self.model_type, "family": self.family, "weights": self.weights_sha256[:12]}
        if self.src_lang_code or self.tgt_lang_code:
            fields["langs"] = f"{self.src_lang_code or '-'}:{self.tgt_lang_code or '-'}"
        fields["dtype"] = self.dtype
        fields["transformers"] = self.transformers_version
        return fields


@dataclass
class HFBatch:
    """Right-padded ids; the special-token prefixes are the same length in every row."""

    src_ids: torch.Tensor  # (batch, source)
    src_mask: torch.Tensor  # (batch, source), 1 for real tokens
    decoder_input_ids: torch.Tensor  # (batch, decoder steps)
    source_start: int  # column of the first source piece; its </s> follows the last piece
    target_start: int  # decoder step whose input is the first target piece


class _StopForward(Exception):
    """Raised by a hook once the deepest layer asked for has run its cross-attention."""


def import_transformers() -> Any:
    """``transformers``, or a ResourceError naming the extra to install.

    transformers imports torchaudio whenever it is installed; a torchaudio built for another
    torch (fairseq-fixed pins one) fails with OSError and takes transformers down with it,
    although no text model uses it. Such a broken torchaudio is hidden from this process
    (a ``None`` entry in ``sys.modules``, which ``find_spec`` reports as absent), with a warning.
    """
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio"):
        try:
            import torchaudio  # noqa: F401
        except (OSError, ImportError) as exc:
            logger.warning("torchaudio is installed but cannot be imported (%s); hiding it from transformers", exc)
            sys.modules["torchaudio"] = None  # type: ignore[assignment]
    try:
        import transformers
    except ImportError:
        raise ResourceError("Hugging Face models need transformers: pip install 'aligner[hf]'") from None
    return transformers


def _load_error(directory: Path, what: str, exc: Exception) -> ResourceError:
    return ResourceError(f"cannot load the {what} ({type(exc).__name__}: {exc})", directory)


class HFSeq2SeqBackend:
    """A loaded Hugging Face translation model, its tokenizer and token layout.

    Build it with :meth:`load`. It knows nothing of alignment: it encodes words, batches
    pairs and returns cross-attention internals, like :class:`aligner.backends.fairseq.transformer.TransformerModel`.
    """

    def __init__(self, model: Any, tokenizer: Any, family: Family, layout: TokenLayout, info: HFModelInfo):
        self.model = model
        self.base = model.base_model  # encoder + decoder, no LM head
        self.tokenizer = tokenizer
        self.family = family
        self.layout = layout
        self.info = info
        self.words = WordEncoder(family, tokenizer)
        self.device = next(model.parameters()).device

    @classmethod
    def load(
        cls,
        path: Path | str,
        *,
        src_lang_code: Optional[str] = None,
        tgt_lang_code: Optional[str] = None,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
        hash_cache: Optional[Path] = None,
    ) -> "HFSeq2SeqBackend":
        """Load a local model directory, or a hub id already in the local cache; never downloads."""
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        directory = resolve_model_dir(path)
        family = family_of(directory)  # refuses unsupported types before any heavy import
        transformers = import_transformers()
        from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

        try:
            config = AutoConfig.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise _load_error(directory, "config", exc) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise _load_error(directory, "tokenizer", exc) from None
        generation_config = None
        if (directory / "generation_config.json").is_file():
            generation_config = GenerationConfig.from_pretrained(directory, local_files_only=True)
        layout = build_layout(
            family, tokenizer, config, generation_config, src_lang_code, tgt_lang_code, directory / "config.json"
        )
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(
                directory, attn_implementation="eager", dtype=DTYPES[dtype], local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise _load_error(directory, "model weights", exc) from None
        model = model.to(torch.device(device)).eval()
        rows = model.get_input_embeddings().num_embeddings
        largest = max(len(tokenizer) - 1, *layout.source_prefix, *layout.source_suffix, *layout.decoder_prefix)
        if largest >= rows:
            raise ResourceError(
                f"the tokenizer has token ids up to {largest} but the model's embedding has {rows} rows: "
                "not this model's tokenizer",
                directory,
            )
        info = HFModelInfo(
            path=directory,
            family=family.name,
            model_type=config.model_type,
            tokenizer_class=str(read_json(directory / "tokenizer_config.json")["tokenizer_class"]),
            encoder_layers=config.encoder_layers,
            decoder_layers=config.decoder_layers,
            heads=config.decoder_attention_heads,
            model_dim=config.d_model,
            pre_norm=family.pre_norm,
            weights_sha256=weights_sha256(directory, hash_cache),
            dtype=dtype,
            device=str(torch.device(device)),
            transformers_version=transformers.__version__,
            layout=layout.describe,
            src_lang_code=src_lang_code,
            tgt_lang_code=tgt_lang_code,
            max_positions=getattr(config, "max_position_embeddings", None),
        )
        logger.info("loaded %s (%s, %d+%d layers, %s)", directory, family.name, info.encoder_layers, info.decoder_layers, dtype)
        return cls(model, tokenizer, family, layout, info)

    @property
    def decoder_layers(self) -> list[Any]:
        return list(self.base.decoder.layers)

    def encode_words(self, words: Sequence[str], side: str) -> EncodedSentence:
        """Piece ids of pre-tokenized words (``side`` = ``source`` | ``target``), no special tokens."""
        return self.words.encode(words, side)

    def collate(self, pairs: Sequence[tuple[EncodedSentence, EncodedSentence]]) -> HFBatch:
        """Right-padded source ``prefix + pieces + suffix`` and decoder ``prefix + pieces``."""
        layout = self.layout
        sources = [layout.source_ids(src.ids) for src, _ in pairs]
        decoder = [layout.decoder_ids(tgt.ids) for _, tgt in pairs]
        src_ids = torch.full((len(pairs), max(map(len, sources))), layout.pad, dtype=torch.long)
        src_mask = torch.zeros_like(src_ids)
        decoder_ids = torch.full((len(pairs), max(map(len, decoder))), layout.pad, dtype=torch.long)
        for row, (source, target) in enumerate(zip(sources, decoder)):
            src_ids[row, : len(source)] = torch.tensor(source, dtype=torch.long)
            src_mask[row, : len(source)] = 1
            decoder_ids[row, : len(target)] = torch.tensor(target, dtype=torch.long)
        return HFBatch(
            src_ids.to(self.device),
            src_mask.to(self.device),
            decoder_ids.to(self.device),
            len(layout.source_prefix),
            len(layout.decoder_prefix),
        )

    def forced_decode(
        self,
        src_ids: torch.Tensor,
        src_mask: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        layers: Optional[Collection[int]] = None,
        need_values: bool = True,
    ) -> ForcedDecoding:
        """Teacher-forced pass; ``layers`` are 0-based decoder layers (None: all, plus final states).

        ``alpha`` is (batch, heads, decoder steps, source) float32; ``values`` is (batch,
        heads, source, model_dim) in the model's dtype, ``b_O`` left out. Padded decoder
        steps hold meaningless rows (no decoder padding mask: right padding and the causal
        mask already keep them out of every real step).
        """
        modules = self.decoder_layers
        wanted = set(range(len(modules))) if layers is None else set(layers)
        if not wanted or min(wanted) < 0 or max(wanted) >= len(modules):
            raise ValueError(f"decoder layers must lie in 0..{len(modules) - 1}, got {sorted(wanted)}")
        last, need_features = max(wanted), layers is None
        alphas: dict[int, torch.Tensor] = {}
        projected: dict[int, torch.Tensor] = {}

        def weights_hook(index: int):
            def hook(module, inputs, output):
                alphas[index] = output[1]
                if index == last and not need_features:
                    raise _StopForward

            return hook

        def values_hook(index: int):
            def hook(module, inputs, output):
                projected[index] = output.transpose(0, 1) if self.family.time_first else output

            return hook

        residuals: dict[int, torch.Tensor] = {}

        def residual_hook(index: int):
            # Pre-norm: r is the input of the LayerNorm before the cross-attention; post-norm: the attention's input.
            def hook(module, args, kwargs):
                hidden = args[0] if args else kwargs.get("hidden_states", kwargs.get("query"))
                residuals[index] = hidden.transpose(0, 1) if self.family.time_first else hidden

            return hook

        handles = []
        try:
            for index in sorted(wanted):
                attention = modules[index].encoder_attn
                if need_values:
                    handles.append(attention.v_proj.register_forward_hook(values_hook(index)))
                    before = modules[index].encoder_attn_layer_norm if self.family.pre_norm else attention
                    handles.append(before.register_forward_pre_hook(residual_hook(index), with_kwargs=True))
                handles.append(attention.register_forward_hook(weights_hook(index)))
            # FSMT's own attention class returns its weights only when asked.
            extra = {"output_attentions": True} if self.family.name == "fsmt" else {}
            outputs = None
            with torch.inference_mode():
                try:
                    outputs = self.base(
                        input_ids=src_ids,
                        attention_mask=src_mask,
                        decoder_input_ids=decoder_input_ids,
                        use_cache=False,
                        return_dict=True,
                        **extra,
                    )
                except _StopForward:
                    pass
                cross = {}
                for index in sorted(wanted):
                    values = self._value_vectors(modules[index].encoder_attn, projected[index]) if need_values else None
                    block = self._sub_layer(modules[index], residuals[index]) if need_values else None
                    cross[index] = CrossAttention(alphas[index].float(), values, block)
        finally:
            for handle in handles:
                handle.remove()
        features = outputs.last_hidden_state if need_features and outputs is not None else None
        return ForcedDecoding(cross, features)

    def _sub_layer(self, layer: Any, residual: torch.Tensor) -> SubLayer:
        """r_i, b_O and (post-norm only) the LayerNorm after the cross-attention, for aligner.contributions."""
        block = SubLayer(residual, layer.encoder_attn.out_proj.bias)
        if self.family.pre_norm:
            return block
        norm = layer.encoder_attn_layer_norm
        return SubLayer(residual, block.out_bias, norm.weight, norm.bias, norm.eps)

    @staticmethod
    def _value_vectors(attention: Any, projected: torch.Tensor) -> torch.Tensor:
        """``(x W_V + b_V)`` (batch, source, dim) -> f^h(x) (batch, heads, source, model_dim)."""
        batch, source, _ = projected.shape
        heads = attention.num_heads
        head_dim = projected.size(-1) // heads
        values = projected.reshape(batch, source, heads, head_dim)
        out_blocks = attention.out_proj.weight.view(-1, heads, head_dim)
        return torch.einsum("bshd,chd->bhsc", values, out_blocks)
