"""Reading the delimited text files of a dataset folder into data frames, fast and without guessing.

Files are read with pyarrow (a 10-million-row file in seconds), or with pandas' C parser for the
rare file pyarrow refuses. Values are kept as they are in the file: a column with one non-numeric
value comes back as text, so the validation step can point at the offending line instead of the
reader failing on it. Only an empty cell is a null (not "NA", which is, among others, a country
code). Only a file that cannot be read at all is an error here: missing, a folder, empty, not
valid text (checked before parsing, so the report names the line), or not valid CSV (wrong number
of fields, a column named twice).
"""

from __future__ import annotations

import codecs
import csv
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv

from .problems import DataError, Problem
from .schema import TableSchema

_CHUNK_BYTES = 1 << 22


@dataclass(frozen=True)
class CsvFormat:
    """How one file is laid out: its name, separator, header (or fixed column names) and encoding.

    ``text_columns`` are read as strings whatever they hold (e.g. zip codes, categories), so a
    value is never turned into a number, a date or a boolean behind the reader's back.
    ``quoted`` is False for formats that never quote, where a ``"`` is part of a value.
    """

    file_name: str
    separator: str = ","
    column_names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    text_columns: frozenset[str] = frozenset()
    quoted: bool = True

    @property
    def first_line(self) -> int:
        """The 1-based line number of the first data row (after the header, if there is one)."""
        return 1 if self.column_names else 2


def csv_format_for(
    schema: TableSchema, separator: str = ",", headerless: bool = False, encoding: str = "utf-8"
) -> CsvFormat:
    """The layout of a file described by ``schema``: its text columns are read as text.

    A headerless file (MovieLens ``u.*``) has its columns in schema order and no quoting.
    """
    return CsvFormat(
        schema.file_name,
        separator=separator,
        column_names=tuple(column.name for column in schema.columns) if headerless else None,
        encoding=encoding,
        text_columns=frozenset(column.name for column in schema.columns if column.kind == "str"),
        quoted=not headerless,
    )


def read_csv_table(folder: Path, csv_format: CsvFormat) -> pd.DataFrame:
    """Read one file of ``folder``; raise :class:`DataError` only if it cannot be read at all."""
    reason = unreadable_reason(folder / csv_format.file_name, csv_format.encoding)
    if reason is not None:
        raise DataError([Problem(csv_format.file_name, None, reason)], folder)
    path = folder / csv_format.file_name
    try:
        frame, bad_rows = _read_with_pyarrow(path, csv_format)
    except (pa.ArrowException, ValueError):
        # pyarrow refuses some valid files (a quoted value spanning lines); pandas' C parser
        # reads those, and for broken files its error names the line.
        try:
            return _read_with_pandas(path, csv_format)
        except (ValueError, pd.errors.ParserWarning) as error:
            message = _pandas_refusal(error, csv_format)
    else:
        repeated = sorted(set(frame.columns[frame.columns.duplicated()]))
        if repeated:
            message = "appears more than once in the header"
            problems = [Problem(csv_format.file_name, name, message) for name in repeated]
            raise DataError(problems, folder)
        if not bad_rows:
            return frame
        # Only a single-threaded read knows line numbers; pay for it only to report them.
        _, bad_rows = _read_with_pyarrow(path, csv_format, use_threads=False)
        message = _wrong_field_count(csv_format, bad_rows)
    raise DataError([Problem(csv_format.file_name, None, message)], folder)


