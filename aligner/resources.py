"""Finding what a model needs besides its weights: dictionaries, subword model, preprocessing.

A *bundle* is a directory with the checkpoint and an ``aligner.json`` that records the
languages, lowercasing and subword model, so ``aligner align --path DIR`` needs nothing
else. Explicit options always win over what a bundle or the checkpoint records.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .checkpoint import CheckpointInfo
from .dictionary import Dictionary
from .errors import ResourceError
from .subword import Preprocessor, SentencePieceSegmenter, Segmenter, SubwordNmtSegmenter, WholeWords, check_vocabulary

logger = logging.getLogger(__name__)

BUNDLE_FILE = "aligner.json"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "data" / "models" / "toy-deen"


@dataclass(frozen=True)
class Bundle:
    """The contents of ``aligner.json``; paths are relative to its directory."""

    directory: Path
    checkpoint: str = "model.pt"
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    lowercase: bool = False
    subword: Optional[str] = None  # "sentencepiece" | "subword-nmt"
    subword_model: Optional[str] = None
    name: Optional[str] = None

    @classmethod
    def read(cls, path: Path) -> "Bundle":
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResourceError(f"unreadable bundle description ({exc})", path) from None
        known = {"checkpoint", "source_lang", "target_lang", "lowercase", "subword", "subword_model", "name"}
        unknown = sorted(set(raw) - known - {"format", "description"})
        if unknown:
            raise ResourceError(f"unknown bundle fields: {', '.join(unknown)}", path)
        return cls(directory=path.parent, **{key: value for key, value in raw.items() if key in known})


def find_bundle(path: Path) -> tuple[Path, Optional[Bundle]]:
    """(checkpoint file, bundle or None) for a checkpoint file or a bundle directory."""
    if path.is_dir():
        description = path / BUNDLE_FILE
        if not description.is_file():
            raise ResourceError(f"a model directory needs a {BUNDLE_FILE}; otherwise pass the checkpoint file", path)
        bundle = Bundle.read(description)
        return path / bundle.checkpoint, bundle
    description = path.parent / BUNDLE_FILE
    if description.is_file():
        bundle = Bundle.read(description)
        if bundle.checkpoint == path.name:
            return path, bundle
    return path, None


@dataclass(frozen=True)
class ModelResources:
    source_lang: str
    target_lang: str
    source_dictionary: Dictionary
    target_dictionary: Dictionary
    dictionary_paths: tuple[Path, Path]
    preprocessor: Preprocessor
    subword_path: Optional[Path]
    name: str


def _languages(explicit: tuple[Optional[str], Optional[str]], bundle: Optional[Bundle], info: CheckpointInfo, data_dir: Path) -> tuple[str, str]:
    candidates = [explicit, (bundle.source_lang, bundle.target_lang) if bundle else (None, None), (info.source_lang, info.target_lang)]
    src = next((pair[0] for pair in candidates if pair[0]), None)
    tgt = next((pair[1] for pair in candidates if pair[1]), None)
    if src and tgt:
        return src, tgt
    found = sorted(p.name[len("dict.") : -len(".txt")] for p in data_dir.glob("dict.*.txt"))
    raise ResourceError(
        "cannot tell the source and target languages; pass -s/--source-lang and -t/--target-lang"
        + (f" (dictionaries found: {', '.join(found)})" if found else ""),
        data_dir,
    )


def _data_dir(explicit: Optional[Path], checkpoint: Path, info: CheckpointInfo) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise ResourceError("data directory not found", explicit)
        return explicit
    if any(checkpoint.parent.glob("dict.*.txt")):
        return checkpoint.parent
    # fairseq records the training data path; it may list several shards joined by ':'.
    for recorded in (info.data or "").split(":"):
        if recorded and Path(recorded).is_dir():
            return Path(recorded)
    return checkpoint.parent


def _segmenter(
    sentencepiece_model: Optional[Path], bpe_codes: Optional[Path], bundle: Optional[Bundle]
) -> tuple[Segmenter, Optional[Path]]:
    if sentencepiece_model is not None and bpe_codes is not None:
        raise ResourceError("give either --sentencepiece-model or --bpe-codes, not both")
    if sentencepiece_model is not None:
        return SentencePieceSegmenter(sentencepiece_model), sentencepiece_model
    if bpe_codes is not None:
        return SubwordNmtSegmenter(bpe_codes), bpe_codes
    if bundle is not None and bundle.subword:
        if not bundle.subword_model:
            raise ResourceError(f"bundle names subword {bundle.subword!r} but no subword_model", bundle.directory / BUNDLE_FILE)
        model_path = bundle.directory / bundle.subword_model
        if bundle.subword == "sentencepiece":
            return SentencePieceSegmenter(model_path), model_path
        if bundle.subword == "subword-nmt":
            return SubwordNmtSegmenter(model_path), model_path
        raise ResourceError(f"unknown subword type {bundle.subword!r}", bundle.directory / BUNDLE_FILE)
    logger.warning("no subword model given: words are looked up in the dictionary as they are")
    return WholeWords(), None


def resolve_resources(
    checkpoint: Path,
    bundle: Optional[Bundle],
    info: CheckpointInfo,
    data_dir: Optional[Path] = None,
    source_lang: Optional[str] = None,
    target_lang: Optional[str] = None,
    sentencepiece_model: Optional[Path] = None,
    bpe_codes: Optional[Path] = None,
    lowercase: Optional[bool] = None,
) -> ModelResources:
    directory = _data_dir(data_dir, checkpoint, info)
    src, tgt = _languages((source_lang, target_lang), bundle, info, directory)
    dictionaries = []
    for lang in (src, tgt):
        path = directory / f"dict.{lang}.txt"
        dictionaries.append((path, Dictionary.load(path)))
    segmenter, subword_path = _segmenter(sentencepiece_model, bpe_codes, bundle)
    for path, dictionary in dictionaries:
        check_vocabulary(segmenter, dictionary, path)
    if lowercase is None:
        lowercase = bundle.lowercase if bundle is not None else False
    name = (bundle.name if bundle and bundle.name else None) or (bundle.directory.name if bundle else checkpoint.stem)
    return ModelResources(
        source_lang=src,
        target_lang=tgt,
        source_dictionary=dictionaries[0][1],
        target_dictionary=dictionaries[1][1],
        dictionary_paths=(dictionaries[0][0], dictionaries[1][0]),
        preprocessor=Preprocessor(segmenter, lowercase),
        subword_path=subword_path,
        name=name,
    )
