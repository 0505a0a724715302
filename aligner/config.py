"""The one settings object of an alignment run; its fields map one-to-one to ``aligner align`` options."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

from . import __version__
from .decisions import DECISIONS
from .errors import ConfigError
from .measures import MEASURES
from .merge import MERGES

STEPS = ("awi", "awo")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def default_layer(decoder_layers: int) -> int:
    """1-based layer used when none is given: the paper's best (2 of 6), i.e. a third of the way up."""
    return max(1, round(decoder_layers / 3))


@dataclass(frozen=True)
class AlignConfig:
    # model
    path: Optional[Path] = None  # checkpoint file or bundle directory; None = the bundled default
    data_dir: Optional[Path] = None
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    sentencepiece_model: Optional[Path] = None
    bpe_codes: Optional[Path] = None
    lowercase: Optional[bool] = None  # None = as the bundle records (no lowercasing without one)
    # extraction (layers and heads are 1-based, as the paper counts)
    layer: Optional[int] = None
    head: Optional[int] = None  # None = layer level (all heads)
    measure: str = "norm"
    step: str = "awi"
    src_merge: str = "sum"
    tgt_merge: str = "mean"
    # decision
    decision: str = "argmax"
    threshold: float = 0.5
    eos_null: bool = True
    skip_long: bool = False  # pairs longer than the model's positions: empty line instead of an error
    # execution
    batch_size: int = 32
    max_tokens: Optional[int] = None  # padded tokens per batch, on top of batch_size
    chunk_size: int = 10_000  # input lines sorted, batched and written together
    device: str = "auto"
    dtype: str = "float32"  # of the model's weights and activations; softmax and measures stay float32

    def __post_init__(self) -> None:
        for name, allowed in (
            ("measure", MEASURES),
            ("step", STEPS),
            ("src_merge", MERGES),
            ("tgt_merge", MERGES),
            ("decision", DECISIONS),
            ("device", DEVICES),
            ("dtype", tuple(DTYPES)),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.layer is not None and self.layer < 1:
            raise ConfigError(f"layer is 1-based, got {self.layer}")
        if self.head is not None and self.head < 1:
            raise ConfigError(f"head is 1-based, got {self.head}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a share of the row, in [0, 1]; got {self.threshold}")
        if self.batch_size < 1 or self.chunk_size < 1 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ConfigError("batch size, chunk size and max tokens must be positive")

    def with_model(self, decoder_layers: int, heads: int) -> "AlignConfig":
        """The config with its defaults filled in and checked against a model's shape."""
        layer = self.layer if self.layer is not None else default_layer(decoder_layers)
        if layer > decoder_layers:
            raise ConfigError(f"layer {layer} does not exist: the decoder has {decoder_layers} layers")
        if self.head is not None and self.head > heads:
            raise ConfigError(f"head {self.head} does not exist: the decoder layers have {heads} heads")
        return replace(self, layer=layer)

    def signature(
        self,
        model_name: str,
        model_sha256: str,
        decoder_layers: int,
        lowercase: bool,
        subword: str,
        overrides: Optional[dict[str, str]] = None,
    ) -> str:
        """What produced a result, sacrebleu-style: every setting that changes the links.

        ``overrides`` replaces fields for results that span several settings (a sweep).
        """
        parts = {
            "model": f"{model_name}@{model_sha256[:8]}",
            "layer": f"{self.layer}/{decoder_layers}",
            "head": str(self.head) if self.head is not None else "all",
            "measure": self.measure,
            "step": self.step,
            "merge": f"{self.src_merge}-{self.tgt_merge}",
            "decision": self.decision + (f"@{self.threshold:g}" if self.decision == "threshold" else ""),
            "eos": "null" if self.eos_null else "excluded",
            "lc": "yes" if lowercase else "no",
            "subword": subword,
            "dtype": DTYPES[self.dtype],
            "version": __version__,
        }
        parts.update(overrides or {})
        return "|".join(f"{key}:{value}" for key, value in parts.items())


CONFIG_FIELDS = tuple(field.name for field in fields(AlignConfig))
