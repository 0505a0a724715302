"""From sentence pairs to word links: batching, forced decoding, measures, merging, decisions.

This module ties the pure steps together; it reads no files and prints nothing.
"""

from __future__ import annotations

import copy
import itertools
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch

from .batching import token_batches
from .checkpoint import load_model
from .config import AlignConfig
from .decisions import candidate_shares, decide, is_punctuation, link_final_punctuation
from .errors import AlignerError, ConfigError, InputError, ResourceError
from .io import ScoredLink, SentencePair
from .measures import measure_scores
from .merge import merge_to_words, spans_from_counts
from .model import TransformerModel
from .resources import ModelResources, default_model, find_bundle, resolve_resources
from .subword import EncodedSentence
from .symmetrize import symmetrize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreRequest:
    """One matrix to read from a forced-decoding pass; layer and head are 0-based."""

    layer: int
    head: Optional[int]
    measure: str
    step: str


@dataclass(slots=True)
class EncodedPair:
    index: int  # 0-based position in the input
    src: EncodedSentence
    tgt: EncodedSentence
    too_long: bool = False  # longer than the model's positions and skipped (--skip-long)
    final_punctuation: bool = False  # both sentences end in a punctuation token

    @property
    def empty(self) -> bool:
        return not self.src.ids or not self.tgt.ids

    @property
    def runnable(self) -> bool:
        return not self.empty and not self.too_long


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def select_rows(scores: np.ndarray, target_pieces: int, step: str) -> np.ndarray:
    """Rows for the target pieces from a (decoder steps x source) matrix.

    Decoder input is ``</s> y1 .. yn``: the step with input ``</s>`` predicts y1. AWO
    gives y_k the row that predicts it (k-1); AWI the row where it is the input (k).
    Either way the row of the final ``</s>`` is dropped.
    """
    start = 0 if step == "awo" else 1
    return scores[start : start + target_pieces]


def piece_scores(
    model: TransformerModel,
    src_tokens: torch.Tensor,
    prev_output_tokens: torch.Tensor,
    requests: Sequence[ScoreRequest],
) -> dict[ScoreRequest, torch.Tensor]:
    """(batch, decoder steps, source) score tensors for each request, from one forward pass."""
    layers = {request.layer for request in requests}
    need_values = any(request.measure == "norm" for request in requests)
    with torch.inference_mode():
        decoding = model.forced_decode(src_tokens, prev_output_tokens, layers, need_values)
        return {
            request: measure_scores(
                request.measure,
                decoding.cross_attention[request.layer].alpha,
                _float(decoding.cross_attention[request.layer].values),
                request.head,
            ).float()
            for request in requests
        }


