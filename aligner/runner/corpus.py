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
from ..io import file_of_side, format_pharaoh, read_pairs
from ..pipeline import Aligner, RunStats, SymmetrizedAligner, make_aligner
from ..signature import Signature


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
    progress: Optional[Callable[[int], None]] = None,
    stream: Optional[TextIO] = None,
) -> CorpusRun:
    """Align the pairs of ``inputs`` ((source, target) files, or one ``source ||| target`` file; ``-`` is stdin).

    Writes Pharaoh lines to ``output`` (``None`` or ``-``: to ``stream``, default stdout), with
    ``i-j:score`` when ``scores``. An existing output is refused unless ``overwrite``;
    ``resume`` keeps the complete chunks of an interrupted run and aligns the rest.
    ``progress`` is called with the number of input lines done after each chunk.

    >>> run = align_corpus(AlignConfig(device="cpu"), ["src.txt", "tgt.txt"], "out.align")  # doctest: +SKIP
    """
    from ..files import claim_outputs
    from .distributed import World

    to_file = output not in (None, "-")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    if resume and not to_file:
        raise ConfigError("--resume needs an output file (-o)")
    with ExitStack() as claim:
        if to_file:
            # Only rank 0 locks: the other ranks of a distributed run write the same output.
            lock = World.from_environment().rank == 0
            claim_outputs(run_outputs(str(output)), inputs, claim, overwrite=overwrite or resume, lock=lock)
        try:
            return _align_corpus(config, inputs, output, resume, overwrite, scores, progress, stream)
        except OSError as exc:
            if exc.filename is None and to_file:
                exc.filename = str(output)  # a failed write() names no file; the output is the one written
            raise


def run_outputs(output: str) -> list[str]:
    """Every path a run with ``-o output`` may create or replace, the output first."""
    from .distributed import parts_dir
    from .resume import manifest_path

    path = Path(output)
    manifest = manifest_path(path)
    return [output, str(manifest), str(manifest.with_name(manifest.name + ".tmp")), str(parts_dir(path)), str(path.with_name(path.name + ".tmp"))]


def _align_corpus(
    config: AlignConfig,
    inputs: Sequence[str],
    output: Optional[str],
    resume: bool,
    overwrite: bool,
    scores: bool,
    progress: Optional[Callable[[int], None]],
    stream: Optional[TextIO],
) -> CorpusRun:
    from .distributed import World, parts_dir, use_local_gpu

    to_file = output not in (None, "-")
    pairs = read_pairs(inputs)
    world = World.from_environment()
    unfinished_parts = to_file and parts_dir(Path(str(output))).is_dir()
    if unfinished_parts and not (resume or overwrite):
        raise InputError("an unfinished run left part files here; finish it with --resume or start again with --overwrite", output)
    if world.distributed or unfinished_parts:
        if not to_file:
            raise ConfigError("a distributed run writes part files and needs an output file (-o)")
        use_local_gpu(world, config.device)
        return _align_in_parts(world, make_aligner(config), inputs, Path(str(output)), resume, scores)
    aligner = make_aligner(config)
    started = time.perf_counter()
    with ExitStack() as stack:
        # Nothing is opened for writing before the inputs are checked (line counts of regular
        # files) and the model is loaded, so a bad run leaves existing files alone.
        pairs = _prefetch_first(pairs)
        first_line = _prepare_output(Path(str(output)), resume, scores, aligner, inputs) if to_file else 0
        out: TextIO
        if to_file:
            out = stack.enter_context(open(str(output), "a" if first_line > 0 else "w", encoding="utf-8", newline="\n"))
        else:
            out = stream if stream is not None else sys.stdout
            if out is None:  # started with stdout closed (`>&-`)
                raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
        done = first_line
        try:
            lines = aligner.align_chunks(
                itertools.islice(pairs, first_line, None), first_index=first_line, transform=lambda r: format_pharaoh(r.links, scores) + "\n"
            )
            for chunk in lines:
                # One write per chunk: a killed run leaves whole chunks and at most one partial one.
                out.write("".join(chunk))
                out.flush()
                done += len(chunk)
                if progress is not None:
                    progress(done)
        except InputError as exc:
            if exc.path is None:
                exc.path = file_of_side(exc.side, inputs)
            raise
    return CorpusRun(aligner.stats, time.perf_counter() - started, aligner.signature, resumed_at=first_line)


