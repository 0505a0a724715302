"""Model backends: what loads a translation model and runs its teacher-forced pass.

The :class:`~aligner.engine.Engine` holds one backend and knows nothing of its kind: a fairseq
Transformer checkpoint or bundle (:mod:`aligner.backends.fairseq`) or a Hugging Face seq2seq
model directory (:mod:`aligner.backends.huggingface`), each implementing
:class:`~aligner.backends.base.Backend`; there is one alignment loop.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import torch

    from ..config import ModelSource
    from .base import Backend

# "Org/name" as the hub spells ids; a missing file named like that is looked up in the HF cache.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_device(name: str) -> "torch.device":
    """``auto``: CUDA when there is one, else the CPU; ``cuda`` without a CUDA device is an error."""
    import torch

    from ..errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def set_threads(threads: int) -> None:
    """CPU threads for the backends' forward passes."""
    import torch

    torch.set_num_threads(threads)


def model_kind(path: Optional[Path]) -> str:
    """``"huggingface"`` or ``"fairseq"``, from the files alone (no torch, no transformers).

    A directory with ``config.json`` is a Hugging Face model; a path that does not exist and
    reads as a hub id (``Helsinki-NLP/opus-mt-de-en``, not ``x.pt``) is one from the local HF
    cache; everything else (the default model, checkpoint files, bundles) is fairseq's.
    """
    from .huggingface.detect import CONFIG_FILE

    if path is None:
        return "fairseq"
    if path.is_dir():
        return "huggingface" if (path / CONFIG_FILE).is_file() else "fairseq"
    if not path.exists() and path.suffix != ".pt" and _HUB_ID.match(str(path)):
        return "huggingface"
    return "fairseq"


def load_backend(source: "ModelSource", device: str = "auto", dtype: str = "float32") -> "Backend":
    """The backend for ``source``: a Hugging Face model, or a fairseq checkpoint or bundle."""
    if model_kind(source.path) == "huggingface":
        from .huggingface.engine_backend import HuggingFaceBackend

        return HuggingFaceBackend.load(source, device, dtype)
    from .fairseq import FairseqBackend

    return FairseqBackend(source, device, dtype)
