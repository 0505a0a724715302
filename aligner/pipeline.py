"""From sentence pairs to word links: the alignment driver over an :class:`~aligner.engine.Engine`.

This module ties the pure steps together; it reads no files and prints nothing.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .config import AlignConfig
from .engine import EXTRA_COLUMNS, Engine, EncodedPair, extra_columns
from .errors import AlignerError, ConfigError
from .extraction import ScoreRequest
from .io import ScoredLink, SentencePair
from .presets import PresetChoice, check_preset_indices, preset_settings
from .signature import Signature
from .symmetrize import symmetrize_directions

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class AlignedPair:
    links: list[ScoredLink]
    src_words: int
    tgt_words: int
    empty: bool  # a side had no pieces at all, so the model was not run
    words_without_pieces: int
    unknown_pieces: int
    skipped_long: bool = False
    matrix: Optional[np.ndarray] = None  # the word-level matrix that decided the links, when kept (keep_matrices)


@dataclass(frozen=True)
class WordMatrices:
    """One pair's word-level score matrices, keyed by 1-based decoder layer.

    Each matrix has a row per target word and a column per source word, then one column per
    ``extra_columns`` entry (the source ``</s>``, then for the residual measures the residual).
    Scores are the aligner's measure at its step, its chosen heads averaged (all heads together
    when none are chosen), pieces merged to words.
    A pair with an empty side (or skipped as too long) has no matrices.
    """

    src: tuple[str, ...]
    tgt: tuple[str, ...]
    layers: dict[int, np.ndarray] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = EXTRA_COLUMNS


@dataclass
class RunStats:
    pairs: int = 0
    empty_pairs: int = 0
    skipped_long: int = 0
    words_without_pieces: int = 0
    unknown_pieces: int = 0
    pieces: int = 0

    def add(self, pair: AlignedPair, pieces: int) -> None:
        self.pairs += 1
        self.empty_pairs += pair.empty
        self.skipped_long += pair.skipped_long
        self.words_without_pieces += pair.words_without_pieces
        self.unknown_pieces += pair.unknown_pieces
        self.pieces += pieces


class Aligner:
    """Word alignments from a fairseq Transformer's cross-attention.

    The model is held by an :class:`Engine` (loaded from ``config`` unless one is given, so
    several aligners can share one model); the aligner adds the settings that turn its
    matrices into links.

    >>> aligner = Aligner.from_pretrained("data/models/toy-deen", device="cpu")   # doctest: +SKIP
    >>> [pair.links for pair in aligner.align([SentencePair(("Das", "Haus"), ("The", "house"))])]  # doctest: +SKIP
    """

    @classmethod
    def from_pretrained(
        cls, path_or_default: Union[str, Path, None] = None, *, preset: PresetChoice = True, force_preset: bool = False, **overrides: Any
    ) -> "Aligner":
        """The aligner of a model bundle (or checkpoint; ``None``: the default model) with its own settings.

        The bundle's preset (its ``aligner.json`` names it) gives every setting it records; each
        keyword in ``overrides`` (any :class:`AlignConfig` setting) replaces that field only, and
        the signature's ``preset`` then names the overridden fields, as ``aligner align`` does.
        ``preset=False`` gives the paper's defaults; ``preset=PATH`` another preset file. A preset
        chosen for other weights than the model's is refused (ConfigError naming the preset file)
        unless ``force_preset=True``.
        """
        settings = dict(overrides)
        if settings.get("reverse_path") is not None:
            raise ConfigError("from_pretrained loads one model; for two symmetrized ones use make_aligner(AlignConfig(...))")
        if path_or_default is not None:
            settings["path"] = Path(path_or_default)
        return cls(AlignConfig(**preset_settings(settings, preset, given=set(overrides), force=force_preset)))

    def __init__(self, config: AlignConfig = AlignConfig(), engine: Optional[Engine] = None):
        self.engine = engine if engine is not None else Engine.load(config.model, config.device, config.dtype)
        info = self.engine.info
        extraction = config.extraction.for_model(info.decoder_layers)
        check_preset_indices(self.engine.check_indices, extraction.layers, extraction.heads, config.preset)
        self.config = config.replace(extraction=extraction)
        self.stats = RunStats()
        self.keep_matrices = False  # attach each pair's word matrix to its AlignedPair (JSON Lines output)

    @property
    def device(self):
        return self.engine.device

    @property
    def requests(self) -> list[ScoreRequest]:
        """The matrices whose mean decides the links: one per chosen layer (and head)."""
        return self.config.extraction.requests()

    def links(self, matrix: np.ndarray, pair: EncodedPair) -> list[ScoredLink]:
        """The configured decision on one pair's word matrix, then the final-punctuation rule.

        A matrix with two columns after the source words is a residual measure's (``</s>``, residual).
        """
        return self.config.rule.links(matrix, pair.final_punctuation, residual=matrix.shape[1] - pair.src_words == 2)

    @property
    def signature(self) -> Signature:
        """What produced this aligner's links (print it with ``str``)."""
        return Signature.of(self.engine.info, self.config.extraction, self.config.rule, self.config.preset)

    def encode(self, index: int, pair: SentencePair) -> EncodedPair:
        return self.engine.encode(index, pair, self.config.skip_long)

    def batches(self, pairs: Sequence[EncodedPair]) -> list[list[EncodedPair]]:
        return self.engine.batches(pairs, self.config.batch_size, self.config.max_tokens)

    def word_scores(self, pairs: Sequence[EncodedPair], requests: Sequence[ScoreRequest]):
        return self.engine.word_scores(pairs, requests)

    def matrices(self, pairs: Iterable[SentencePair], layers: Optional[Sequence[int]] = None) -> list[WordMatrices]:
        """Word-level matrices of each pair at 1-based ``layers`` (default: every decoder layer).

        The measure, step, heads and merges are this aligner's (:attr:`config`); the matrices are
        the ones its links are decided on, before the decision (its layers averaged).
        """
        chosen = tuple(layers) if layers is not None else tuple(range(1, self.engine.info.decoder_layers + 1))
        self.engine.check_indices(chosen)
        per_layer = {layer: replace(self.config.extraction, layers=(layer,)) for layer in chosen}
        requests = list(dict.fromkeys(request for extraction in per_layer.values() for request in extraction.requests()))
        given = list(pairs)
        encoded = [self.encode(index, pair) for index, pair in enumerate(given)]
        found: dict[int, Any] = {}
        for batch in self.batches([pair for pair in encoded if pair.runnable]):
            found.update((pair.index, scores) for pair, scores in zip(batch, self.engine.word_scores(batch, requests)))
        return [
            WordMatrices(
                pair.src,
                pair.tgt,
                {layer: extraction.combine(found[index]) for layer, extraction in per_layer.items()} if index in found else {},
                extra_columns(self.config.extraction.measure),
            )
            for index, pair in enumerate(given)
        ]

    def align_encoded(self, pairs: Sequence[EncodedPair]) -> list[AlignedPair]:
        """Links for a batch of encoded pairs, in the order given."""
        requests = self.requests
        runnable = [pair for pair in pairs if pair.runnable]
        matrices = iter(self.engine.word_scores(runnable, requests) if runnable else [])
        results = []
        for pair in pairs:
            links, matrix = [], None
            if pair.runnable:
                by_request = next(matrices)
                matrix = self.config.extraction.combine(by_request)
                if not np.isfinite(matrix).all():
                    # NaN scores give no links; say so instead of writing silent empty lines.
                    logger.warning("pair %d: non-finite attention scores (NaN or inf); its links are unreliable", pair.index + 1)
                links = self.links(matrix, pair)
            result = AlignedPair(
                links=links,
                src_words=len(pair.src.pieces_per_word),
                tgt_words=len(pair.tgt.pieces_per_word),
                empty=pair.empty,
                words_without_pieces=pair.src.empty_words + pair.tgt.empty_words,
                unknown_pieces=pair.src.unknown_pieces + pair.tgt.unknown_pieces,
                skipped_long=pair.too_long,
                matrix=matrix if self.keep_matrices else None,
            )
            self.stats.add(result, len(pair.src.ids) + len(pair.tgt.ids))
            results.append(result)
        return results

    def align_chunks(
        self, pairs: Iterable[SentencePair], first_index: int = 0, transform: Optional[Callable[[AlignedPair], Any]] = None
    ) -> Iterator[list]:
        """Aligned pairs in input order, one list per chunk of ``chunk_size`` input lines.

        ``transform`` (e.g. formatting a Pharaoh line) is applied as soon as a batch is done,
        so a chunk holds only what the caller keeps, not every pair's link objects.

        A chunk is the unit of memory, sorting and output: its pairs are sorted by length
        into batches (less padding) and its results restored to input order. Chunks start
        at fixed multiples of ``chunk_size`` from ``first_index``, so a resumed run forms
        the same batches as an uninterrupted one. If reading fails inside a chunk, the pairs
        read before the failure are still returned before the error is raised.
        """
        numbered = (self.encode(index, pair) for index, pair in enumerate(pairs, start=first_index))
        while True:
            chunk: list[EncodedPair] = []
            failure: Optional[AlignerError] = None
            try:
                chunk.extend(itertools.islice(numbered, self.config.chunk_size))
            except AlignerError as exc:
                failure = exc
            if chunk:
                yield self.align_chunk(chunk, transform)
            if failure is not None:
                raise failure
            if len(chunk) < self.config.chunk_size:
                return

    def align_chunk(self, chunk: Sequence[EncodedPair], transform: Optional[Callable[[AlignedPair], Any]] = None) -> list:
        results: dict[int, Any] = {}
        for batch in self.batches(chunk):
            for pair, result in zip(batch, self.align_encoded(batch)):
                results[pair.index] = transform(result) if transform is not None else result
        return [results[pair.index] for pair in chunk]

    def align(self, pairs: Iterable[SentencePair]) -> Iterator[AlignedPair]:
        """Aligned pairs in input order (see :meth:`align_chunks`)."""
        for chunk in self.align_chunks(pairs):
            yield from chunk
