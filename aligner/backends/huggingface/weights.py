"""The SHA-256 of a model's weights over all its safetensors shards.

Each shard's digest comes from the one file-digest cache (:mod:`aligner.hashcache`, keyed by
the file's identity). The model's digest is the SHA-256 of the sorted ``name:digest`` lines, so
it does not depend on how the cache was filled.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from ...errors import ResourceError
from ...hashcache import cached_sha256s


def weight_files(directory: Path) -> list[Path]:
    """All safetensors shards, else the PyTorch ``.bin`` shards; a directory with neither is refused."""
    for pattern in ("*.safetensors", "pytorch_model*.bin"):
        files = sorted(directory.glob(pattern))
        if files:
            return files
    raise ResourceError("no model weights (*.safetensors or pytorch_model*.bin)", directory)


def weights_sha256(directory: Path, cache_path: Optional[Path] = None) -> str:
    """SHA-256 over every weight shard of ``directory`` (see the module docstring)."""
    files = weight_files(directory)
    lines = [f"{path.name}:{digest}\n" for path, digest in zip(files, cached_sha256s(files, cache_path))]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
