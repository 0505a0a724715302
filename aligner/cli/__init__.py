"""The ``aligner`` command line (click). Only this package imports click; only ``aligner.__main__`` imports it."""

from __future__ import annotations

from . import corpus, evaluation, pictures  # noqa: F401  (each registers its commands on the group)
from .base import main

__all__ = ["main"]
