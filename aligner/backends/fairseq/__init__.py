"""The fairseq Transformer backend: checkpoints, bundles, dictionaries, subwords, the forward pass.

Runs without fairseq installed: :mod:`.checkpoint` reads checkpoints safely and
:mod:`.transformer` reimplements the forward pass (parity is tested against real fairseq).
"""

from __future__ import annotations

_LAZY = {"FairseqBackend": "backend", "collate": "backend"}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'aligner.backends.fairseq' has no attribute {name!r}")
