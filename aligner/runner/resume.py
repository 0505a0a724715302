"""Resuming an interrupted ``aligner align``: a manifest beside the output, and a safe restart point.

Output is written a whole chunk at a time, so a killed run leaves complete chunks and at most
one partly written chunk (possibly ending in a partial line). A resume checks that inputs and
settings are those of the manifest, cuts the output back to the last complete chunk, and
continues from there; chunks are formed at the same input offsets, hence the same batches,
so the result equals an uninterrupted run byte for byte.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from .. import __version__
from ..errors import InputError
from ..io import count_lines, file_sha256, is_regular_file, newline_offsets

MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class InputRecord:
    path: str
    sha256: str
    lines: int


@dataclass(frozen=True)
class RunManifest:
    settings: str  # the alignment signature plus output options: what decides every output byte
    batch_size: int
    chunk_size: int
    inputs: tuple[InputRecord, ...]
    version: str = __version__
    max_tokens: Optional[int] = None  # manifests written before it was recorded lack it: read as None, so their runs do not resume

    @property
    def lines(self) -> int:
        return self.inputs[0].lines


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + MANIFEST_SUFFIX)


def describe_inputs(paths: Sequence[str]) -> tuple[InputRecord, ...]:
    records = []
    for path in paths:
        if not is_regular_file(path):
            raise InputError("--resume and the run manifest need regular input files, not a pipe or stdin", path)
        records.append(InputRecord(os.path.abspath(path), file_sha256(path), count_lines(path)))
    return tuple(records)


def write_manifest(output: Path, manifest: RunManifest) -> None:
    target = manifest_path(output)
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.write_text(json.dumps(asdict(manifest), indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        if exc.filename is None:
            exc.filename = str(target)
        raise


def read_manifest(output: Path) -> RunManifest:
    path = manifest_path(output)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        inputs = tuple(InputRecord(**record) for record in raw.pop("inputs"))
        return RunManifest(inputs=inputs, **raw)
    except FileNotFoundError:
        raise InputError(
            "cannot resume: no run manifest beside the output, so nothing shows which inputs and settings made it "
            "(use --overwrite to start again)",
            path,
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"cannot resume: unreadable run manifest ({exc})", path) from None


def check_same_run(recorded: RunManifest, current: RunManifest, path: Path) -> None:
    """Refuse to resume when anything that decides the output differs, naming what."""
    differences = []
    if [r.sha256 for r in recorded.inputs] != [r.sha256 for r in current.inputs]:
        changed = [c.path for r, c in zip(recorded.inputs, current.inputs) if r.sha256 != c.sha256]
        differences.append("input files changed: " + ", ".join(changed or [c.path for c in current.inputs]))
    if recorded.settings != current.settings:
        differences.append(_settings_difference(recorded.settings, current.settings))
    for name in ("batch_size", "max_tokens", "chunk_size", "version"):
        before, now = getattr(recorded, name), getattr(current, name)
        if before != now:
            differences.append(f"{name} was {before!r}, now {now!r}")
    if differences:
        raise InputError("cannot resume: this is not the run that wrote the output; " + "; ".join(differences), path)


def _settings_difference(before: str, now: str) -> str:
    """Only the signature fields that differ (``layer was 2/3, now 3/3``), not two whole signatures."""
    old, new = (dict(part.partition(":")[::2] for part in text.split("|")) for text in (before, now))
    changed = [f"{key} was {old.get(key, '(none)')}, now {new.get(key, '(none)')}" for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]
    return "settings differ: " + ", ".join(changed)


def cut_to_restart_point(output: Path, total_lines: int, chunk_size: int) -> int:
    """Truncate ``output`` to its last complete chunk and return how many lines remain.

    A finished output (every input line written) is kept whole.
    """
    offsets = list(newline_offsets(output))
    complete = len(offsets)
    if complete > total_lines:
        raise InputError(f"cannot resume: the output has {complete} lines but the input only {total_lines}", output)
    keep = complete if complete == total_lines else (complete // chunk_size) * chunk_size
    with open(output, "r+b") as stream:
        stream.truncate(offsets[keep - 1] if keep else 0)
    return keep


def cut_together(outputs: Sequence[Path], total_lines: int, chunk_size: int) -> int:
    """Cut a run's main output and side files back to the same restart point; return its line count.

    Each file is written a chunk after the other, so a kill can leave one a chunk ahead; all are
    cut to the last chunk complete in every one (a missing file has none).
    """
    existing = [path for path in outputs if path.exists()]
    if len(existing) < len(outputs):
        keep = 0
    else:
        keep = min(cut_to_restart_point(path, total_lines, chunk_size) for path in existing)
    for path in existing:
        offsets = list(itertools.islice(newline_offsets(path), keep))
        with open(path, "r+b") as stream:
            stream.truncate(offsets[keep - 1] if keep else 0)
    return keep