def reverse_config(config: AlignConfig) -> AlignConfig:
    """The settings of ``config``'s reverse model (see :meth:`AlignConfig.reversed`)."""
    return config.reversed()


class SymmetrizedAligner:
    """A forward and a reverse (target-to-source) model, their links symmetrized per pair.

    The reverse model aligns the swapped pairs; its links are transposed to source-target
    order and combined with the forward links by ``config.symmetrize`` (atools semantics).
    A link found in both directions scores the mean of its two scores.
    """

    def __init__(self, config: AlignConfig):
        if config.reverse_path is None:
            raise ConfigError("symmetrization needs a reverse model (reverse_path)")
        self.forward = Aligner(config.replace(reverse_path=None))
        self.reverse = Aligner(config.reversed())
        self.config = self.forward.config
        self.device = self.forward.device

    @property
    def stats(self) -> RunStats:
        return self.forward.stats

    @property
    def signature(self) -> Signature:
        return self.forward.signature.symmetrized(self.config.symmetrize, self.reverse.engine.info)

    def align_chunks(
        self, pairs: Iterable[SentencePair], first_index: int = 0, transform: Optional[Callable[[AlignedPair], Any]] = None
    ) -> Iterator[list]:
        forward_pairs, reverse_pairs = itertools.tee(pairs)
        swapped = (SentencePair(pair.tgt, pair.src) for pair in reverse_pairs)
        reverse_chunks = self.reverse.align_chunks(swapped, first_index)
        keep = transform if transform is not None else (lambda result: result)
        for forward_chunk in self.forward.align_chunks(forward_pairs, first_index):
            yield [keep(self._combine(f, r)) for f, r in zip(forward_chunk, next(reverse_chunks))]

    def align(self, pairs: Iterable[SentencePair]) -> Iterator[AlignedPair]:
        for chunk in self.align_chunks(pairs):
            yield from chunk

    def _combine(self, forward: AlignedPair, reverse: AlignedPair) -> AlignedPair:
        return replace(forward, links=symmetrize_directions(forward.links, reverse.links, self.config.symmetrize))


def make_aligner(config: AlignConfig) -> "Aligner | SymmetrizedAligner":
    """The aligner a config asks for: one model, or two symmetrized when ``reverse_path`` is set."""
    return SymmetrizedAligner(config) if config.reverse_path is not None else Aligner(config)
