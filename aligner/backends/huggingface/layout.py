"""Each family's special-token layout: where ``</s>`` and the language codes go.

The layout is written down per family (docs/huggingface.md has the table) and then checked
against the tokenizer's own sentence-level output at load, so a tokenizer flag that moves a
token (NLLB's ``legacy_behaviour``) cannot silently disagree with what aligner builds.

Decoder input = what teacher forcing feeds the model: the decoder start token and, where
the model forces one, the target language token, then the target pieces (no final
``</s>``: no row is read for the step that predicts it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from ...errors import ConfigError, UnsupportedModelError
from .detect import Family

logger = logging.getLogger(__name__)

# Language-code tokens of each family's vocabulary: how to list the codes a model knows.
CODE_PATTERNS = {
    "marian": re.compile(r"^>>.+<<$"),
    "m2m100": re.compile(r"^__.+__$"),
    "nllb": re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$"),
    "mbart": re.compile(r"^[a-z]{2}_[A-Z]{2}$"),
    "mbart50": re.compile(r"^[a-z]{2}_[A-Z]{2}$"),
}
_PROBE = "a"


@dataclass(frozen=True)
class TokenLayout:
    """Special token ids around the pieces; every id here is never a word."""

    source_prefix: tuple[int, ...]
    source_suffix: tuple[int, ...]  # starts with </s>, the "no link" column
    decoder_prefix: tuple[int, ...]
    pad: int
    src_lang_token: Optional[str] = None
    tgt_lang_token: Optional[str] = None

    def source_ids(self, pieces: Sequence[int]) -> list[int]:
        return [*self.source_prefix, *pieces, *self.source_suffix]

    def decoder_ids(self, pieces: Sequence[int]) -> list[int]:
        return [*self.decoder_prefix, *pieces]

    @property
    def describe(self) -> str:
        """``src=[deu_Latn] X </s>|dec=</s> [eng_Latn] Y`` style summary (ids), for logs and signatures."""
        return (
            f"src={list(self.source_prefix)}+X+{list(self.source_suffix)}|dec={list(self.decoder_prefix)}+Y"
        )


def known_codes(family: Family, tokenizer: Any) -> list[str]:
    pattern = CODE_PATTERNS.get(family.name)
    if pattern is None:
        return []
    # M2M100's language tokens live outside its vocab.json, in lang_token_to_id.
    tokens = set(tokenizer.get_vocab()) | set(getattr(tokenizer, "lang_token_to_id", {}))
    return sorted(token for token in tokens if pattern.match(token))


def _code_token(family: Family, code: str, known: Sequence[str], side: str, config_path: Path) -> str:
    """The vocabulary token of a language code: ``de`` -> ``__de__`` (M2M), ``fr`` -> ``>>fr<<`` (Marian)."""
    wrapped = {"m2m100": f"__{code}__", "marian": f">>{code}<<"}.get(family.name, code)
    for token in (code, wrapped):
        if token in known:
            return token
    raise ConfigError(
        f"{side} language code {code!r} is not one this {family.name} model knows; known: {', '.join(known) or 'none'}",
        config_path,
    )


def _require_codes(
    family: Family, known: Sequence[str], src: Optional[str], tgt: Optional[str], config_path: Path
) -> tuple[str, str]:
    if src is None or tgt is None:
        missing = [name for name, value in (("source", src), ("target", tgt)) if value is None]
        raise ConfigError(
            f"a multilingual {family.name} model needs the {' and '.join(missing)} language code(s) "
            f"(src_lang_code / tgt_lang_code); known: {', '.join(known)}",
            config_path,
        )
    return src, tgt


def build_layout(
    family: Family,
    tokenizer: Any,
    config: Any,
    generation_config: Any,
    src_lang_code: Optional[str],
    tgt_lang_code: Optional[str],
    config_path: Path,
) -> TokenLayout:
    """The layout for these language codes; refuses codes a model cannot use or lacks."""
    # FSMT's tokenizer has no eos token (it appends its sep token, the same </s>): take the config's.
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else config.eos_token_id
    pad = tokenizer.pad_token_id
    start = config.decoder_start_token_id
    if start is None and generation_config is not None:
        start = generation_config.decoder_start_token_id
    known = known_codes(family, tokenizer)
    ids = tokenizer.convert_tokens_to_ids

    if family.name == "fsmt" or (family.name == "marian" and not known):
        if src_lang_code is not None or tgt_lang_code is not None:
            raise ConfigError(f"this {family.name} model has one language pair: it takes no language codes", config_path)
        layout = TokenLayout((), (eos,), (start,), pad)
    elif family.name == "marian":  # multi-target: >>xx<< first in the source
        if src_lang_code is not None:
            raise ConfigError("Marian models take a target language code only (>>xx<< in the source)", config_path)
        if tgt_lang_code is None:
            raise ConfigError(
                f"this Marian model is multi-target: it needs a target language code; known: {', '.join(known)}", config_path
            )
        tgt = _code_token(family, tgt_lang_code, known, "target", config_path)
        layout = TokenLayout((ids(tgt),), (eos,), (start,), pad, None, tgt)
    else:
        src_code, tgt_code = _require_codes(family, known, src_lang_code, tgt_lang_code, config_path)
        src = _code_token(family, src_code, known, "source", config_path)
        tgt = _code_token(family, tgt_code, known, "target", config_path)
        src_id, tgt_id = ids(src), ids(tgt)
        if family.name == "mbart":  # mBART-cc25: X </s> [src]; decoder starts with [tgt]
            layout = TokenLayout((), (eos, src_id), (tgt_id,), pad, src, tgt)
        elif family.name == "nllb" and getattr(tokenizer, "legacy_behaviour", False):
            layout = TokenLayout((), (eos, src_id), (start, tgt_id), pad, src, tgt)
        else:  # M2M100, NLLB, mBART-50: [src] X </s>; decoder </s> [tgt]
            layout = TokenLayout((src_id,), (eos,), (start, tgt_id), pad, src, tgt)
        forced = getattr(generation_config, "forced_bos_token_id", None) if generation_config is not None else None
        if forced is not None and family.name != "mbart" and forced != tgt_id:
            logger.warning(
                "generation_config.json forces token %s first, but the target language code %s is token %d",
                forced, tgt, tgt_id,
            )
    if None in layout.decoder_prefix:
        raise UnsupportedModelError("config.json has no decoder_start_token_id", config_path)
    check_against_tokenizer(family, tokenizer, layout, config_path)
    return layout


def _set_languages(family: Family, tokenizer: Any, layout: TokenLayout) -> None:
    """Point the tokenizer at the layout's languages (its own code spelling) for the check."""
    for side, token in (("src_lang", layout.src_lang_token), ("tgt_lang", layout.tgt_lang_token)):
        if token is None or family.name == "marian":
            continue
        code = token[2:-2] if family.name == "m2m100" else token
        setattr(tokenizer, side, code)
    if layout.src_lang_token is not None and hasattr(tokenizer, "set_src_lang_special_tokens"):
        code = layout.src_lang_token[2:-2] if family.name == "m2m100" else layout.src_lang_token
        tokenizer.set_src_lang_special_tokens(code)


