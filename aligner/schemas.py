"""Strict shapes for the JSON aligner reads: ``aligner.json``, presets, a checkpoint's options.

Checked with jsonschema (imported only when a file is read, so ``--help`` stays fast). A failure
names the file and the key (``settings.eos_null: 'no' is not of type 'boolean'``) and is raised
as the caller's error class. Booleans are JSON booleans: ``"no"`` is refused, never taken as true.
Other issues extend these schemas (new bundle keys go into ``BUNDLE_V2``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Type

from .choices import ALL_STEPS, DECISIONS, MEASURES, MERGES, NORMALIZATIONS, SYMMETRIZATIONS
from .errors import AlignerError

_NAME = {"type": "string", "minLength": 1}
_FILE_NAME = {"type": "string", "minLength": 1}

_BUNDLE_COMMON: dict[str, Any] = {
    "format": {"type": "string"},
    "name": _NAME,
    "description": {"type": "string"},
    "checkpoint": _FILE_NAME,
    "source_lang": _NAME,
    "target_lang": _NAME,
    "lowercase": {"type": "boolean"},
    "subword": {"enum": ["sentencepiece", "subword-nmt"]},
    # a per-language map's entries are checked by Bundle, whose messages name the language
    "subword_model": {"oneOf": [_FILE_NAME, {"type": "object"}]},
}
BUNDLE_V1: dict[str, Any] = {"type": "object", "properties": _BUNDLE_COMMON, "additionalProperties": False}
BUNDLE_V2: dict[str, Any] = {
    "type": "object",
    "properties": {**_BUNDLE_COMMON, "preset": _FILE_NAME, "training": {}},  # training: checked by Bundle.read
    "additionalProperties": False,
}
BUNDLE_SCHEMAS = {"aligner-bundle/1": BUNDLE_V1, "aligner-bundle/2": BUNDLE_V2}

# [] means every head (layer level), as AlignConfig reads it.
_INDICES = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 1024}, "uniqueItems": True}
PRESET_SETTINGS: dict[str, Any] = {
    "layers": _INDICES,
    "heads": _INDICES,
    "measure": {"enum": list(MEASURES)},
    "step": {"enum": list(ALL_STEPS)},
    "src_merge": {"enum": list(MERGES)},
    "tgt_merge": {"enum": list(MERGES)},
    "decision": {"enum": list(DECISIONS)},
    "normalize": {"enum": list(NORMALIZATIONS)},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
    "eos_null": {"type": "boolean"},
    "final_punct": {"type": "boolean"},
    "residual_null": {"type": "boolean"},
    "symmetrize": {"enum": list(SYMMETRIZATIONS)},
}  # exactly config.PRESET_FIELDS: model and run settings are refused by the reader, naming them
PRESET: dict[str, Any] = {
    "type": "object",
    "required": ["name", "settings"],
    "properties": {
        "format": {"const": "aligner-preset/1"},
        "name": _NAME,
        # Unknown setting names are refused by the reader with the list of known ones.
        "settings": {"type": "object", "properties": PRESET_SETTINGS},
        "chosen_on": {"type": "string"},
        "dev_aer": {"type": "number"},
        "model_signature": {"type": "string"},
        "model_sha256": {"type": "string", "pattern": "^[0-9a-f]{8,64}$"},
        "source_checkpoint": {"type": "string"},
        "version": {"type": "string"},
    },
}

_POSITIVE = {"type": "integer", "minimum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_FLAG = {"type": ["boolean", "null"]}
# The (flattened) fairseq model options aligner reads; fairseq's other options pass unchecked.
CHECKPOINT_OPTIONS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "arch": {"type": ["string", "null"]},
        "activation_fn": {"type": ["string", "null"]},
        **{f"{side}_{key}": _POSITIVE for side in ("encoder", "decoder") for key in ("embed_dim", "ffn_embed_dim", "attention_heads")},
        **{f"{side}_layers": _COUNT for side in ("encoder", "decoder")},
        "decoder_output_dim": {"type": ["integer", "null"], "minimum": 1},
        "decoder_input_dim": {"type": ["integer", "null"], "minimum": 1},
        "max_source_positions": _POSITIVE,
        "max_target_positions": _POSITIVE,
        **{
            name: _FLAG
            for name in (
                "encoder_normalize_before", "decoder_normalize_before", "encoder_learned_pos", "decoder_learned_pos",
                "no_token_positional_embeddings", "layernorm_embedding", "no_scale_embedding", "no_decoder_final_norm",
                "share_decoder_input_output_embed", "share_all_embeddings", "full_context_alignment",
            )
        },
    },
}


def validate(record: Any, schema: Mapping[str, Any], path: str | os.PathLike, error: Type[AlignerError], prefix: str = "") -> None:
    """Raise ``error`` naming ``path`` and the first offending key if ``record`` does not fit ``schema``."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(record), key=lambda problem: (list(map(str, problem.absolute_path)), problem.message))
    if not problems:
        return
    problem = problems[0]
    where = ".".join(str(part) for part in problem.absolute_path)
    message = problem.message
    if problem.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key(s)")
    label = f"{prefix}{where}: " if where or prefix else ""
    raise error(f"{label}{message}", path)
