"""Detection, refusals, offline resolution and the weights hash: no model is run here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aligner.errors import ResourceError, UnsupportedModelError
from aligner.backends.huggingface import detect, family_of, resolve_model_dir, supported_types
from aligner import io as io_module
from aligner.backends.huggingface.weights import weights_sha256

from .conftest import FIXTURES, ROOT


def model_dir(tmp_path, model_type, tokenizer_class="MarianTokenizer"):
    directory = tmp_path / model_type
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    if tokenizer_class is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}), encoding="utf-8")
    return directory


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An empty local hub cache, whatever the machine's own cache holds."""
    cache = tmp_path / "empty-cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    try:
        import huggingface_hub.constants as constants
    except ImportError:
        return cache
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_import_aligner_does_not_import_transformers():
    code = (
        "import sys, aligner, aligner.backends.huggingface\n"
        f"aligner.backends.huggingface.detect({str(FIXTURES['toy-deen'])!r})\n"
        "print(sorted(m for m in ('transformers', 'torch', 'huggingface_hub') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_fairseq_and_huggingface_paths_are_told_apart(tmp_path):
    assert detect(FIXTURES["toy-deen"]) == "fairseq"
    assert detect(FIXTURES["toy-deen"] / "model.pt") == "fairseq"
    directory = model_dir(tmp_path, "marian")
    assert detect(directory) == "huggingface"
    assert detect(directory / "config.json") == "huggingface"
    with pytest.raises(ResourceError, match="neither a Hugging Face model directory"):
        detect(tmp_path)


@pytest.mark.parametrize(
    "model_type, tokenizer_class, family",
    [
        ("marian", "MarianTokenizer", "marian"),
        ("fsmt", "FSMTTokenizer", "fsmt"),
        ("m2m_100", "M2M100Tokenizer", "m2m100"),
        ("m2m_100", "NllbTokenizerFast", "nllb"),
        ("m2m_100", "NllbTokenizer", "nllb"),
        ("mbart", "MBartTokenizer", "mbart"),
        ("mbart", "MBart50TokenizerFast", "mbart50"),
    ],
)
def test_family_from_model_type_and_tokenizer_class(tmp_path, model_type, tokenizer_class, family):
    assert family_of(model_dir(tmp_path, model_type, tokenizer_class)).name == family


@pytest.mark.parametrize("model_type", ["t5", "mt5"])
def test_t5_is_refused_clearly(tmp_path, model_type):
    with pytest.raises(UnsupportedModelError, match="T5-family models are not supported yet") as caught:
        family_of(model_dir(tmp_path, model_type, "T5Tokenizer"))
    assert str(caught.value).startswith(str(tmp_path / model_type / "config.json"))


def test_unknown_types_are_refused_with_the_supported_list(tmp_path):
    with pytest.raises(UnsupportedModelError, match="'bert' is not supported; supported: marian") as caught:
        family_of(model_dir(tmp_path, "bert", "BertTokenizer"))
    assert "m2m_100 (M2M100Tokenizer, NllbTokenizer, NllbTokenizerFast)" in str(caught.value)
    assert "fsmt" in supported_types() and "mbart" in supported_types()
    with pytest.raises(UnsupportedModelError, match="only dense NLLB"):
        family_of(model_dir(tmp_path, "nllb-moe", "NllbTokenizer"))


def test_tokenizer_class_must_fit_the_model_type(tmp_path):
    with pytest.raises(UnsupportedModelError, match="'MarianTokenizer' is not supported with model_type 'm2m_100'"):
        family_of(model_dir(tmp_path, "m2m_100", "MarianTokenizer"))
    with pytest.raises(ResourceError, match="no tokenizer_class"):
        family_of(model_dir(tmp_path, "mbart", None))


def test_hub_ids_resolve_only_from_the_local_cache(tmp_path, monkeypatch, empty_hub_cache):
    with pytest.raises(ResourceError, match="not in the local Hugging Face cache; aligner never downloads"):
        resolve_model_dir("Helsinki-NLP/opus-mt-de-en")
    with pytest.raises(ResourceError, match="not a valid Hugging Face hub id"):
        resolve_model_dir("no//such path")
    # A local directory of the same spelling wins.
    local = tmp_path / "Helsinki-NLP" / "opus-mt-de-en"
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("Helsinki-NLP/opus-mt-de-en") == local.relative_to(tmp_path)


def test_hub_ids_in_the_local_cache_are_used(tmp_path, monkeypatch):
    """A snapshot laid out as huggingface_hub writes it (refs/main -> snapshots/<commit>)."""
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-marian"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "marian"}), encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    try:
        import huggingface_hub.constants as constants
    except ImportError:
        pytest.skip("needs huggingface_hub (the hf extra)")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert resolve_model_dir("someone/tiny-marian") == snapshot
    assert detect("someone/tiny-marian") == "huggingface"


def test_weights_hash_covers_every_shard_and_is_cached(tmp_path, monkeypatch):
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "model-00001-of-00002.safetensors").write_bytes(b"first shard")
    (directory / "model-00002-of-00002.safetensors").write_bytes(b"second shard")
    cache = tmp_path / "cache" / "hashes.json"
    calls = []
    real = io_module.file_sha256
    monkeypatch.setattr(io_module, "file_sha256", lambda path: calls.append(path.name) or real(path))
    first = weights_sha256(directory, cache)
    assert len(calls) == 2 and cache.is_file()
    assert weights_sha256(directory, cache) == first and len(calls) == 2  # from the cache
    shard = directory / "model-00002-of-00002.safetensors"
    shard.write_bytes(b"another second shard")
    os.utime(shard, ns=(1, 1))
    changed = weights_sha256(directory, cache)
    assert changed != first and calls[-1] == shard.name and len(calls) == 3
    assert len(json.loads(cache.read_text(encoding="utf-8"))) == 2  # the stale entry is gone
    assert weights_sha256(directory, tmp_path / "other.json") == changed  # the same digest without the cache
    with pytest.raises(ResourceError, match="no model weights"):
        weights_sha256(tmp_path / "cache", cache)


def test_loading_refuses_before_reading_any_weights(tmp_path, empty_hub_cache):
    pytest.importorskip("torch")
    from aligner.backends.huggingface.backend import HFSeq2SeqBackend

    with pytest.raises(UnsupportedModelError, match="T5-family"):
        HFSeq2SeqBackend.load(model_dir(tmp_path, "t5", "T5TokenizerFast"))
    with pytest.raises(ResourceError, match="never downloads"):
        HFSeq2SeqBackend.load("facebook/nllb-200-distilled-600M", src_lang_code="deu_Latn", tgt_lang_code="eng_Latn")
