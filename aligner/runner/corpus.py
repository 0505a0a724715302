"""The corpus runner: align files into a Pharaoh file, resumable, in chunks, on one or several processes.

:func:`align_corpus` is what ``aligner align`` runs; the CLI only parses options, calls it and
prints its :class:`CorpusRun`. With an output file, a manifest (``OUTPUT.manifest.json``: input
hashes, settings) is written beside it, so that an interrupted run can be finished with
``resume=True`` and gives the same bytes as an uninterrupted one. Under torchrun (``WORLD_SIZE``
> 1) the chunks are shared among the processes (:mod:`aligner.runner.distributed`).
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TextIO, Union

from ..config import AlignConfig
from ..errors import ConfigError, InputError
from ..io import count_lines, file_of_side, is_regular_file, read_pairs
from ..pipeline import Aligner, RunStats, SymmetrizedAligner, make_aligner
from ..signature import Signature
from .outputs import OutputSpec

# Called with (input lines done, total input lines or None for a pipe) after each batch.
Progress = Callable[[int, Optional[int]], None]


@dataclass(frozen=True)
class CorpusRun:
    """What a finished :func:`align_corpus` reports."""

    stats: RunStats  # this process's counts (rank 0's share in a distributed run)
    seconds: float
    signature: Signature
    world_size: int = 1
    resumed_at: int = 0  # input lines kept from an interrupted run
    rank: int = 0  # this process's rank; rank 0 reports


def align_corpus(
    config: AlignConfig,
    inputs: Sequence[str],
    output: Optional[str] = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    scores: bool = False,
    outputs: Optional[OutputSpec] = None,
    progress: Optional[Progress] = None,
    stream: Optional[TextIO] = None,
) -> CorpusRun:
    """Align the pairs of ``inputs`` ((source, target) files, or one ``source ||| target`` file; ``-`` is stdin).

    Writes Pharaoh lines to ``output`` (``None`` or ``-``: to ``stream``, default stdout), with
    ``i-j:score`` when ``scores``; ``outputs`` chooses JSON Lines and side files (scores, word
    pairs; see :mod:`aligner.runner.outputs`). An existing output is refused unless ``overwrite``;
    ``resume`` keeps the complete chunks of an interrupted run (of every output) and aligns the rest.
    ``progress`` is called with the input lines done and the total (``None`` for a pipe) after each batch.

    >>> run = align_corpus(AlignConfig(device="cpu"), ["src.txt", "tgt.txt"], "out.align")  # doctest: +SKIP
    """
    from ..files import claim_outputs
    from .distributed import World

    to_file = output not in (None, "-")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    if resume and not to_file:
        raise ConfigError("--resume needs an output file (-o)")
    spec = (outputs if outputs is not None else OutputSpec()).with_inline_scores(scores)
    files = spec.files(output)
    with ExitStack() as claim:
        written = [file.path for file in files if file.path not in (None, "-")]
        if written:
            # Only rank 0 locks: the other ranks of a distributed run write the same output.
            lock = World.from_environment().rank == 0
            claim_outputs(run_outputs(output, spec), inputs, claim, overwrite=overwrite or resume, lock=lock, files=written)
        try:
            return _align_corpus(config, inputs, output, resume, overwrite, spec, progress, stream)
        except OSError as exc:
            if exc.filename is None and written:
                exc.filename = str(written[0])  # a failed write() names no file; the main output is the likeliest one
            raise


def run_outputs(output: Optional[str], spec: OutputSpec) -> list[str]:
    """Every path a run may create or replace: the main output (unless stdout) and its manifest,
    parts directory and temporary files, then each side file and its temporary file."""
    from .distributed import parts_dir
    from .resume import manifest_path

    paths = []
    if output not in (None, "-"):
        path = Path(str(output))
        manifest = manifest_path(path)
        paths += [str(path), str(manifest), str(manifest.with_name(manifest.name + ".tmp")), str(parts_dir(path)), str(path.with_name(path.name + ".tmp"))]
    for side in spec.side_paths():
        paths += [side, side + ".tmp"]
    return paths


def _align_corpus(
    config: AlignConfig,
    inputs: Sequence[str],
    output: Optional[str],
    resume: bool,
    overwrite: bool,
    spec: OutputSpec,
    progress: Optional[Progress],
    stream: Optional[TextIO],
) -> CorpusRun:
    from .distributed import World, parts_dir, use_local_gpu

    to_file = output not in (None, "-")
    files = spec.files(output)
    pairs = read_pairs(inputs)
    world = World.from_environment()
    unfinished_parts = to_file and parts_dir(Path(str(output))).is_dir()
    if unfinished_parts and not (resume or overwrite):
        raise InputError("an unfinished run left part files here; finish it with --resume or start again with --overwrite", output)
    if world.distributed or unfinished_parts:
        if not to_file:
            raise ConfigError("a distributed run writes part files and needs an output file (-o)")
        use_local_gpu(world, config.device)
        return _align_in_parts(world, _make(config, spec), inputs, Path(str(output)), resume, spec, progress)
    aligner = _make(config, spec)
    started = time.perf_counter()
    with ExitStack() as stack:
        # Nothing is opened for writing before the inputs are checked (line counts of regular
        # files) and the model is loaded, so a bad run leaves existing files alone.
        pairs = _prefetch_first(pairs)
        first_line, total = _prepare_output(files, resume, spec, aligner, inputs) if to_file else (0, None)
        if total is None and is_regular_file(inputs[0]):
            total = count_lines(inputs[0])
        streams: list[TextIO] = []
        for file in files:
            if file.path in (None, "-"):
                out = stream if stream is not None else sys.stdout
                if out is None:  # started with stdout closed (`>&-`)
                    raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
                streams.append(out)
            else:
                streams.append(stack.enter_context(open(file.path, "a" if first_line > 0 else "w", encoding="utf-8", newline="\n")))
        try:
            rest = itertools.islice(pairs, first_line, None)
            for texts in _rendered_chunks(aligner, rest, first_line, spec, _counter(progress, first_line, total)):
                # One write per chunk and file: a killed run leaves whole chunks and at most one partial one.
                for out, text in zip(streams, texts):
                    out.write(text)
                    out.flush()
        except InputError as exc:
            if exc.path is None:
                exc.path = file_of_side(exc.side, inputs)
            raise
    return CorpusRun(aligner.stats, time.perf_counter() - started, aligner.signature, resumed_at=first_line)


def _align_in_parts(
    world, aligner: Union[Aligner, SymmetrizedAligner], inputs: Sequence[str], path: Path, resume: bool, spec: OutputSpec, progress: Optional[Progress]
) -> CorpusRun:
    """The chunked run of several processes (or the resume of one): part files, then assembly by rank 0."""
    from . import distributed
    from ..io import chunk_offsets, read_pair_range
    from .resume import check_same_run, cut_together, read_manifest, write_manifest

    chunk_size = aligner.config.chunk_size
    parts = distributed.parts_dir(path)
    # Side parts are written before the main part, whose presence marks a chunk done.
    files = [(file.kind, Path(str(file.path))) for file in spec.files(str(path))]
    sides, main = files[1:], files[0]
    started = time.perf_counter()
    distributed.start(world, aligner.device)
    try:
        if world.rank == 0:
            manifest = _run_manifest(aligner, spec, inputs)  # also refuses pipes: chunks need seekable files
            if resume and (parts.is_dir() or path.exists()):
                check_same_run(read_manifest(path), manifest, path)
                if not parts.is_dir():
                    cut_together([name for _, name in files], manifest.lines, chunk_size)
                    for kind, name in [*sides, main]:
                        distributed.split_into_parts(name, parts, chunk_size, kind)
            else:
                if parts.is_dir():
                    shutil.rmtree(parts)
                write_manifest(path, manifest)
                parts.mkdir()
        distributed.barrier(world)
        scans = [chunk_offsets(name, chunk_size) for name in inputs]
        counts = [count for _, count in scans]
        if len(set(counts)) > 1:
            raise InputError("line counts differ: " + ", ".join(f"{name} has {count}" for name, count in zip(inputs, counts)))
        offsets, total = [found for found, _ in scans], counts[0]
        finished = distributed.finished_chunks(parts)

        def line_range(chunk: int) -> tuple[int, int]:
            return chunk * chunk_size + 1, min((chunk + 1) * chunk_size, total)

        mine = [chunk for chunk in world.chunks(len(offsets[0])) if chunk not in finished]
        on_pair = _counter(progress if world.rank == 0 else None, 0, sum(last - first + 1 for first, last in map(line_range, mine)))

        def align_text(chunk: int) -> str:
            first = chunk * chunk_size
            pairs = read_pair_range(inputs, [o[chunk] for o in offsets], first + 1, chunk_size)
            try:
                # Drain the generator: a failure is raised after the pairs read before it.
                texts = ["".join(column) for column in zip(*_rendered_chunks(aligner, iter(pairs), first, spec, on_pair))]
            except InputError as exc:
                if exc.path is None:
                    exc.path = file_of_side(exc.side, inputs)
                raise
            texts = texts or [""] * len(files)
            for (kind, _), text in zip(sides, texts[1:]):
                distributed.write_part(parts, chunk, text, world.rank, kind)
            return texts[0]

        distributed.run_chunks(world, world.chunks(len(offsets[0])), finished, align_text, line_range, parts)
        distributed.barrier(world)
        if world.rank == 0:
            for kind, name in sides:
                distributed.assemble(parts, len(offsets[0]), name, kind, remove=False)
            distributed.assemble(parts, len(offsets[0]), path)
    finally:
        distributed.stop(world)
    return CorpusRun(aligner.stats, time.perf_counter() - started, aligner.signature, world.size, rank=world.rank)


def _make(config: AlignConfig, spec: OutputSpec) -> Union[Aligner, SymmetrizedAligner]:
    aligner = make_aligner(config)
    if spec.matrix:
        # A symmetrized pair's matrix is its forward model's (the links come from both).
        (aligner.forward if isinstance(aligner, SymmetrizedAligner) else aligner).keep_matrices = True
    return aligner


def _counter(progress: Optional[Progress], done: int, total: Optional[int]) -> Callable[[], None]:
    """What the runner calls once per aligned pair; it tells ``progress`` the lines done so far."""
    count = [done]
    if progress is not None:
        progress(done, total)

    def on_pair() -> None:
        count[0] += 1
        if progress is not None:
            progress(count[0], total)

    return on_pair


def _rendered_chunks(
    aligner: Union[Aligner, SymmetrizedAligner], pairs: Iterator, first_index: int, spec: OutputSpec, on_pair: Callable[[], None]
) -> Iterator[list[str]]:
    """Each chunk's text for every file of ``spec`` (main output first).

    Lines are formatted as soon as a batch is done, so a chunk holds text, not link objects,
    unless the words of the pairs are needed (words file, JSON Lines): they are joined per chunk.
    """
    kept: Optional[Iterator] = None
    if spec.needs_words:
        pairs, kept = itertools.tee(pairs)

    def transform(result):
        on_pair()
        return result if kept is not None else spec.render(None, result)

    for chunk in aligner.align_chunks(pairs, first_index, transform):
        if kept is not None:
            chunk = [spec.render(pair, result) for pair, result in zip(itertools.islice(kept, len(chunk)), chunk)]
        yield ["".join(column) for column in zip(*chunk)]


def _prefetch_first(pairs: Iterator) -> Iterator:
    """Start the reader so that checks done before the first pair (line counts) fail before output opens."""
    try:
        first = next(pairs)
    except StopIteration:
        return iter(())

    def chained():
        yield first
        yield from pairs

    return chained()


def _run_manifest(aligner: Union[Aligner, SymmetrizedAligner], spec: OutputSpec, inputs: Sequence[str]):
    from .resume import RunManifest, describe_inputs

    config = aligner.config
    settings = aligner.signature.extended(
        scores="yes" if spec.inline_scores else "no", long="skip" if config.skip_long else "error", **spec.manifest_parts()
    )
    return RunManifest(settings=settings.format(), batch_size=config.batch_size, max_tokens=config.max_tokens, chunk_size=config.chunk_size, inputs=describe_inputs(inputs))


def _prepare_output(files, resume: bool, spec: OutputSpec, aligner: Union[Aligner, SymmetrizedAligner], inputs: Sequence[str]) -> tuple[int, Optional[int]]:
    """Write or check the run manifest; return the input line to start from (0 unless resuming) and the line count."""
    from .resume import check_same_run, cut_together, read_manifest, write_manifest

    if not resume and any(name == "-" or not os.path.isfile(name) for name in inputs):
        # A pipe cannot be hashed or re-read: no manifest, no resume; and an old run's manifest
        # would describe an output this run replaces, so that a later --resume splices two runs.
        from ..files import remove_quietly
        from .resume import manifest_path

        remove_quietly(manifest_path(Path(str(files[0].path))))
        return 0, None
    path = Path(str(files[0].path))
    if path.exists() and not path.is_file():
        return 0, None  # /dev/null, a FIFO: nothing to resume, no manifest to put beside it
    manifest = _run_manifest(aligner, spec, inputs)
    if resume and path.exists():
        check_same_run(read_manifest(path), manifest, path)
        return cut_together([Path(str(file.path)) for file in files], manifest.lines, aligner.config.chunk_size), manifest.lines
    write_manifest(path, manifest)
    return 0, manifest.lines
