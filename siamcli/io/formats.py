"""The one table of input formats. A Format holds everything about its container: its suffixes,
its reader, what else it can give (a labels file, a pairs table), how to recognise it in unnamed
bytes (stdin), the load options it takes, and the optional dependency its reader needs.

Adding a format is one entry: `register_format(Format(...))` (or a line in BUILTIN_FORMATS), and
every command accepts it, by suffix and by --input-format."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from ..errors import InputError, mention
from . import arrays, columnar, delimited, hdf5, hfdataset, jsonfile, tensors
from .textcells import excerpt, printable, sniff_delimiter


@dataclass(frozen=True, eq=False)
class Format:
    """An input container.

    read(data, source, options: ReadOptions) -> Parsed: `data` is the decoded text of a text
    format; for a `binary` one, or an `undecoded` text format (which decodes it itself, parsing a
    large file as it reads it), bytes or a DiskFile (the path of a regular file, to map or read);
    for a folder format, a Folder (its path).
    labels(data, source, column, limit) -> [str]: a label per row when a file of this format is
    given as labels (None: it cannot be). table(text, source) -> [(line, cells)]: the rows of a
    pairs file of this format (None: cells split at the delimiter its first line shows).
    """

    name: str
    suffixes: tuple[str, ...]
    read: Callable[..., object]
    summary: str
    binary: bool = False
    undecoded: bool = False  # text whose reader takes bytes or a DiskFile, and decodes it itself
    labels: Callable[..., list[str]] | None = None
    table: Callable[[str, str], list] | None = None
    magic: bytes = b""  # the first bytes of every file of this format (binary formats)
    not_magic: str = ""  # what a file without them is not, for the message
    sniff: Callable[[bytes], bool] | None = None  # whether unnamed text (its first non-comment bytes) looks like it
    options: tuple[str, ...] = ()  # the ReadOptions it reads beyond labels and dtype: key, column, columns, id_column, fields
    extra: str | None = None  # the optional dependency of its reader: pip install 'siamcli[extra]'
    folder: Callable[[str], bool] | None = None  # whether a folder is an input of this format (then read gets a Folder)
    folder_holds: str = ""  # what such a folder holds, for the message when a folder is none of them

    def magic_check(self, source: str) -> Callable[[bytes], None] | None:
        """A check of a stream's first bytes that refuses a file without the magic before more is read."""
        if not self.magic:
            return None if self.binary else self._text_check(source)

        def check(head: bytes) -> None:
            if len(head) < len(self.magic) or not head.startswith(self.magic):
                raise InputError(f"{source}: {self.not_magic}")

        return check


    def _text_check(self, source: str) -> Callable[[bytes], None]:
        """Text never holds a NUL byte: a device such as /dev/zero or a binary file is refused at once."""

        def check(head: bytes) -> None:
            if b"\x00" in head:
                raise InputError(f"{source}: byte {head.index(0)} is a NUL byte, which {self.name} text never holds "
                                 "(is it a binary file?)")

        return check


def _text_head(data: bytes) -> bytes:
    """The first 64 KiB of unnamed text from its first line that is not blank or a comment."""
    head = data[:65536]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip()
    while head.startswith(b"#"):  # comment lines tell nothing about the format
        head = head.split(b"\n", 1)[1].lstrip() if b"\n" in head else b""
    return head


def _json_list_of_records(head: bytes) -> bool:
    return head.startswith(b"[") and head[1:].lstrip().startswith((b"[", b"{"))


def _delimited_by(delimiter: str | None) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        if head.startswith((b"{", b"[")):
            return False
        return sniff_delimiter(head.split(b"\n", 1)[0].decode("latin-1")) == delimiter

    return sniff


