"""Hugging Face `datasets` folders (what Dataset.save_to_disk writes: state.json, dataset_info.json
and data-0000i-of-0000N.arrow shards, each an Arrow IPC stream), read through pyarrow alone:
`datasets` itself is never imported. Shards are read in the order state.json lists them, as one
table; rows are numbered across the whole dataset, as dataset[i] numbers them."""

from __future__ import annotations

import json
import os

from ..errors import InputError
from .bounded import DiskFile
from .columnar import IpcInput, gather, invalid_as_input_error, open_ipc, plan_columns, pyarrow_module, shown_type
from .embeddings import Parsed, ReadOptions
from .textcells import excerpt, listed, printable

STATE = "state.json"
INFO = "dataset_info.json"
DICT = "dataset_dict.json"  # a DatasetDict: a folder per split


def _has(folder: str, name: str) -> bool:
    return os.path.isfile(os.path.join(folder, name))


def _arrow_files(folder: str) -> list[str]:
    """The .arrow files of a folder, by name, without the cache files .map() leaves beside the data."""
    return sorted(name for name in os.listdir(folder)
                  if name.endswith(".arrow") and not name.startswith("cache-") and _has(folder, name))


def is_hf_dataset(folder: str) -> bool:
    """Whether a folder is a saved dataset (state.json or dataset_info.json beside .arrow files)
    or a saved DatasetDict (dataset_dict.json: then the reader says which split to give)."""
    try:
        return _has(folder, DICT) or (_has(folder, STATE) or _has(folder, INFO)) and bool(_arrow_files(folder))
    except OSError:
        return False


def _json_of(path: str, shown: str):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read(2**20 + 1)[: 2**20])  # a state file is a few hundred bytes
    except (OSError, ValueError) as exc:
        raise InputError(f"{shown}: cannot be read as JSON ({excerpt(str(exc))[1:-1]})") from None


def _splits(folder: str, source: str) -> InputError:
    """The error for a DatasetDict folder: it names the splits and a split's folder to give."""
    found = _json_of(os.path.join(folder, DICT), f"{source}/{DICT}")
    splits = found.get("splits") if isinstance(found, dict) else None
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits) or not splits:
        splits = sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))
    example = os.path.join(source, printable(splits[0])) if splits else f"{source}/train"
    return InputError(f"{source}: is a Hugging Face DatasetDict of splits {listed(splits, 8)}; "
                      f"give the folder of one split (e.g. {example})")


def shard_names(folder: str, source: str) -> list[str]:
    """The shards' file names, in the order state.json lists them (else by name)."""
    if not _has(folder, STATE):
        return _arrow_files(folder)
    shown = f"{source}/{STATE}"
    state = _json_of(os.path.join(folder, STATE), shown)
    files = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(files, list) or not files:
        raise InputError(f"{shown}: lists no data files (no '_data_files')")
    names = []
    for entry in files:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or os.path.basename(name) != name or name in (".", ".."):
            raise InputError(f"{shown}: a data file entry is not a file name in the folder ({excerpt(entry)})")
        if not _has(folder, name):
            raise InputError(f"{source}: {STATE} lists {excerpt(name)}, which is not in the folder")
        names.append(name)
    return names


def read_hf_dataset(folder, source: str, options: ReadOptions) -> Parsed:
    """A dataset saved with Dataset.save_to_disk: its shards as one table."""
    if _has(folder, DICT):
        raise _splits(folder, source)
    shards: list[IpcInput] = [open_ipc(DiskFile(os.path.join(folder, name)), f"{source}/{printable(name)}")
                              for name in shard_names(folder, source)]
    if not shards:
        raise InputError(f"{source}: holds no .arrow data file")
    with invalid_as_input_error(source, "Hugging Face dataset"):  # column names that are not UTF-8
        return _read_shards(shards, source, options)


def _read_shards(shards: list[IpcInput], source: str, options: ReadOptions) -> Parsed:
    """The shards as one table, the columns read having the same types in each."""
    plan = plan_columns(pyarrow_module(), shards[0].schema, options, source)
    columns = plan.columns()
    for shard in shards[1:]:
        for name in columns:
            mine, first = _field_type(shard, name), shards[0].schema.field(name).type
            if mine != first:
                raise InputError(f"{shard.source}: column {excerpt(name)} is "
                                 f"{shown_type(mine) if mine else 'missing'} but {shown_type(first)} in {shards[0].source}")
    rows = sum(shard.rows() for shard in shards)
    return gather((batch for shard in shards for batch in shard.batches()), rows, plan, source)


def _field_type(shard: IpcInput, name: str):
    index = shard.schema.get_field_index(name)  # -1: missing or several
    return shard.schema.field(index).type if index >= 0 else None
