"""Finding what a model needs besides its weights: dictionaries, subword model, preprocessing.

A *bundle* is a directory with the checkpoint and an ``aligner.json`` that records the
languages, lowercasing and subword model, so ``aligner align --path DIR`` needs nothing
else. Explicit options always win over what a bundle or the checkpoint records.

``format`` is ``aligner-bundle/1`` or ``aligner-bundle/2``; version 2 adds ``preset`` (a preset
file in the bundle whose settings ``aligner align`` applies when none is given) and ``training``
(what the weights went through: updates, data, recipe; recorded for people and for warm starts,
not read by alignment).

``subword_model`` is one file for both sides, or ``{"de": "spm.de.model", "en": "spm.en.model"}``
for models trained with separate vocabularies. The map is keyed by language, not by side, so
the same bundle serves as the reverse model of a symmetrized run with its languages swapped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .checkpoint import CheckpointInfo
from .dictionary import Dictionary
from ...errors import ResourceError
from .subword import SEGMENTERS, Preprocessor, Segmenter, WholeWords, check_vocabulary, describe_subwords

logger = logging.getLogger(__name__)

BUNDLE_FILE = "aligner.json"
# Package data (setup.cfg package_data): found beside the code in a checkout and in an installed wheel alike.
SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "deen-guided"
BUNDLE_FORMATS = ("aligner-bundle/1", "aligner-bundle/2")
MODEL_VARIABLE = "ALIGNER_MODEL"


def default_model() -> Path:
    """The model used without ``--path``: ``$ALIGNER_MODEL`` if set (a site's own model), else the shipped one."""
    return Path(os.environ.get(MODEL_VARIABLE) or SHIPPED_MODEL)


@dataclass(frozen=True)
class Bundle:
    """The contents of ``aligner.json``; paths are relative to its directory."""

    directory: Path
    checkpoint: str = "model.pt"
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    lowercase: bool = False
    subword: Optional[str] = None  # "sentencepiece" | "subword-nmt"
    subword_model: Union[str, dict[str, str], None] = None  # one file, or one per language
    name: Optional[str] = None
    preset: Optional[str] = None  # file name of the bundle's recommended settings (format 2)
    training: Optional[dict[str, Any]] = None  # format 2; informational

    @property
    def json_path(self) -> Path:
        return self.directory / BUNDLE_FILE

    @property
    def preset_path(self) -> Optional[Path]:
        return None if self.preset is None else self.directory / self.preset

    @classmethod
    def read(cls, path: Path) -> "Bundle":
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResourceError(f"unreadable bundle description ({exc})", path) from None
        if not isinstance(raw, dict):
            raise ResourceError("a bundle description is a JSON object", path)
        version = raw.get("format", BUNDLE_FORMATS[0])
        if version not in BUNDLE_FORMATS:
            raise ResourceError(f"format: {version!r} is not one of {', '.join(BUNDLE_FORMATS)}", path)
        known = {"checkpoint", "source_lang", "target_lang", "lowercase", "subword", "subword_model", "name"}
        if version == "aligner-bundle/2":
            known |= {"preset", "training"}
        unknown = sorted(set(raw) - known - {"format", "description"})
        if unknown:
            raise ResourceError(f"unknown bundle fields for {version}: {', '.join(unknown)}", path)
        from ...schemas import BUNDLE_SCHEMAS, validate

        validate(raw, BUNDLE_SCHEMAS[version], path, ResourceError)
        bundle = cls(directory=path.parent, **{key: value for key, value in raw.items() if key in known})
        if bundle.preset is not None and not (isinstance(bundle.preset, str) and (bundle.directory / bundle.preset).is_file()):
            raise ResourceError(f"preset: {bundle.preset!r} is not a file in {bundle.directory}", path)
        if bundle.training is not None and not isinstance(bundle.training, dict):
            raise ResourceError("training must be a JSON object", path)
        if isinstance(bundle.subword_model, dict):
            bundle._check_per_language_models(bundle.subword_model)
        elif bundle.subword_model is not None and not isinstance(bundle.subword_model, str):
            raise ResourceError("subword_model must be a file name or a map from language to file name", path)
        return bundle

    def _check_per_language_models(self, models: dict[str, Any]) -> None:
        if not (self.source_lang and self.target_lang):
            raise ResourceError("a per-language subword_model needs source_lang and target_lang", self.json_path)
        expected = {self.source_lang, self.target_lang}
        if set(models) != expected:
            problems = []
            if missing := sorted(expected - set(models)):
                problems.append(f"no model for {', '.join(missing)}")
            if extra := sorted(set(models) - expected):
                problems.append(f"unexpected {', '.join(extra)}")
            raise ResourceError(
                f"subword_model must name a model for exactly the bundle's languages "
                f"{self.source_lang} and {self.target_lang}: {'; '.join(problems)}",
                self.json_path,
            )
        for lang, file_name in sorted(models.items()):
            if not isinstance(file_name, str):
                raise ResourceError(f"subword_model for {lang} must be a file name, got {file_name!r}", self.json_path)
            if not (self.directory / file_name).is_file():
                raise ResourceError(f"subword_model for {lang}: {file_name} not found in {self.directory}", self.json_path)

    def subword_model_path(self, lang: str) -> Path:
        """The subword model that segments ``lang``: the joint model, or that language's own."""
        if not isinstance(self.subword_model, dict):
            return self.directory / str(self.subword_model)
        if lang not in self.subword_model:
            # Only when -s/-t name languages other than the bundle's own.
            raise ResourceError(
                f"subword_model has no model for language {lang!r} (it has {', '.join(sorted(self.subword_model))})",
                self.json_path,
            )
        return self.directory / self.subword_model[lang]


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
    source_preprocessor: Preprocessor
    target_preprocessor: Preprocessor
    name: str

    @property
    def lowercase(self) -> bool:
        return self.source_preprocessor.lowercase

    @property
    def subword(self) -> str:
        """How words were split, for the signature (see :func:`describe_subwords`)."""
        return describe_subwords(self.source_preprocessor.segmenter, self.target_preprocessor.segmenter)


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


SubwordModel = tuple[str, Path]  # (kind as in SEGMENTERS, file)


def _explicit_model(sentencepiece_model: Optional[Path], bpe_codes: Optional[Path], prefix: str = "") -> Optional[SubwordModel]:
    if sentencepiece_model is not None and bpe_codes is not None:
        raise ResourceError(f"give either --{prefix}sentencepiece-model or --{prefix}bpe-codes, not both")
    if sentencepiece_model is not None:
        return "sentencepiece", sentencepiece_model
    if bpe_codes is not None:
        return "subword-nmt", bpe_codes
    return None


def _bundle_model(bundle: Optional[Bundle], lang: str) -> Optional[SubwordModel]:
    if bundle is None or not bundle.subword:
        return None
    if not bundle.subword_model:
        raise ResourceError(f"bundle names subword {bundle.subword!r} but no subword_model", bundle.json_path)
    if bundle.subword not in SEGMENTERS:
        raise ResourceError(f"unknown subword type {bundle.subword!r}", bundle.json_path)
    return bundle.subword, bundle.subword_model_path(lang)


def _segmenters(source: Optional[SubwordModel], target: Optional[SubwordModel]) -> tuple[Segmenter, Segmenter]:
    """Load each side's model; a file named for both sides is loaded once and counts as joint."""
    loaded: dict[Optional[SubwordModel], Segmenter] = {}
    for model in (source, target):
        if model not in loaded:
            loaded[model] = WholeWords() if model is None else SEGMENTERS[model[0]](model[1])
    unsegmented = [side for side, model in (("source", source), ("target", target)) if model is None]
    if unsegmented:
        sides = " and ".join(unsegmented)
        logger.warning("no subword model for the %s side: words are looked up in the dictionary as they are", sides)
    return loaded[source], loaded[target]


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
    target_sentencepiece_model: Optional[Path] = None,
    target_bpe_codes: Optional[Path] = None,
) -> ModelResources:
    """Dictionaries and preprocessing of both sides.

    The source side uses ``sentencepiece_model``/``bpe_codes``, the target side its
    ``target_`` counterparts, falling back to the source's explicit model and then to the
    bundle's model for its language.
    """
    directory = _data_dir(data_dir, checkpoint, info)
    src, tgt = _languages((source_lang, target_lang), bundle, info, directory)
    dictionaries = []
    for lang in (src, tgt):
        path = directory / f"dict.{lang}.txt"
        dictionaries.append((path, Dictionary.load(path)))
    explicit_source = _explicit_model(sentencepiece_model, bpe_codes)
    explicit_target = _explicit_model(target_sentencepiece_model, target_bpe_codes, prefix="target-")
    segmenters = _segmenters(
        explicit_source or _bundle_model(bundle, src),
        explicit_target or explicit_source or _bundle_model(bundle, tgt),
    )
    for segmenter, (path, dictionary) in zip(segmenters, dictionaries):
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
        source_preprocessor=Preprocessor(segmenters[0], lowercase),
        target_preprocessor=Preprocessor(segmenters[1], lowercase),
        name=name,
    )
