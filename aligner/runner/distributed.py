"""Aligning one corpus with several processes (torchrun, SLURM) through torch.distributed.

The input is cut into chunks of ``chunk_size`` lines (boundaries from a newline scan, the same
in every input file); chunk c goes to rank c mod world size. Each finished chunk is written
atomically to its own part file (temporary name, then rename), so a killed job leaves only
whole parts, and a resume with any number of ranks redoes exactly the chunks without one.
Rank 0 joins the parts in input order at the end. The processes talk only through barriers.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.distributed as dist

from ..errors import AlignerError, InputError

logger = logging.getLogger(__name__)

PARTS_SUFFIX = ".parts"


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "World":
        """The process's place in a torchrun (or SLURM + torchrun) job; a single process otherwise."""
        environment = os.environ
        return cls(
            rank=int(environment.get("RANK", 0)),
            size=int(environment.get("WORLD_SIZE", 1)),
            local_rank=int(environment.get("LOCAL_RANK", 0)),
        )

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def chunks(self, count: int) -> range:
        return range(self.rank, count, self.size)


def use_local_gpu(world: World, device: str) -> None:
    """Give each rank of a multi-GPU node its own GPU (by LOCAL_RANK) before the model is loaded."""
    if world.distributed and device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(world.local_rank)


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def start(world: World, device: torch.device) -> None:
    if world.distributed and not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device))
        logger.info("rank %d of %d joined (%s)", world.rank, world.size, backend_for(device))


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + PARTS_SUFFIX)


def part_path(parts: Path, chunk: int, kind: str = "align") -> Path:
    """A chunk's part of the main output (``kind`` align) or of a side file (scores, words)."""
    return parts / f"chunk-{chunk:08d}.{kind}"


def finished_chunks(parts: Path) -> set[int]:
    if not parts.is_dir():
        return set()
    return {int(path.stem.split("-")[1]) for path in parts.glob("chunk-*.align")}


def write_part(parts: Path, chunk: int, text: str, rank: int, kind: str = "align") -> None:
    target = part_path(parts, chunk, kind)
    temporary = target.with_name(f"{target.name}.rank{rank}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="\n")
    os.replace(temporary, target)


def split_into_parts(output: Path, parts: Path, chunk_size: int, kind: str = "align") -> None:
    """Turn a single process's output (cut to whole chunks) into part files, so any number of ranks can resume it."""
    parts.mkdir(exist_ok=True)
    # Split on "\n" only: words in a side file may hold other line separators (U+2028, \x85).
    lines = [line + "\n" for line in output.read_text(encoding="utf-8").split("\n")[:-1]]
    for chunk, start in enumerate(range(0, len(lines), chunk_size)):
        write_part(parts, chunk, "".join(lines[start : start + chunk_size]), rank=0, kind=kind)
    output.unlink()


def assemble(parts: Path, chunks: int, output: Path, kind: str = "align", remove: bool = True) -> None:
    """Join the parts of ``kind`` in input order into ``output`` (atomically), then remove the parts unless not ``remove``."""
    missing = [chunk for chunk in range(chunks) if not part_path(parts, chunk, kind).is_file()]
    if missing:
        raise AlignerError(f"cannot assemble the output: chunk(s) {', '.join(map(str, missing[:5]))} have no part file", parts)
    temporary = output.with_name(output.name + ".tmp")
    with open(temporary, "wb") as joined:
        for chunk in range(chunks):
            with open(part_path(parts, chunk, kind), "rb") as part:
                shutil.copyfileobj(part, joined)
    os.replace(temporary, output)
    if remove:
        shutil.rmtree(parts)


def run_chunks(
    world: World,
    chunks: Iterable[int],
    done: set[int],
    align_chunk: Callable[[int], str],
    line_range: Callable[[int], tuple[int, int]],
    parts: Path,
) -> int:
    """Align this rank's unfinished chunks; a failure names the rank and the chunk's lines."""
    written = 0
    for chunk in chunks:
        if chunk in done:
            continue
        try:
            text = align_chunk(chunk)
        except AlignerError as exc:
            first, last = line_range(chunk)
            raise InputError(f"rank {world.rank}, chunk {chunk} (lines {first}-{last}): {exc}") from None
        write_part(parts, chunk, text, world.rank)
        written += 1
    return written