def check_against_tokenizer(family: Family, tokenizer: Any, layout: TokenLayout, config_path: Path) -> None:
    """Refuse a layout that differs from the tokenizer's own encoding of a probe sentence.

    Source: ``tokenizer(text)`` must equal prefix + pieces + suffix (Marian's ``>>xx<<`` is
    text, so it is put in front of the probe). Target (not FSMT, whose tokenizer has no
    target mode): the decoder prefix must be the model's shift-right of the tokenizer's
    target encoding (labels), i.e. what teacher forcing in training fed the decoder.
    """
    _set_languages(family, tokenizer, layout)
    pieces = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    text = f"{layout.tgt_lang_token} {_PROBE}" if family.name == "marian" and layout.tgt_lang_token else _PROBE
    own = tokenizer(text)["input_ids"]
    if own != layout.source_ids(pieces):
        raise UnsupportedModelError(
            f"the tokenizer's source layout {own} differs from the {family.name} layout aligner builds "
            f"{layout.source_ids(pieces)}: a tokenizer setting aligner does not know",
            config_path,
        )
    if family.name == "fsmt" or (family.name == "nllb" and getattr(tokenizer, "legacy_behaviour", False)):
        return  # FSMT: no target mode; legacy NLLB puts the code last in labels but forces it first in decoding
    target_pieces = tokenizer(text_target=_PROBE, add_special_tokens=False)["input_ids"]
    labels = tokenizer(text_target=_PROBE)["input_ids"]
    if family.name == "mbart":  # mBART's shift_tokens_right wraps the last token (the language code) to the front
        shifted = [labels[-1], *labels[:-1]]
    else:
        shifted = [layout.decoder_prefix[0], *labels[:-1]]
    expected = layout.decoder_ids(target_pieces)
    if shifted[: len(expected)] != expected:
        raise UnsupportedModelError(
            f"the tokenizer's target layout {labels} does not give the decoder input {expected} aligner builds",
            config_path,
        )
