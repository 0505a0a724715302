"""The package's exceptions: every failure a user can act on is one of these.

The CLI turns them into a one-line message and a non-zero exit; library code never
calls ``sys.exit`` or uses ``assert`` to validate input.
"""

from __future__ import annotations

import os
from typing import Optional


STDIN_NAME = "<stdin>"


def display_name(path: os.PathLike | str) -> str:
    """How a message names an input: ``-`` (stdin, or stdout as an output) is ``<stdin>``."""
    return STDIN_NAME if str(path) == "-" else str(path)


class AlignerError(Exception):
    """Base class. ``path`` and ``line`` (1-based) locate the offending input when known.

    ``side`` (``source`` or ``target``) says which side of a sentence pair is at fault, for
    errors raised by code that sees pairs but not files (the engine); the reader of the files
    names the file from it (:func:`aligner.io.file_of_side`).
    """

    def __init__(
        self, message: str, path: Optional[os.PathLike | str] = None, line: Optional[int] = None, side: Optional[str] = None
    ):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.side = side
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            name = display_name(self.path)
            where = name if self.line is None else f"{name}:{self.line}"
            where += ": "
        return where + self.message


class InputError(AlignerError):
    """Malformed or inconsistent text, alignment or gold input."""


class CheckpointError(AlignerError):
    """A checkpoint that cannot be read, or that aligner refuses to unpickle."""


class UnsupportedModelError(AlignerError):
    """A model option or architecture that aligner does not implement."""


class ResourceError(AlignerError):
    """A missing or mismatched dictionary, subword model or bundle file."""


class ConfigError(AlignerError):
    """Settings that contradict each other or the model (e.g. layer 7 of a 6-layer decoder)."""
