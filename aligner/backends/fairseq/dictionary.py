"""fairseq's ``dict.<lang>.txt`` vocabulary, read without fairseq."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ResourceError
from ...io import read_lines

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
_OVERWRITE = "#fairseq:overwrite"


@dataclass
class Dictionary:
    """Symbols in index order; ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, file line k -> 4+k."""

    symbols: list[str] = field(default_factory=lambda: [BOS, PAD, EOS, UNK])
    indices: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.indices:
            self.indices = {symbol: index for index, symbol in enumerate(self.symbols)}

    @property
    def pad(self) -> int:
        return self.indices[PAD]

    @property
    def eos(self) -> int:
        return self.indices[EOS]

    @property
    def unk(self) -> int:
        return self.indices[UNK]

    def __len__(self) -> int:
        return len(self.symbols)

    def index(self, symbol: str) -> int:
        return self.indices.get(symbol, self.unk)

    def _add(self, symbol: str) -> None:
        # As in fairseq, an overwritten symbol takes a new index; the old one stays occupied.
        self.indices[symbol] = len(self.symbols)
        self.symbols.append(symbol)

    @classmethod
    def load(cls, path: Path | str) -> "Dictionary":
        path = Path(path)
        if not path.is_file():
            raise ResourceError("dictionary not found", path)
        dictionary = cls()
        for number, line in enumerate(read_lines(str(path)), start=1):
            # Split from the right as fairseq does: a symbol may itself contain spaces.
            fields = line.rstrip().rsplit(" ", 1)
            overwrite = len(fields) == 2 and fields[1] == _OVERWRITE
            if overwrite:
                fields = fields[0].rsplit(" ", 1)
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise ResourceError(f"expected '<symbol> <count>', got {line!r}", path, number)
            symbol = fields[0]
            if symbol in dictionary.indices and not overwrite:
                raise ResourceError(f"duplicate symbol {symbol!r} (fairseq marks intended ones {_OVERWRITE})", path, number)
            dictionary._add(symbol)
        return dictionary
