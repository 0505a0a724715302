"""Model backends: what loads a translation model and runs its teacher-forced pass.

The :class:`~aligner.engine.Engine` holds one backend and knows nothing of its kind; the
fairseq Transformer is the first implementation (:mod:`aligner.backends.fairseq`). Another
model family (e.g. Hugging Face) is another module here implementing
:class:`~aligner.backends.base.Backend`, not another alignment loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import ModelSource
    from .base import Backend


def set_threads(threads: int) -> None:
    """CPU threads for the backends' forward passes."""
    import torch

    torch.set_num_threads(threads)


def load_backend(source: "ModelSource", device: str = "auto", dtype: str = "float32") -> "Backend":
    """The backend for ``source``; only fairseq Transformer checkpoints and bundles exist so far."""
    from .fairseq import FairseqBackend

    return FairseqBackend(source, device, dtype)
