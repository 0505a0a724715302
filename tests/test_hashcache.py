"""The one file-digest cache: hits, misses, invalidation by identity, and never failing because of the cache."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from aligner import hashcache
from aligner import io as io_module


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = io_module.file_sha256
    monkeypatch.setattr(io_module, "file_sha256", lambda path: calls.append(os.path.basename(path)) or real(path))
    return calls


def test_hit_miss_and_invalidation_by_size_and_mtime(tmp_path, counted):
    model, cache = tmp_path / "model.pt", tmp_path / "c" / "sha256.json"
    model.write_bytes(b"weights v1")
    expected = hashlib.sha256(b"weights v1").hexdigest()
    assert hashcache.cached_sha256(model, cache) == expected and counted == ["model.pt"]  # miss
    assert hashcache.cached_sha256(model, cache) == expected and len(counted) == 1  # hit: not read again
    model.write_bytes(b"weights v2, longer")  # size changes
    assert hashcache.cached_sha256(model, cache) == hashlib.sha256(b"weights v2, longer").hexdigest() and len(counted) == 2
    stat = model.stat()
    model.write_bytes(b"weights v3, longer")  # same size; put mtime back: ctime still moves
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert hashcache.cached_sha256(model, cache) == hashlib.sha256(b"weights v3, longer").hexdigest() and len(counted) == 3
    os.utime(model, ns=(1, 1))  # only mtime changes
    assert hashcache.cached_sha256(model, cache) == hashlib.sha256(b"weights v3, longer").hexdigest() and len(counted) == 4
    assert len(json.loads(cache.read_text(encoding="utf-8"))) == 1  # stale identities of the same path are dropped


def test_a_broken_or_unwritable_cache_is_ignored(tmp_path, counted):
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert hashcache.cached_sha256(model, broken) == hashlib.sha256(b"x").hexdigest()
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert hashcache.cached_sha256(model, blocker / "sub" / "sha256.json") == hashlib.sha256(b"x").hexdigest()  # cannot mkdir
    assert len(counted) == 2


def test_default_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNER_CACHE_DIR", str(tmp_path))
    assert hashcache.default_cache_path() == tmp_path / "hashes" / "sha256.json"


def test_the_fairseq_checkpoint_hash_is_cached(tmp_path, monkeypatch, counted):
    pytest.importorskip("torch")
    from aligner.backends.fairseq.checkpoint import load_model
    monkeypatch.setenv("ALIGNER_CACHE_DIR", str(tmp_path))
    checkpoint = Path(__file__).resolve().parents[1] / "data" / "models" / "toy-deen" / "model.pt"
    first = load_model(checkpoint)[1].sha256
    second = load_model(checkpoint)[1].sha256
    assert first == second == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert counted == ["model.pt"]