def _align_in_parts(world, aligner: Union[Aligner, SymmetrizedAligner], inputs: Sequence[str], path: Path, resume: bool, scores: bool) -> CorpusRun:
    """The chunked run of several processes (or the resume of one): part files, then assembly by rank 0."""
    from . import distributed
    from ..io import chunk_offsets, read_pair_range
    from .resume import check_same_run, cut_to_restart_point, read_manifest, write_manifest

    chunk_size = aligner.config.chunk_size
    parts = distributed.parts_dir(path)
    started = time.perf_counter()
    distributed.start(world, aligner.device)
    try:
        if world.rank == 0:
            manifest = _run_manifest(aligner, scores, inputs)  # also refuses pipes: chunks need seekable files
            if resume and (parts.is_dir() or path.exists()):
                check_same_run(read_manifest(path), manifest, path)
                if not parts.is_dir():
                    cut_to_restart_point(path, manifest.lines, chunk_size)
                    distributed.split_into_parts(path, parts, chunk_size)
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

        def align_text(chunk: int) -> str:
            first = chunk * chunk_size
            pairs = read_pair_range(inputs, [o[chunk] for o in offsets], first + 1, chunk_size)
            try:
                # Drain the generator: a failure is raised after the pairs read before it.
                lines = [line for part in aligner.align_chunks(pairs, first, lambda r: format_pharaoh(r.links, scores) + "\n") for line in part]
            except InputError as exc:
                if exc.path is None:
                    exc.path = file_of_side(exc.side, inputs)
                raise
            return "".join(lines)

        distributed.run_chunks(
            world,
            world.chunks(len(offsets[0])),
            distributed.finished_chunks(parts),
            align_text,
            lambda chunk: (chunk * chunk_size + 1, min((chunk + 1) * chunk_size, total)),
            parts,
        )
        distributed.barrier(world)
        if world.rank == 0:
            distributed.assemble(parts, len(offsets[0]), path)
    finally:
        distributed.stop(world)
    return CorpusRun(aligner.stats, time.perf_counter() - started, aligner.signature, world.size, rank=world.rank)


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


def _run_manifest(aligner: Union[Aligner, SymmetrizedAligner], scores: bool, inputs: Sequence[str]):
    from .resume import RunManifest, describe_inputs

    config = aligner.config
    return RunManifest(
        settings=aligner.signature.extended(scores="yes" if scores else "no", long="skip" if config.skip_long else "error").format(),
        batch_size=config.batch_size,
        chunk_size=config.chunk_size,
        inputs=describe_inputs(inputs),
    )


def _prepare_output(path: Path, resume: bool, scores: bool, aligner: Union[Aligner, SymmetrizedAligner], inputs: Sequence[str]) -> int:
    """Write or check the run manifest; return the input line to start from (0 unless resuming)."""
    from .resume import check_same_run, cut_to_restart_point, read_manifest, write_manifest

    if not resume and any(name == "-" or not os.path.isfile(name) for name in inputs):
        # A pipe cannot be hashed or re-read: no manifest, no resume; and an old run's manifest
        # would describe an output this run replaces, so that a later --resume splices two runs.
        from ..files import remove_quietly
        from .resume import manifest_path

        remove_quietly(manifest_path(path))
        return 0
    if path.exists() and not path.is_file():
        return 0  # /dev/null, a FIFO: nothing to resume, no manifest to put beside it
    manifest = _run_manifest(aligner, scores, inputs)
    if resume and path.exists():
        check_same_run(read_manifest(path), manifest, path)
        return cut_to_restart_point(path, manifest.lines, aligner.config.chunk_size)
    write_manifest(path, manifest)
    return 0
