"""Telling a Hugging Face model directory from a fairseq checkpoint, and naming its family.

Nothing here imports ``transformers``: detection reads ``config.json`` and
``tokenizer_config.json`` as JSON, so the fairseq path can ask "is this a Hugging Face
model?" without the optional dependency. A hub id is resolved against the local Hugging
Face cache only (``huggingface_hub`` is imported lazily for that); aligner never downloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ...errors import ResourceError, UnsupportedModelError

CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
BUNDLE_FILE = "aligner.json"  # aligner.backends.fairseq.resources.BUNDLE_FILE, not imported: that module imports torch


@dataclass(frozen=True)
class Family:
    """One supported architecture + tokenizer combination.

    ``pre_norm``: layer norm before each sub-layer (the cross-attention query is
    ``LN(x)``), else after the residual sum. ``time_first``: the attention module's
    projections see (time, batch, dim) tensors (FSMT's fairseq port).
    """

    name: str
    model_type: str
    tokenizer_classes: tuple[str, ...]
    pre_norm: bool
    time_first: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("marian", "marian", ("MarianTokenizer",), pre_norm=False),
    Family("fsmt", "fsmt", ("FSMTTokenizer",), pre_norm=False, time_first=True),
    Family("m2m100", "m2m_100", ("M2M100Tokenizer",), pre_norm=True),
    Family("nllb", "m2m_100", ("NllbTokenizer", "NllbTokenizerFast"), pre_norm=True),
    Family("mbart", "mbart", ("MBartTokenizer", "MBartTokenizerFast"), pre_norm=True),
    Family("mbart50", "mbart", ("MBart50Tokenizer", "MBart50TokenizerFast"), pre_norm=True),
)

# Types we know and refuse, with the reason (anything else gets the supported list).
REFUSED_TYPES: dict[str, str] = {
    "t5": "T5-family models are not supported yet: their attention has no biases, is not scaled by "
    "1/sqrt(d) and uses relative position biases, and their RMSNorm placement needs its own norm code",
    "mt5": "mT5 is a T5-family model; T5-family models are not supported yet",
    "umt5": "umT5 is a T5-family model; T5-family models are not supported yet",
    "longt5": "LongT5 is a T5-family model; T5-family models are not supported yet",
    "nllb-moe": "NLLB mixture-of-experts models are not supported; only dense NLLB (model_type m2m_100) is",
}


def supported_types() -> str:
    """``marian (MarianTokenizer), m2m_100 (M2M100Tokenizer, NllbTokenizer...), ...`` for messages."""
    by_type: dict[str, list[str]] = {}
    for family in FAMILIES:
        by_type.setdefault(family.model_type, []).extend(family.tokenizer_classes)
    return ", ".join(f"{model_type} ({', '.join(classes)})" for model_type, classes in by_type.items())


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResourceError(f"unreadable JSON ({exc})", path) from None
    if not isinstance(value, dict):
        raise ResourceError("expected a JSON object", path)
    return value


def detect(path: Path | str) -> str:
    """``"huggingface"`` or ``"fairseq"`` for a model path (or a hub id in the local cache).

    A directory with ``config.json`` is a Hugging Face model; a checkpoint file or a bundle
    directory (``aligner.json``) is fairseq. A path that does not exist is looked up as a
    hub id in the local Hugging Face cache.
    """
    candidate = Path(path)
    if candidate.is_dir():
        if (candidate / CONFIG_FILE).is_file():
            return "huggingface"
        if (candidate / BUNDLE_FILE).is_file():
            return "fairseq"
        raise ResourceError(
            f"neither a Hugging Face model directory ({CONFIG_FILE}) nor a fairseq bundle ({BUNDLE_FILE})", candidate
        )
    if candidate.is_file():
        return "huggingface" if candidate.name == CONFIG_FILE else "fairseq"
    resolve_model_dir(path)  # raises unless it is a hub id in the local cache
    return "huggingface"


def resolve_model_dir(path: Path | str) -> Path:
    """The local directory of a model: the path itself if it exists, else a cached hub snapshot.

    A local path always wins over a hub id of the same spelling. Hub ids are looked up with
    ``local_files_only=True``: nothing is downloaded.
    """
    candidate = Path(path)
    if candidate.exists():
        if not candidate.is_dir():
            raise ResourceError("a Hugging Face model is a directory (as save_pretrained writes it)", candidate)
        return candidate
    name = str(path)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    except ImportError:
        raise ResourceError("no such file or directory (hub ids need: pip install 'aligner[hf]')", name) from None
    try:
        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except HFValidationError:
        raise ResourceError("no such file or directory, and not a valid Hugging Face hub id", name) from None
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise ResourceError(
            "no such file or directory, and not in the local Hugging Face cache; aligner never downloads: "
            f"fetch it first (e.g. `hf download {name}`) or pass a local directory",
            name,
        ) from None


def family_of(directory: Path) -> Family:
    """The supported family of a model directory, or a clear refusal naming the files."""
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ResourceError(f"no {CONFIG_FILE}: not a Hugging Face model directory", directory)
    model_type = read_json(config_path).get("model_type")
    if not isinstance(model_type, str):
        raise ResourceError("config.json has no model_type", config_path)
    if model_type in REFUSED_TYPES:
        raise UnsupportedModelError(f"model_type {model_type!r}: {REFUSED_TYPES[model_type]}", config_path)
    candidates = [family for family in FAMILIES if family.model_type == model_type]
    if not candidates:
        raise UnsupportedModelError(
            f"model_type {model_type!r} is not supported; supported: {supported_types()}", config_path
        )
    tokenizer_path = directory / TOKENIZER_CONFIG_FILE
    tokenizer_class: Optional[str] = None
    if tokenizer_path.is_file():
        value = read_json(tokenizer_path).get("tokenizer_class")
        tokenizer_class = value if isinstance(value, str) else None
    if tokenizer_class is None:
        raise ResourceError(
            f"no tokenizer_class in {TOKENIZER_CONFIG_FILE}: the token layout of a {model_type} model "
            "depends on its tokenizer; save the tokenizer with save_pretrained next to the model",
            tokenizer_path,
        )
    for family in candidates:
        if tokenizer_class in family.tokenizer_classes:
            return family
    expected = ", ".join(name for family in candidates for name in family.tokenizer_classes)
    raise UnsupportedModelError(
        f"tokenizer_class {tokenizer_class!r} is not supported with model_type {model_type!r}; expected one of {expected}",
        tokenizer_path,
    )
