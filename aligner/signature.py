"""The signature of a result, as sacrebleu prints one: ``key:value|key:value|...|version:X``.

A :class:`Signature` is built once from what computed a result (the engine's model and the
settings), adjusted with :meth:`Signature.update` where a result spans several settings (a
sweep, a plot), and formatted in one place (:meth:`Signature.format`). No other code joins
signature parts. No torch here: the scoring layer uses it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Optional

from . import __version__
from .choices import DTYPES, RESIDUAL_MEASURES

if TYPE_CHECKING:
    from .backends.base import ModelInfo
    from .decisions import DecisionRule
    from .extraction import Extraction


def format_indices(indices: Iterable[int]) -> str:
    """1-based indices as the signature writes them: ``2``, ``1-3`` (three or more in a row), ``2,4``."""
    indices = tuple(indices)
    if len(indices) > 2 and indices == tuple(range(indices[0], indices[-1] + 1)):
        return f"{indices[0]}-{indices[-1]}"
    return ",".join(map(str, indices))


class Signature:
    """Ordered ``key:value`` parts; ``version`` always comes last, then any :meth:`extended` parts."""

    def __init__(self, parts: Mapping[str, str], after_version: Optional[Mapping[str, str]] = None):
        self._parts = {key: str(value) for key, value in parts.items() if key != "version"}
        self._after = dict(after_version or {})

    @classmethod
    def of(
        cls,
        info: "ModelInfo",
        extraction: "Extraction",
        rule: "DecisionRule",
        preset: Optional[str] = None,
    ) -> "Signature":
        """Every setting that changes the links of a model: what ``aligner align`` prints."""
        decision = rule.decision + (f"@{rule.threshold:g}/{rule.normalize}" if rule.decision == "threshold" else "")
        parts = {
            "model": info.model_id,
            "layer": f"{format_indices(extraction.layers)}/{info.decoder_layers}",
            "head": format_indices(extraction.heads) if extraction.heads else "all",
            "measure": extraction.measure,
            "step": extraction.step,
            "merge": f"{extraction.src_merge}-{extraction.tgt_merge}",
            "decision": decision,
            "eos": "null" if rule.eos_null else "excluded",
            "punct": "final" if rule.final_punct else "none",
            "lc": "yes" if info.lowercase else "no",
            "subword": info.subword,
            "dtype": DTYPES[info.dtype],
        }
        if extraction.measure in RESIDUAL_MEASURES:
            parts["residual"] = "null" if rule.residual_null else "dropped"
        if preset:
            parts["preset"] = preset
        return cls(parts)

    def update(self, **parts: str) -> "Signature":
        """A copy with parts replaced in place, or added (before ``version``)."""
        return Signature({**self._parts, **parts}, self._after)

    def symmetrized(self, method: str, reverse: "ModelInfo") -> "Signature":
        """The signature of this model's links symmetrized with a reverse model's by ``method``."""
        return self.update(symmetrize=f"{method}+{reverse.model_id}")

    def extended(self, **parts: str) -> "Signature":
        """A copy with parts after ``version``: options of a record beyond the links (a run manifest's output format)."""
        return Signature(self._parts, {**self._after, **parts})

    def __getitem__(self, key: str) -> str:
        return __version__ if key == "version" else {**self._parts, **self._after}[key]

    def fields(self) -> dict[str, str]:
        """The parts as a dict, in :meth:`format`'s order (``version`` included): the signature in JSON."""
        return {**self._parts, "version": __version__, **self._after}

    def format(self, keys: Optional[Iterable[str]] = None) -> str:
        """``key:value|...``: every part, or only ``keys`` in the order given (e.g. the alignment settings)."""
        parts = [*self._parts.items(), ("version", __version__), *self._after.items()]
        if keys is not None:
            known = dict(parts)
            parts = [(key, known[key]) for key in keys]
        return "|".join(f"{key}:{value}" for key, value in parts)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"Signature({self.format()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self.format() == other.format()

    def __hash__(self) -> int:
        return hash(self.format())
