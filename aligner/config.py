"""The one settings object of an alignment run; its fields map one-to-one to ``aligner align`` options."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

from . import __version__
from .decisions import DECISIONS, NORMALIZATIONS
from .errors import ConfigError
from .measures import MEASURES
from .merge import MERGES
from .symmetrize import SYMMETRIZATIONS

STEPS = ("awi", "awo")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def parse_indices(text: str) -> tuple[int, ...]:
    """``"2"`` -> (2,); ``"2-4"`` -> (2, 3, 4); ``"1,3"`` -> (1, 3)."""
    indices: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            indices.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ConfigError(f"expected N, A-B or A,B,... (1-based), got {text!r}") from None
    if not indices:
        raise ConfigError(f"empty range {text!r}")
    return tuple(indices)


def format_indices(indices: tuple[int, ...]) -> str:
    if len(indices) > 2 and indices == tuple(range(indices[0], indices[-1] + 1)):
        return f"{indices[0]}-{indices[-1]}"
    return ",".join(map(str, indices))


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
    sentencepiece_model: Optional[Path] = None  # of the source side, and of the target side unless it has its own
    bpe_codes: Optional[Path] = None
    target_sentencepiece_model: Optional[Path] = None  # models trained with separate vocabularies per language
    target_bpe_codes: Optional[Path] = None
    lowercase: Optional[bool] = None  # None = as the bundle records (no lowercasing without one)
    # extraction (layers and heads are 1-based, as the paper counts); several are averaged
    layers: tuple[int, ...] = ()  # () = the default layer of the model
    heads: tuple[int, ...] = ()  # () = layer level (all heads together)
    measure: str = "norm"
    step: str = "awi"
    src_merge: str = "sum"
    tgt_merge: str = "mean"
    # decision
    decision: str = "argmax"
    threshold: float = 0.5
    normalize: str = "rows"  # threshold on shares of a target word's row or of a source word's column
    eos_null: bool = True
    final_punct: bool = False  # link sentence-final punctuation to each other only
    # a second, target-to-source model whose links are symmetrized with this one's
    reverse_path: Optional[Path] = None
    symmetrize: str = "grow-diag-final-and"
    skip_long: bool = False  # pairs longer than the model's positions: empty line instead of an error
    preset: Optional[str] = None  # name of the preset file the settings came from, for the signature
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
            ("normalize", NORMALIZATIONS),
            ("device", DEVICES),
            ("dtype", tuple(DTYPES)),
            ("symmetrize", SYMMETRIZATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        # Accept a single int too (AlignConfig(layers=2)); the frozen field always holds a tuple.
        for name in ("layers", "heads"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, int) else tuple(value or ())
            if any(index < 1 for index in value):
                raise ConfigError(f"{name} are 1-based, got {value}")
            object.__setattr__(self, name, value)
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a share of the row, in [0, 1]; got {self.threshold}")
        if self.batch_size < 1 or self.chunk_size < 1 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ConfigError("batch size, chunk size and max tokens must be positive")

    def with_model(self, decoder_layers: int, heads: int) -> "AlignConfig":
        """The config with its defaults filled in and checked against a model's shape."""
        layers = self.layers or (default_layer(decoder_layers),)
        for layer in layers:
            if layer > decoder_layers:
                raise ConfigError(f"layer {layer} does not exist: the decoder has {decoder_layers} layers")
        for head in self.heads:
            if head > heads:
                raise ConfigError(f"head {head} does not exist: the decoder layers have {heads} heads")
        return replace(self, layers=layers)

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
            "layer": f"{format_indices(self.layers)}/{decoder_layers}",
            "head": format_indices(self.heads) if self.heads else "all",
            "measure": self.measure,
            "step": self.step,
            "merge": f"{self.src_merge}-{self.tgt_merge}",
            "decision": self.decision + (f"@{self.threshold:g}/{self.normalize}" if self.decision == "threshold" else ""),
            "eos": "null" if self.eos_null else "excluded",
            "punct": "final" if self.final_punct else "none",
            "lc": "yes" if lowercase else "no",
            "subword": subword,
            "dtype": DTYPES[self.dtype],
            "version": __version__,
        }
        if self.preset:
            parts["preset"] = self.preset
        parts.update(overrides or {})
        parts["version"] = parts.pop("version")
        return "|".join(f"{key}:{value}" for key, value in parts.items())


CONFIG_FIELDS = tuple(field.name for field in fields(AlignConfig))
