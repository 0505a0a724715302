"""The settings of an alignment run, split by what they are about.

- :class:`ModelSource`: which model (checkpoint or bundle, dictionaries, subword models), and
  the reverse model whose links are symmetrized with it;
- :class:`~aligner.extraction.Extraction`: which matrices (layers, heads, measure, step, merges);
- :class:`~aligner.decisions.DecisionRule`: how matrices become links;
- :class:`RunOptions`: how the job runs (batches, chunks, device, precision), never what it finds.

:class:`AlignConfig` holds one of each. It is built from the flat keyword names (``layers=``,
``decision=``, ...), which are the ``aligner align`` options one-to-one; each name is declared
once, in its part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional

from .choices import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS, DEVICES, DTYPES, STEPS, check_choice  # noqa: F401  (STEPS, DEVICES: for importers)
from .decisions import DecisionRule
from .errors import ConfigError
from .extraction import Extraction, default_layer  # noqa: F401  (default_layer: for importers)


MAX_INDEX = 1024
_INDEX_PART = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")


def parse_indices(text: str) -> tuple[int, ...]:
    """The one 1-based index grammar of layers and heads: ``"2"`` -> (2,); ``"2-4"`` -> (2, 3, 4); ``"2,4"`` -> (2, 4).

    What a list means is the command's business (``align`` averages, ``plot`` draws a panel each).
    """
    indices: list[int] = []
    for part in text.split(","):
        match = _INDEX_PART.fullmatch(part)
        if match is None or int(match.group(1)) < 1:
            raise ConfigError(f"expected N, A-B or A,B,... with N, A, B positive whole numbers (1-based), got {text!r}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last - first >= MAX_INDEX or first > MAX_INDEX:
            # No model has this many layers or heads; refused here, before a huge range is built.
            raise ConfigError(f"{part.strip()!r} is beyond any model's layers or heads (at most {MAX_INDEX})")
        indices.extend(range(first, last + 1))
    if not indices:
        raise ConfigError(f"empty range {text!r}")
    return tuple(indices)


@dataclass(frozen=True)
class ModelSource:
    path: Optional[Path] = None  # checkpoint file or bundle directory; None = the bundled default
    data_dir: Optional[Path] = None
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    sentencepiece_model: Optional[Path] = None  # of the source side, and of the target side unless it has its own
    bpe_codes: Optional[Path] = None
    target_sentencepiece_model: Optional[Path] = None  # models trained with separate vocabularies per language
    target_bpe_codes: Optional[Path] = None
    lowercase: Optional[bool] = None  # None = as the bundle records (no lowercasing without one)
    # language codes of a multilingual Hugging Face model (deu_Latn, de, >>fr<<); fairseq models have none
    src_lang_code: Optional[str] = None
    tgt_lang_code: Optional[str] = None
    # a second, target-to-source model whose links are symmetrized with this one's
    reverse_path: Optional[Path] = None

    def reversed(self) -> "ModelSource":
        """The reverse model's source: its path, languages swapped.

        Explicit subword models swap sides with the languages; a bundle's per-language models
        need nothing, since they are looked up by language.
        """
        if self.reverse_path is None:
            raise ConfigError("symmetrization needs a reverse model (reverse_path)")
        source_models = (self.sentencepiece_model, self.bpe_codes)
        target_models = (self.target_sentencepiece_model, self.target_bpe_codes)
        if any(target_models) and not any(source_models):
            # Swapped, the explicit target model would become the source's and, with no target
            # model given, the reverse target's too, instead of the bundle's.
            raise ConfigError(
                "with a reverse model, give the source side's subword model (--sentencepiece-model or --bpe-codes) "
                "as well as the target side's"
            )
        if not any(target_models):
            target_models = source_models
        return replace(
            self,
            path=self.reverse_path,
            reverse_path=None,
            source_lang=self.target_lang,
            target_lang=self.source_lang,
            src_lang_code=self.tgt_lang_code,
            tgt_lang_code=self.src_lang_code,
            sentencepiece_model=target_models[0],
            bpe_codes=target_models[1],
            target_sentencepiece_model=source_models[0],
            target_bpe_codes=source_models[1],
        )


@dataclass(frozen=True)
class RunOptions:
    skip_long: bool = False  # pairs longer than the model's positions: empty line instead of an error
    batch_size: int = DEFAULT_BATCH_SIZE
    max_tokens: Optional[int] = DEFAULT_MAX_TOKENS  # padded tokens per batch (pairs x longest side), on top of batch_size; None: no bound
    chunk_size: int = 10_000  # input lines sorted, batched and written together
    device: str = "auto"
    dtype: str = "float32"  # of the model's weights and activations; softmax and measures stay float32

    def __post_init__(self) -> None:
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, tuple(DTYPES))
        if self.batch_size < 1 or self.chunk_size < 1 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ConfigError("batch size, chunk size and max tokens must be positive")


PARTS = {"model": ModelSource, "extraction": Extraction, "rule": DecisionRule, "run": RunOptions}
# flat setting name -> the part that declares it
FIELD_PARTS = {field.name: part for part, cls in PARTS.items() for field in fields(cls)}
# what a preset may set: how scores are read and links decided, never which model or how to run it
PRESET_FIELDS = tuple(name for name, part in FIELD_PARTS.items() if part in ("extraction", "rule"))


class AlignConfig:
    """One of each part, plus ``preset`` (the name of the preset file the settings came from).

    ``AlignConfig(layers=(2,), decision="threshold")`` sorts flat settings into their parts;
    ``config.layers`` reads them back; :meth:`replace` changes them. Frozen and hashable.
    """

    __slots__ = ("model", "extraction", "rule", "run", "preset")
    model: ModelSource
    extraction: Extraction
    rule: DecisionRule
    run: RunOptions
    preset: Optional[str]

    def __init__(
        self,
        model: Optional[ModelSource] = None,
        extraction: Optional[Extraction] = None,
        rule: Optional[DecisionRule] = None,
        run: Optional[RunOptions] = None,
        preset: Optional[str] = None,
        **settings: Any,
    ):
        unknown = sorted(set(settings) - set(FIELD_PARTS))
        if unknown:
            raise TypeError(f"AlignConfig got unknown settings: {', '.join(unknown)}")
        given = {"model": model, "extraction": extraction, "rule": rule, "run": run}
        for part, cls in PARTS.items():
            mine = {name: value for name, value in settings.items() if FIELD_PARTS[name] == part}
            base = given[part]
            value = (replace(base, **mine) if mine else base) if base is not None else cls(**mine)
            object.__setattr__(self, part, value)
        object.__setattr__(self, "preset", preset)

    @staticmethod
    def field_names() -> tuple[str, ...]:
        """Every flat setting name, with ``preset``: what the CLI's options and a preset may set."""
        return (*FIELD_PARTS, "preset")

    def __getattr__(self, name: str) -> Any:
        part = FIELD_PARTS.get(name)
        if part is None:
            raise AttributeError(f"AlignConfig has no setting {name!r}")
        return getattr(object.__getattribute__(self, part), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AlignConfig is frozen; use replace()")

    def _parts(self) -> tuple:
        return (self.model, self.extraction, self.rule, self.run, self.preset)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlignConfig) and self._parts() == other._parts()

    def __hash__(self) -> int:
        return hash(self._parts())

    def __repr__(self) -> str:
        return f"AlignConfig(model={self.model!r}, extraction={self.extraction!r}, rule={self.rule!r}, run={self.run!r}, preset={self.preset!r})"

    def replace(self, **changes: Any) -> "AlignConfig":
        """A copy with flat settings (or whole parts, or ``preset``) changed."""
        parts = {name: changes.pop(name, value) for name, value in zip(("model", "extraction", "rule", "run", "preset"), self._parts())}
        return AlignConfig(**parts, **changes)

    def reversed(self) -> "AlignConfig":
        """The settings of the reverse model: the same alignment settings, languages swapped."""
        return self.replace(model=self.model.reversed())
