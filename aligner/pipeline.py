"""From sentence pairs to word links: the alignment driver over an :class:`~aligner.engine.Engine`.

This module ties the pure steps together; it reads no files and prints nothing.
"""

from __future__ import annotations

import copy
import itertools
import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .config import AlignConfig
from .decisions import candidate_shares, decide, link_final_punctuation
from .engine import Engine, EncodedPair
from .errors import AlignerError, ConfigError
from .extraction import ScoreRequest
from .io import ScoredLink, SentencePair
from .symmetrize import symmetrize

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

    >>> aligner = Aligner(AlignConfig(path=Path("data/models/toy-deen")))   # doctest: +SKIP
    >>> [pair.links for pair in aligner.align([SentencePair(("Das", "Haus"), ("The", "house"))])]  # doctest: +SKIP
    """

    def __init__(self, config: AlignConfig = AlignConfig(), engine: Optional[Engine] = None):
        self.engine = engine if engine is not None else Engine.load(config, config.device, config.dtype)
        info = self.engine.info
        self.config = config.with_model(info.decoder_layers, info.heads)
        self.stats = RunStats()

    @property
    def device(self):
        return self.engine.device

    def with_settings(self, **changes) -> "Aligner":
        """The same model with other alignment settings (decisions, layers): no reloading."""
        clone = copy.copy(self)
        clone.config = replace(self.config, **changes)
        clone.stats = RunStats()
        return clone

    @property
    def requests(self) -> list[ScoreRequest]:
        """The matrices whose mean decides the links: one per chosen layer (and head)."""
        config = self.config
        heads = [head - 1 for head in config.heads] or [None]
        return [
            ScoreRequest(layer - 1, head, config.measure, config.step, config.src_merge, config.tgt_merge)
            for layer in config.layers
            for head in heads
        ]

    def links(self, matrix: np.ndarray, pair: EncodedPair) -> list[ScoredLink]:
        """The configured decision on one pair's word matrix, then the final-punctuation rule."""
        config = self.config
        links = decide(matrix, config.decision, config.threshold, config.eos_null, config.normalize)
        if config.final_punct and pair.final_punctuation:
            src_words, tgt_words = len(pair.src.pieces_per_word), len(pair.tgt.pieces_per_word)
            share = candidate_shares(matrix, config.eos_null)[tgt_words - 1, src_words - 1]
            links = link_final_punctuation(links, src_words, tgt_words, 0.0 if np.isnan(share) else float(share))
        return links

    @property
    def signature(self) -> str:
        return self.signature_with()

    def signature_with(self, **overrides: str) -> str:
        info = self.engine.info
        return self.config.signature(info.name, info.sha256, info.decoder_layers, info.lowercase, info.subword, overrides)

    def encode(self, index: int, pair: SentencePair) -> EncodedPair:
        return self.engine.encode(index, pair, self.config.skip_long)

    def batches(self, pairs: Sequence[EncodedPair]) -> list[list[EncodedPair]]:
        return self.engine.batches(pairs, self.config.batch_size, self.config.max_tokens)

    def word_scores(self, pairs: Sequence[EncodedPair], requests: Sequence[ScoreRequest]):
        return self.engine.word_scores(pairs, requests)

    def align_encoded(self, pairs: Sequence[EncodedPair]) -> list[AlignedPair]:
        """Links for a batch of encoded pairs, in the order given."""
        requests = self.requests
        runnable = [pair for pair in pairs if pair.runnable]
        matrices = iter(self.engine.word_scores(runnable, requests) if runnable else [])
        results = []
        for pair in pairs:
            links = []
            if pair.runnable:
                by_request = next(matrices)
                links = self.links(np.mean([by_request[request] for request in requests], axis=0), pair)
            result = AlignedPair(
                links=links,
                src_words=len(pair.src.pieces_per_word),
                tgt_words=len(pair.tgt.pieces_per_word),
                empty=pair.empty,
                words_without_pieces=pair.src.empty_words + pair.tgt.empty_words,
                unknown_pieces=pair.src.unknown_pieces + pair.tgt.unknown_pieces,
                skipped_long=pair.too_long,
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
    """The settings of ``config``'s reverse model: the same alignment settings, languages swapped.

    Explicit subword models swap sides with the languages; a bundle's per-language models
    need nothing, since they are looked up by language.
    """
    if config.reverse_path is None:
        raise ConfigError("symmetrization needs a reverse model (reverse_path)")
    source_models = (config.sentencepiece_model, config.bpe_codes)
    target_models = (config.target_sentencepiece_model, config.target_bpe_codes)
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
        config,
        path=config.reverse_path,
        reverse_path=None,
        source_lang=config.target_lang,
        target_lang=config.source_lang,
        sentencepiece_model=target_models[0],
        bpe_codes=target_models[1],
        target_sentencepiece_model=source_models[0],
        target_bpe_codes=source_models[1],
    )


class SymmetrizedAligner:
    """A forward and a reverse (target-to-source) model, their links symmetrized per pair.

    The reverse model aligns the swapped pairs; its links are transposed to source-target
    order and combined with the forward links by ``config.symmetrize`` (atools semantics).
    A link found in both directions scores the mean of its two scores.
    """

    def __init__(self, config: AlignConfig):
        if config.reverse_path is None:
            raise ConfigError("symmetrization needs a reverse model (reverse_path)")
        self.forward = Aligner(replace(config, reverse_path=None))
        self.reverse = Aligner(reverse_config(config))
        self.config = self.forward.config
        self.device = self.forward.device

    @property
    def stats(self) -> RunStats:
        return self.forward.stats

    @property
    def signature(self) -> str:
        return self.signature_with()

    def signature_with(self, **overrides: str) -> str:
        reverse = self.reverse.engine.info.model_id
        return self.forward.signature_with(symmetrize=f"{self.config.symmetrize}+{reverse}", **overrides)

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
        scores: dict[tuple[int, int], list[float]] = {}
        for link in forward.links:
            scores.setdefault((link.src, link.tgt), []).append(link.score)
        for link in reverse.links:
            scores.setdefault((link.tgt, link.src), []).append(link.score)
        chosen = symmetrize(
            [(l.src, l.tgt) for l in forward.links], [(l.tgt, l.src) for l in reverse.links], self.config.symmetrize
        )
        links = [ScoredLink(i, j, float(np.mean(scores[(i, j)]))) for i, j in sorted(chosen)]
        return replace(forward, links=links)


def make_aligner(config: AlignConfig) -> "Aligner | SymmetrizedAligner":
    """The aligner a config asks for: one model, or two symmetrized when ``reverse_path`` is set."""
    return SymmetrizedAligner(config) if config.reverse_path is not None else Aligner(config)
