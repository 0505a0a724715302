"""The SHA-256 of a model's weights over all its safetensors shards, cached by file identity.

Hashing gigabytes on every run is slow, so each shard's digest is kept in a small JSON file
keyed by ``(device, inode, size, mtime_ns, ctime_ns)``: a file replaced, rewritten or
touched gets a new key and is hashed again. The model's digest is the SHA-256 of the
sorted ``name:digest`` lines, so it does not depend on how the cache was filled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Optional

from ...io import file_sha256
from ...errors import ResourceError

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "ALIGNER_CACHE_DIR"
CACHE_FILE = "hf-weights-sha256.json"


def default_cache_path() -> Path:
    base = os.environ.get(CACHE_VARIABLE) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "aligner"
    )
    return Path(base) / CACHE_FILE


def weight_files(directory: Path) -> list[Path]:
    """All safetensors shards, else the PyTorch ``.bin`` shards; a directory with neither is refused."""
    for pattern in ("*.safetensors", "pytorch_model*.bin"):
        files = sorted(directory.glob(pattern))
        if files:
            return files
    raise ResourceError("no model weights (*.safetensors or pytorch_model*.bin)", directory)


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _read_cache(cache_path: Path) -> dict[str, str]:
    try:
        value = json.loads(cache_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable weights-hash cache %s (%s)", cache_path, exc)
        return {}
    return value if isinstance(value, dict) else {}


def _write_cache(cache_path: Path, cache: dict[str, str]) -> None:
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cache, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(temporary, cache_path)
    except OSError as exc:  # the cache only saves time; the digest is still right
        logger.warning("could not write the weights-hash cache %s (%s)", cache_path, exc)


def weights_sha256(directory: Path, cache_path: Optional[Path] = None) -> str:
    """SHA-256 over every weight shard of ``directory`` (see the module docstring)."""
    cache_path = default_cache_path() if cache_path is None else Path(cache_path)
    cache = _read_cache(cache_path)
    lines, changed = [], False
    for path in weight_files(directory):
        resolved = path.resolve()  # hub snapshots are symlinks into blobs/
        key = f"{resolved}|{_identity(resolved)}"
        digest = cache.get(key)
        if digest is None:
            for stale in [old for old in cache if old.startswith(f"{resolved}|")]:
                del cache[stale]  # the same path with an older identity
            digest = cache[key] = file_sha256(resolved)
            changed = True
        lines.append(f"{path.name}:{digest}\n")
    if changed:
        _write_cache(cache_path, cache)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
