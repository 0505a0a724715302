"""The Hugging Face backend: MarianMT, M2M100, NLLB (dense), FSMT and mBART directories.

Needs the optional extra ``aligner[hf]`` (transformers). Importing this package imports
neither transformers nor torch; :func:`detect` reads only JSON files. See
docs/huggingface.md for the supported types and each one's token layout.
"""

from __future__ import annotations

from .detect import FAMILIES, REFUSED_TYPES, Family, detect, family_of, resolve_model_dir, supported_types

_LAZY = {
    "HFSeq2SeqBackend": "backend",
    "HFModelInfo": "backend",
    "HFBatch": "backend",
    "TokenLayout": "layout",
    "WordEncoder": "words",
    "weights_sha256": "weights",
    "HuggingFaceBackend": "engine_backend",
}

__all__ = ["FAMILIES", "REFUSED_TYPES", "Family", "detect", "family_of", "resolve_model_dir", "supported_types", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'aligner.backends.huggingface' has no attribute {name!r}")