def unreadable_reason(path: Path, encoding: str = "utf-8") -> str | None:
    """Why ``path`` cannot be read as text at all, or None if it can.

    A file the system refuses to open is a problem of the data (it will not change by trying
    again); any other operating-system error (a network share that timed out) is raised as it is,
    so a caller can retry it.
    """
    try:
        if path.is_dir():
            return "a folder, not a file"
        if not path.is_file():
            return "file is missing"
        if path.stat().st_size == 0:
            return "file is empty (0 bytes)"
        line = _first_undecodable_line(path, encoding)
    except PermissionError:
        return "cannot be read: permission denied"
    if line is not None:
        return f"not valid {encoding} text (first invalid byte at line {line})"
    return None


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The 1-based line of the first byte that is not ``encoding`` text, or None.

    A fast pass decodes the file in chunks (a few hundred megabytes a second) without keeping the
    text; only a file that fails is read again line by line to say where. Decoding first also
    spares pyarrow, which prints a traceback when a row it skips is not valid text.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK_BYTES):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return None
    except UnicodeDecodeError:
        pass
    with path.open("rb") as file:
        number = 0
        for number, line in enumerate(file, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return number


def _read_with_pyarrow(
    path: Path, csv_format: CsvFormat, use_threads: bool = True
) -> tuple[pd.DataFrame, list[pa_csv.InvalidRow]]:
    """Fast path; also returns the rows whose field count is wrong (skipped, for the report).

    Text columns stay text. pyarrow guesses the other columns' types from the start of the
    file; when a later value does not fit (an id "u7" a million lines down), the file is read
    again as text and each column turned back into numbers where all its values are numbers.
    Anything else pyarrow reads as not a number (a date, a boolean) goes back to its text too,
    for validation to report.
    """
    bad_rows: list[pa_csv.InvalidRow] = []

    def skip_and_remember(row: pa_csv.InvalidRow) -> str:
        bad_rows.append(row)
        return "skip"

    def read(text_columns: Iterable[str]) -> pa.Table:
        bad_rows.clear()
        return pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(
                column_names=list(csv_format.column_names or []),
                encoding=csv_format.encoding,
                use_threads=use_threads,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=csv_format.separator,
                quote_char='"' if csv_format.quoted else False,
                invalid_row_handler=skip_and_remember,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(text_columns, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )

    try:
        table = read(csv_format.text_columns)
    except pa.ArrowInvalid:
        table = read(_column_names(path, csv_format))
    columns = [
        column if name in csv_format.text_columns else _as_number_or_text(column)
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.table(columns, names=table.column_names).to_pandas(), bad_rows


def _column_names(path: Path, csv_format: CsvFormat) -> list[str]:
    if csv_format.column_names:
        return list(csv_format.column_names)
    with path.open(encoding=csv_format.encoding, newline="") as lines:
        return next(csv.reader(lines, delimiter=csv_format.separator), [])


def _as_number_or_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers as int64 or float64, or else text (which validation reports, with its line)."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        return column
    for number_type in (pa.int64(), pa.float64()):
        try:
            return column.cast(number_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column.cast(pa.string())


def _wrong_field_count(csv_format: CsvFormat, bad_rows: list[pa_csv.InvalidRow]) -> str:
    first = bad_rows[0]
    count = len(bad_rows)
    lines = "1 line does" if count == 1 else f"{count} lines do"
    return (
        f"not a valid {_separator_name(csv_format.separator)}-separated file: {lines} not have "
        f"{first.expected_columns} fields (first at line {first.number}, with "
        f"{first.actual_columns}: {first.text!r})"
    )


def _read_with_pandas(path: Path, csv_format: CsvFormat) -> pd.DataFrame:
    """Slow path, for files pyarrow refuses."""
    with warnings.catch_warnings():
        # A row longer than the header is only a warning to pandas; here it is an error.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(
            path,
            engine="c",
            sep=csv_format.separator,
            header=None if csv_format.column_names else 0,
            names=list(csv_format.column_names) if csv_format.column_names else None,
            index_col=False,  # an extra field is an error, not a silent index column
            quoting=csv.QUOTE_MINIMAL if csv_format.quoted else csv.QUOTE_NONE,
            encoding=csv_format.encoding,
            keep_default_na=False,
            na_values=[""],
            dtype=dict.fromkeys(csv_format.text_columns, str),
        )


def _pandas_refusal(error: Exception, csv_format: CsvFormat) -> str:
    """Why pandas could not read the file either, in a sentence."""
    if isinstance(error, pd.errors.EmptyDataError):
        return "file is empty (no header line)"
    if isinstance(error, UnicodeDecodeError):
        return f"not valid {csv_format.encoding} text: {error}"
    detail = str(error).removeprefix("Error tokenizing data. C error: ")
    return f"not a valid {_separator_name(csv_format.separator)}-separated file: {detail}"


def read_csv_tables(folder: Path, csv_formats: Iterable[CsvFormat]) -> dict[str, pd.DataFrame]:
    """Read several files of ``folder`` by file name, reporting every unreadable one at once."""
    frames: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for csv_format in csv_formats:
        try:
            frames[csv_format.file_name] = read_csv_table(folder, csv_format)
        except DataError as error:
            problems.extend(error.problems)
    if problems:
        raise DataError(problems, folder)
    return frames


def _separator_name(separator: str) -> str:
    return {",": "comma", "\t": "tab", "|": "pipe"}.get(separator, repr(separator))