#: The options of a table of text (CSV, TSV, TXT): a list column, numeric columns, id column, fields.
TABLE_OPTIONS = ("column", "columns", "id_column", "fields")
#: Built-in formats, in the order unnamed input is tried against them (txt: the last resort).
BUILTIN_FORMATS = [
    Format("npy", (".npy",), arrays.read_npy, "numpy array, memory-mapped when large; never unpickled",
           binary=True, labels=arrays.npy_labels, magic=b"\x93NUMPY", not_magic="not a .npy file (no NumPy header)"),
    Format("safetensors", (".safetensors",), tensors.read_safetensors,
           "safetensors: --key, else the only 2-D tensor; memory-mapped; float16 and bfloat16 read as float32",
           binary=True, sniff=tensors.looks_like_safetensors, options=("key",)),
    Format("hdf5", (".h5", ".hdf5"), hdf5.read_hdf5,
           "HDF5: --key a dataset path, else the only 2-D numeric dataset; 'ids' beside it gives row ids; "
           "memory-mapped when contiguous", binary=True, magic=hdf5.HDF5_SIGNATURE,
           not_magic="not an HDF5 file (no HDF5 signature at its start)", options=("key",), extra="hdf5"),
    Format("pytorch", (".pt", ".pth"), tensors.read_pytorch,
           "torch.save's tensor, or dict of tensors (--key, else the only 2-D one); weights only: never unpickles code",
           binary=True, sniff=tensors.looks_like_torch, options=("key",), extra="torch"),  # before npz: a zip too
    Format("npz", (".npz",), arrays.read_npz,
           "numpy archive: --key, else the only array or 'embeddings'; 'ids' gives row ids",
           binary=True, labels=arrays.npz_labels, magic=b"PK", not_magic="not a valid .npz archive (no zip header)",
           options=("key",)),
    Format("parquet", (".parquet",), columnar.read_parquet,
           "Parquet table: a column of numeric lists (--column) or numeric columns (--columns); ids from 'id' "
           "or --id-column; read in row groups", binary=True, magic=columnar.PARQUET_MAGIC,
           not_magic="not a Parquet file (no PAR1 header)", options=columnar.COLUMN_OPTIONS, extra="parquet"),
    Format("arrow", (".arrow", ".feather"), columnar.read_arrow,
           "Arrow IPC file (Feather v2), memory-mapped, or IPC stream; columns as for parquet", binary=True,
           sniff=columnar.looks_like_arrow, options=columnar.COLUMN_OPTIONS, extra="parquet"),
    Format("hf-dataset", (), hfdataset.read_hf_dataset,
           "a Hugging Face datasets folder (save_to_disk), read with pyarrow; columns as for parquet",
           binary=True, folder=hfdataset.is_hf_dataset, folder_holds="Hugging Face dataset (state.json and .arrow files)",
           options=columnar.COLUMN_OPTIONS, extra="parquet"),
    Format("csv", (".csv",), delimited.read_csv,
           "comma-separated: header, id column, text columns and list cells detected; parsed in C",
           labels=delimited.text_labels, sniff=_delimited_by(","), undecoded=True, options=TABLE_OPTIONS),
    Format("tsv", (".tsv", ".tab"), delimited.read_tsv,
           "tab-separated: header, id column, text columns and list cells detected; parsed in C",
           labels=delimited.text_labels, sniff=_delimited_by("\t"), undecoded=True, options=TABLE_OPTIONS),
    Format("txt", (".txt",), delimited.read_txt,
           "whitespace-separated: header, id column and text columns detected; parsed in C",
           labels=delimited.text_labels, undecoded=True, options=TABLE_OPTIONS),
    Format("jsonl", (".jsonl", ".ndjson"), jsonfile.read_jsonl,
           "one JSON object per line (id + embedding/vector) or a bare list", labels=jsonfile.jsonl_labels,
           options=("fields",),
           sniff=lambda head: head.startswith((b"{", b"[")) and not _json_list_of_records(head)),
    Format("json", (".json",), jsonfile.read_json, "a JSON list of vectors or of objects like jsonl's",
           labels=jsonfile.json_labels, sniff=_json_list_of_records, options=("fields",)),
    Format("npy-folder", (), arrays.read_npy_folder, "a folder of .npy shards, rows in file-name order",
           binary=True, folder=lambda path: bool(arrays.npy_shards(path)), folder_holds=".npy file"),
]
#: The one table of input formats, by name. Add a format here and every command accepts it.
FORMATS: dict[str, Format] = {f.name: f for f in BUILTIN_FORMATS}
#: What unnamed text that no format's sniff recognises is read as.
FALLBACK_FORMAT = "txt"


def register_format(fmt: Format) -> Format:
    """Add (or replace) an input format: its suffixes and --input-format name work at once."""
    FORMATS[fmt.name] = fmt
    return fmt


def suffixes() -> dict[str, Format]:
    return {suffix: f for f in FORMATS.values() for suffix in f.suffixes}


def format_for(path: str, input_format: str | None) -> tuple[Format, bool]:
    """The format of a path (`input_format` when given, else its suffix) and whether it is gzip-compressed."""
    name = path.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if input_format is not None:
        return named_format(input_format), gz
    known = suffixes()
    suffix = os.path.splitext(name)[1]
    if suffix in known:
        return known[suffix], gz
    shown = excerpt(suffix, 20) if suffix else "no suffix"
    raise InputError(f"{printable(path)}: unknown file type ({shown}); known: {known_formats()}; "
                     f"or name one with {mention('input_format')}")


def known_formats() -> str:
    """'.npy .npz .parquet ... (and .gz of each), and folders (npy-folder, hf-dataset)': every format,
    briefly (a missing extra is named when a file of its format is read)."""
    files = " ".join(s for f in FORMATS.values() for s in f.suffixes)
    folders = [f.name for f in FORMATS.values() if f.folder is not None]
    return f"{files} (and .gz of each)" + (f", and folders ({', '.join(folders)})" if folders else "")


def named_format(name: str) -> Format:
    if name not in FORMATS:
        raise InputError(f"unknown input format {excerpt(name, 20)}; known: {', '.join(FORMATS)}")
    return FORMATS[name]


def sniff_format(data: bytes) -> Format:
    """Guess the format of unnamed bytes (stdin) from their first bytes."""
    head = _text_head(data)
    for fmt in FORMATS.values():
        if data.startswith(fmt.magic) if fmt.magic else fmt.sniff is not None and fmt.sniff(head):
            return fmt
    return FORMATS[FALLBACK_FORMAT]
