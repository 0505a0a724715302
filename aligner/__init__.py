"""Word alignments from a fairseq Transformer's cross-attention: weights and vector norms.

The public API is imported lazily so that ``import aligner`` and ``aligner --help`` stay fast.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "AlignConfig": "config",
    "Aligner": "pipeline",
    "AlignedPair": "pipeline",
    "WordMatrices": "pipeline",
    "Engine": "engine",
    "align_corpus": "runner.corpus",
    "CorpusRun": "runner.corpus",
    "SentencePair": "io",
    "ScoredLink": "io",
    "read_parallel": "io",
    "read_gold": "io",
    "score_alignments": "evaluation.metrics",
    "AERResult": "evaluation.metrics",
    "AlignerError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'aligner' has no attribute {name!r}")
