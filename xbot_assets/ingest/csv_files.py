"""Reading a CSV file a person hands to `xbot load`: decoded in the encoding it is in (UTF-8 unless told), or refused
whole with the encoding named before anything is written; fields of any length read (the loaders quarantine a
too-long one alone); and the file's digest, which identifies its rows in the quarantine whatever the file is called.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The csv module's own limit (131,072 characters by default) raises mid-file and costs every row; the loaders check
# each field against MAX_FIELD_CHARS instead. This bound only stops a file that is one enormous field.
READ_FIELD_LIMIT = 2**31 - 1


class EncodingRefused(ValueError):
    """A file that is not in the encoding it was read in; the message names the byte and the likely encoding."""


@dataclass
class CsvFile:
    headers: list[str]
    rows: list[dict[str | None, str | list[str] | None]] = field(repr=False)  # keyed by header; None: extra fields
    digest: str  # "sha256:<hex>" of the file's bytes
    encoding: str


def read_csv_file(path: str | Path, encoding: str | None = None) -> CsvFile:
    """The file's header and rows as `csv.DictReader` reads them; `encoding` None means UTF-8 (a BOM is skipped, a
    UTF-16 BOM is read as UTF-16). Raises EncodingRefused, or ValueError for an empty file or a broken CSV."""
    path = Path(path)
    data = path.read_bytes()
    text, used = decode(data, path.name, encoding)
    with _field_limit(READ_FIELD_LIMIT):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            headers = list(reader.fieldnames or [])
            rows = [dict(row) for row in reader]
        except csv.Error as exc:
            raise ValueError(f"{path.name}: not a CSV file at line {reader.line_num}: {exc}; nothing loaded") from None
    if not headers:
        raise ValueError(f"{path}: the file is empty (no header row)")
    return CsvFile(headers, rows, f"sha256:{hashlib.sha256(data).hexdigest()}", used)


def decode(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was read in, or EncodingRefused naming the first bad byte."""
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # the BOM says so: Excel's "Unicode text"
    wanted = encoding or "utf-8"
    try:
        codecs.lookup(wanted)
    except LookupError:
        raise EncodingRefused(f"unknown encoding {wanted!r} (e.g. utf-8, cp1252, latin-1, utf-16)") from None
    skip = len(codecs.BOM_UTF8) if encoding is None and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode(wanted), wanted
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data.count(b"\n", 0, offset) + 1
        where = f"byte 0x{data[offset]:02x} at offset {offset}, line {line}"
        said = "UTF-8" if encoding is None else encoding
        guess = _likely_encoding(data) if encoding is None else None
        advice = (f"it looks like {guess}: re-save it as UTF-8 or pass --encoding {guess}" if guess
                  else "re-save it as UTF-8 or pass --encoding with the encoding it was saved in")
        raise EncodingRefused(f"{name} is not {said} ({where}); {advice}; nothing loaded") from None


def _likely_encoding(data: bytes) -> str | None:
    """cp1252 (Windows' Western European encoding, what Excel saves as "CSV") when every byte is one of its
    characters; else unknown (latin-1 would read anything, so it proves nothing)."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return "cp1252"


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    # The limit is the csv module's global: set for this read only, then given back.
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)
