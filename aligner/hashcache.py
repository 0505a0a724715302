"""The one cache of file digests: a file's SHA-256 kept by its identity, so an unchanged model is not re-read.

Hashing a checkpoint or safetensors shards reads every byte (seconds for a large model, on
every run and every rank). A digest is stored in a small JSON file keyed by the resolved path
and ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``: a file replaced, rewritten or
touched gets a new key and is hashed again (``ctime`` changes even when ``mtime`` is set back).
The cache lives at ``$ALIGNER_CACHE_DIR/hashes/sha256.json`` (default
``~/.cache/aligner/hashes/sha256.json``); it only saves time, so an unreadable or unwritable
cache is ignored with a warning and the digest is computed as without it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

from . import io as _io

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "ALIGNER_CACHE_DIR"
CACHE_FILE = Path("hashes") / "sha256.json"
MAX_ENTRIES = 4096  # a few models' shards; older entries are dropped first


def default_cache_path() -> Path:
    base = os.environ.get(CACHE_VARIABLE) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "aligner"
    )
    return Path(base) / CACHE_FILE


def identity(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def read_cache(cache_path: Path) -> dict[str, str]:
    try:
        value = json.loads(cache_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable hash cache %s (%s)", cache_path, exc)
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def write_cache(cache_path: Path, cache: dict[str, str]) -> None:
    entries = dict(list(cache.items())[-MAX_ENTRIES:])
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=0), encoding="utf-8")
        os.replace(temporary, cache_path)  # concurrent runs: the last writer wins, never a torn file
    except OSError as exc:
        logger.warning("could not write the hash cache %s (%s)", cache_path, exc)


def cached_sha256s(paths: list[Path], cache_path: Optional[Path] = None) -> list[str]:
    """The SHA-256 of each file, from the cache where its identity is unchanged (one cache read and write)."""
    cache_path = default_cache_path() if cache_path is None else Path(cache_path)
    cache = read_cache(cache_path)
    digests, changed = [], False
    for path in paths:
        resolved = Path(path).resolve()  # hub snapshots are symlinks into blobs/
        key = f"{resolved}|{identity(resolved)}"
        digest = cache.get(key)
        if digest is None:
            for stale in [old for old in cache if old.startswith(f"{resolved}|")]:
                del cache[stale]  # the same path with an older identity
            digest = cache[key] = _io.file_sha256(resolved)
            changed = True
        digests.append(digest)
    if changed:
        write_cache(cache_path, cache)
    return digests


def cached_sha256(path: Path | str, cache_path: Optional[Path] = None) -> str:
    return cached_sha256s([Path(path)], cache_path)[0]
