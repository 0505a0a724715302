"""What a corpus run writes: the main output (Pharaoh or JSON Lines) and its side files.

The Pharaoh file stays plain ``i-j`` (fast_align's atools and Moses read nothing else) unless
inline scores are asked for; scores and word pairs go to their own files, one line per sentence
pair, as awesome-align's ``--output_prob_file`` and ``--output_word_file``:

- scores file: one score per link, space-separated, in the Pharaoh line's order (sorted by
  source, then target index), 4 decimals: the link's share of its row (see :mod:`aligner.decisions`);
- words file: ``src_word<sep>tgt_word`` per link, space-separated, in the same order;
- JSON Lines (``format="jsonl"``): one object per pair, ``{"src": [...], "tgt": [...], "links":
  [[i, j], ...], "scores": [...]}``, plus ``"matrix"`` (target words x source words + ``</s>``,
  ``null`` for a word without pieces) when asked.

Every file gets exactly one line per input pair, so the side files follow the main output
through chunks, resume and distributed parts: :meth:`OutputSpec.files` is the one list of what a
run writes, in the order the runner writes each chunk.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Sequence

from ..errors import ConfigError
from ..io import SentencePair, format_pharaoh

if TYPE_CHECKING:
    from ..pipeline import AlignedPair

FORMATS = ("pharaoh", "jsonl")
WORD_SEPARATOR = "<sep>"  # awesome-align's, between the two words of a link
MAIN = "align"  # the main output's kind; also its part-file suffix


@dataclass(frozen=True)
class OutputFile:
    kind: str  # "align" (the main output), "scores" or "words": also the part-file suffix
    path: Optional[str]  # None or "-": stdout (main output only)


@dataclass(frozen=True)
class OutputSpec:
    """The outputs of one run: a pure value, one field per ``aligner align`` option."""

    format: str = "pharaoh"
    inline_scores: bool = False  # i-j:score in the Pharaoh file (not read by atools; off by default)
    scores_file: Optional[str] = None
    words_file: Optional[str] = None
    matrix: bool = False  # the word-level matrix in each JSON Lines record

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"output format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.matrix and self.format != "jsonl":
            raise ConfigError("the word-level matrix is written in JSON Lines records only (--format jsonl)")
        if self.inline_scores and self.format != "pharaoh":
            raise ConfigError("inline scores (--scores) are for the Pharaoh format; JSON Lines records carry scores anyway")
        for name in ("scores_file", "words_file"):
            if getattr(self, name) == "-":
                raise ConfigError(f"{name.replace('_', '-')} needs a file name: stdout is the main output's")

    def with_inline_scores(self, scores: bool) -> "OutputSpec":
        return replace(self, inline_scores=True) if scores else self

    @property
    def needs_words(self) -> bool:
        return self.words_file is not None or self.format == "jsonl"

    def files(self, output: Optional[str]) -> list[OutputFile]:
        """Every file a run with main output ``output`` writes, the main one first."""
        files = [OutputFile(MAIN, output)]
        if self.scores_file is not None:
            files.append(OutputFile("scores", self.scores_file))
        if self.words_file is not None:
            files.append(OutputFile("words", self.words_file))
        paths = [os.path.abspath(f.path) for f in files if f.path not in (None, "-")]
        if len(set(paths)) != len(paths):
            raise ConfigError("the output and its side files (--scores-file, --words-file) must be different files")
        return files

    def side_paths(self) -> list[str]:
        """The side files' paths (for checks that cover every file a run writes)."""
        return [f.path for f in self.files(None)[1:] if f.path is not None]

    def manifest_parts(self) -> dict[str, str]:
        """What the outputs add to a run manifest's settings; nothing for plain Pharaoh, so older manifests still match."""
        parts = {}
        if self.format != "pharaoh":
            parts["format"] = self.format
        if self.matrix:
            parts["matrix"] = "yes"
        if self.scores_file is not None:
            parts["scores-file"] = "yes"
        if self.words_file is not None:
            parts["words-file"] = "yes"
        return parts

    def render(self, pair: Optional[SentencePair], result: "AlignedPair") -> list[str]:
        """One line (with its newline) per file of :meth:`files`, for one aligned pair."""
        ordered = sorted(result.links, key=lambda link: (link.src, link.tgt))
        if self.format == "jsonl":
            lines = [self._record(pair, result, ordered)]
        else:
            lines = [format_pharaoh(ordered, self.inline_scores) + "\n"]
        if self.scores_file is not None:
            lines.append(" ".join(f"{link.score:.4f}" for link in ordered) + "\n")
        if self.words_file is not None:
            if pair is None:
                raise ConfigError("the words file needs the sentence pairs")
            lines.append(" ".join(f"{pair.src[link.src]}{WORD_SEPARATOR}{pair.tgt[link.tgt]}" for link in ordered) + "\n")
        return lines

    def _record(self, pair: Optional[SentencePair], result: "AlignedPair", ordered: Sequence) -> str:
        if pair is None:
            raise ConfigError("JSON Lines records need the sentence pairs")
        record: dict = {
            "src": list(pair.src),
            "tgt": list(pair.tgt),
            "links": [[link.src, link.tgt] for link in ordered],
            "scores": [round(link.score, 4) for link in ordered],
        }
        if self.matrix:
            matrix = result.matrix
            record["matrix"] = None if matrix is None else [[_cell(value) for value in row] for row in matrix.tolist()]
        # ensure_ascii=False keeps words readable; JSON escapes newlines, so a record is one line.
        return json.dumps(record, ensure_ascii=False) + "\n"


def _cell(value: float) -> Optional[float]:
    return None if math.isnan(value) else round(value, 6)