def _float(tensor: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if tensor is None else tensor.float()


def collate(pairs: Sequence[EncodedPair], pad: int, eos: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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


def word_matrix(scores: np.ndarray, pair: EncodedPair, step: str, src_merge: str, tgt_merge: str) -> np.ndarray:
    """One pair's (target words x source words + ``</s>``) matrix from its batch row."""
    rows = select_rows(scores, len(pair.tgt.ids), step)
    piece_matrix = rows[:, : len(pair.src.ids) + 1]
    return merge_to_words(
        piece_matrix,
        spans_from_counts(pair.src.pieces_per_word),
        spans_from_counts(pair.tgt.pieces_per_word),
        src_merge,
        tgt_merge,
    )


class Aligner:
    """Word alignments from a fairseq Transformer's cross-attention.

    >>> aligner = Aligner(AlignConfig(path=Path("data/models/toy-deen")))   # doctest: +SKIP
    >>> [pair.links for pair in aligner.align([SentencePair(("Das", "Haus"), ("The", "house"))])]  # doctest: +SKIP
    """

    def __init__(self, config: AlignConfig = AlignConfig()):
        checkpoint, bundle = find_bundle(Path(config.path) if config.path is not None else default_model())
        self.device = resolve_device(config.device)
        model, self.info = load_model(checkpoint, getattr(torch, config.dtype))
        self.model: TransformerModel = model.to(self.device)
        self.resources: ModelResources = resolve_resources(
            checkpoint,
            bundle,
            self.info,
            data_dir=config.data_dir,
            source_lang=config.source_lang,
            target_lang=config.target_lang,
            sentencepiece_model=config.sentencepiece_model,
            bpe_codes=config.bpe_codes,
            lowercase=config.lowercase,
            target_sentencepiece_model=config.target_sentencepiece_model,
            target_bpe_codes=config.target_bpe_codes,
        )
        self._check_vocabulary_sizes()
        spec = self.model.spec
        self.config = config.with_model(spec.decoder_layers, spec.decoder_attention_heads)
        self.stats = RunStats()

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
        return [ScoreRequest(layer - 1, head, config.measure, config.step) for layer in config.layers for head in heads]

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
        resources = self.resources
        return self.config.signature(
            resources.name,
            self.info.sha256,
            self.model.spec.decoder_layers,
            resources.lowercase,
            resources.subword,
            overrides,
        )

    def encode(self, index: int, pair: SentencePair) -> EncodedPair:
        resources = self.resources
        encoded = EncodedPair(
            index,
            resources.source_preprocessor.encode(pair.src, resources.source_dictionary),
            resources.target_preprocessor.encode(pair.tgt, resources.target_dictionary),
            final_punctuation=bool(pair.src and pair.tgt) and is_punctuation(pair.src[-1]) and is_punctuation(pair.tgt[-1]),
        )
        encoded.too_long = self._too_long(encoded)
        return encoded

    def _too_long(self, pair: EncodedPair) -> bool:
        spec = self.model.spec
        for side, pieces, limit in (
            ("source", len(pair.src.ids), spec.max_source_positions),
            ("target", len(pair.tgt.ids), spec.max_target_positions),
        ):
            if pieces + 1 > limit:
                if self.config.skip_long:
                    return True
                raise InputError(
                    f"{side} sentence has {pieces} subword pieces plus </s>, more than the model's {limit} positions "
                    "(--skip-long writes an empty line for such pairs instead)",
                    line=pair.index + 1,
                )
        return False

    def word_scores(
        self, pairs: Sequence[EncodedPair], requests: Sequence[ScoreRequest]
    ) -> list[dict[ScoreRequest, np.ndarray]]:
        """Word-level matrices (target words x source words + ``</s>``) of non-empty pairs, per request."""
        dictionary = self.resources.target_dictionary
        src, prev = collate(pairs, dictionary.pad, dictionary.eos, self.device)
        # One device-to-host copy per request and batch, not one per pair.
        batch_scores = {request: scores.cpu().numpy() for request, scores in piece_scores(self.model, src, prev, requests).items()}
        config = self.config
        return [
            {
                request: word_matrix(scores[row], pair, request.step, config.src_merge, config.tgt_merge)
                for request, scores in batch_scores.items()
            }
            for row, pair in enumerate(pairs)
        ]

    def align_encoded(self, pairs: Sequence[EncodedPair]) -> list[AlignedPair]:
        """Links for a batch of encoded pairs, in the order given."""
        requests = self.requests
        runnable = [pair for pair in pairs if pair.runnable]
        matrices = iter(self.word_scores(runnable, requests) if runnable else [])
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

    def batches(self, pairs: Sequence[EncodedPair]) -> list[list[EncodedPair]]:
        """Length-sorted batches under ``batch_size`` and ``max_tokens`` (ties keep input order)."""
        by_length = sorted(pairs, key=lambda p: (max(len(p.src.ids), len(p.tgt.ids)), p.index))
        lengths = [max(len(p.src.ids), len(p.tgt.ids)) + 1 for p in by_length]
        return [by_length[r.start : r.stop] for r in token_batches(lengths, self.config.batch_size, self.config.max_tokens)]

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
        reverse = f"{self.reverse.resources.name}@{self.reverse.info.sha256[:8]}"
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
