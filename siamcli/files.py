"""Every file siamcli writes, whole or not at all, and never over an input.

A file or folder is built under a temporary name beside its target,
`.{name}.{pid}.{token}.siamcli-partial{suffix}`, flushed to disk, then renamed over the target
(a folder swapped with the old one in one step) and the folder synced: a run that fails, is
interrupted or is killed leaves the previous file as it was, and never a partial one under the
final name. Only `kill -9` can leave a temporary behind; the next run writing the same target
removes those of processes that are gone (their pid is in the name).

>>> with output_file("scores.csv") as temp:          # doctest: +SKIP
...     with open(temp, "w") as handle:
...         handle.write("id,a\\n")
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import re
import shutil
import stat
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from .errors import InputError, UsageError

#: What marks siamcli's temporaries (and, with -old, a folder set aside while it is replaced).
PARTIAL = ".siamcli-partial"
_ASIDE = ".siamcli-old"
_PROBE = ".siamcli-probe"  # made and removed at once: can a file be made here?
_TEMP_NAME = re.compile(r"^\.(?P<name>.*)\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{4})[0-9a-f]{4}\.siamcli-(?:partial|old|probe)")
#: Room left in a file name (255 bytes on most filesystems) for the temporary's additions.
_NAME_ROOM = 150


def _host_tag() -> str:
    """4 hex digits of this machine's name: a pid is only known dead on the host that ran it (a
    shared folder may hold the temporaries of a run on another machine)."""
    import zlib

    return f"{zlib.crc32(os.uname().nodename.encode()) & 0xFFFF:04x}"


def _temp_name(target: str, kind: str = PARTIAL) -> str:
    """`.{name}.{pid}.{host tag + 4 random hex digits}{kind}{suffix}` beside the target."""
    folder, name = os.path.split(target)
    suffix = os.path.splitext(name)[1] if kind == PARTIAL else ""  # np.save and others go by the suffix
    token = _host_tag() + os.urandom(2).hex()
    return os.path.join(folder, f".{name[:_NAME_ROOM]}.{os.getpid()}.{token}{kind}{suffix}")


def _cannot_write(shown: str, exc: OSError) -> InputError:
    return InputError(f"{shown}: cannot write ({exc.strerror or exc})")


class Output:
    """A file (or folder) being written: write to `temp`, then `commit()` puts it at the target.

    The target is the path with symlinks followed (a link stays a link to the new file). Used as
    a context manager, it commits when the block ends and discards `temp` on any exception or
    signal; an OSError becomes an InputError naming the path as given: `out.npy: cannot write
    (No space left on device)`. `replaceable(target)` says why an existing folder must not be
    replaced wholesale (a folder of someone's files), or None.
    """

    def __init__(self, path, folder: bool = False, replaceable: Callable[[str], str | None] | None = None):
        self.shown = os.fspath(path)
        self.target = os.path.realpath(self.shown)
        self.folder = folder
        self.replaceable = replaceable
        self.temp: str | None = None

    def __enter__(self) -> "Output":
        try:
            self.open()
        except BaseException as exc:  # a signal while the temporary is made: remove it too
            self.discard()
            if isinstance(exc, OSError):
                raise _cannot_write(self.shown, exc) from None
            raise
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None:
            self.discard()
            if isinstance(exc, OSError):
                raise _cannot_write(self.shown, exc) from None
            return
        try:
            self.commit()
        except OSError as error:
            self.discard()
            raise _cannot_write(self.shown, error) from None
        except BaseException:
            self.discard()
            raise

    def open(self) -> str:
        """Creates the temporary (empty), removing stale ones of the same target first."""
        check_target(self.shown, self.folder, self.replaceable)
        remove_stale(self.target)
        self.temp = _temp_name(self.target)
        if self.folder:
            os.mkdir(self.temp)  # 0o777 less the umask, as a new folder
        else:  # 0o666 less the umask, as a new file; an existing file's mode is applied at commit
            os.close(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        return self.temp

    def commit(self) -> None:
        """Syncs the temporary to disk and renames it over the target, then syncs the folder."""
        if self.folder:
            _sync_tree(self.temp)
        else:
            try:  # the file it replaces keeps its permissions
                os.chmod(self.temp, stat.S_IMODE(os.stat(self.target).st_mode))
            except FileNotFoundError:
                pass
            _sync(self.temp)
        old = _put_in_place(self.temp, self.target, self.folder)
        self.temp = None
        _sync(os.path.dirname(self.target), folder=True)
        if old is not None:  # the replaced folder, now under a temporary name
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """Removes the temporary, if any (nothing else is touched)."""
        if self.temp is not None:
            _remove(self.temp)
            self.temp = None


@contextmanager
def output_file(path) -> Iterator[str]:
    """The temporary file to write instead of `path`; renamed over `path` when the block ends."""
    with Output(path) as out:
        yield out.temp


@contextmanager
def output_folder(path, replaceable: Callable[[str], str | None] | None = None) -> Iterator[str]:
    """A new, empty folder to fill instead of `path`; it replaces `path` whole when the block ends."""
    with Output(path, folder=True, replaceable=replaceable) as out:
        yield out.temp


def write_bytes(path, data: bytes) -> None:
    """`data` as the file at `path`, whole or not at all."""
    with output_file(path) as temp, open(temp, "wb") as handle:
        handle.write(data)


def reserve_npy(path, shape: tuple[int, ...], dtype, align: int = 64) -> int:
    """Writes the header of a .npy file of `shape` and `dtype` at `path` (an existing empty file, a
    temporary), padded so the data starts at a multiple of `align` bytes (numpy pads to 64), and
    reserves the data's space on disk: a full disk or a file size limit is an OSError here, not a
    SIGBUS when a page of a map is first written, nor a short write at the end. Returns the
    offset of the data."""
    import numpy as np

    dtype = np.dtype(dtype)
    header = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    start = -(-(len(_NPY_MAGIC) + 2 + len(header) + 1) // align) * align
    text = header.encode("latin1") + b" " * (start - len(_NPY_MAGIC) - 2 - len(header) - 1) + b"\n"
    with open(path, "r+b") as handle:
        handle.write(_NPY_MAGIC + len(text).to_bytes(2, "little") + text)
        size = start + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        handle.flush()
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.ftruncate(handle.fileno(), size)  # a filesystem that cannot reserve space
    return start


#: The .npy format 1.0's first bytes (its header's length follows, in two bytes).
_NPY_MAGIC = b"\x93NUMPY\x01\x00"


def save_npy(path, array) -> None:
    """np.save without its short-write message: the data goes through Python's own write, so a
    full disk is OSError(ENOSPC) ('No space left on device') like every other write here."""
    import numpy as np

    array = np.ascontiguousarray(array)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(array))
        handle.write(memoryview(array.reshape(-1)).cast("B"))


# ---------------------------------------------------------------- putting a file in place


def _put_in_place(temp: str, target: str, folder: bool) -> str | None:
    """Renames temp to target; returns where a replaced folder now is (to remove), or None."""
    if not folder or not os.path.isdir(target):
        os.replace(temp, target)
        return None
    if _exchange(temp, target):
        return temp
    # no atomic swap here: set the old folder aside, put the new one in, remove the old one
    aside = _temp_name(target, _ASIDE)
    os.rename(target, aside)
    try:
        os.rename(temp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    return aside


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: str, second: str) -> bool:
    """Swaps two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where not possible."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # a filesystem or kernel without it
    raise OSError(code, os.strerror(code), second)


def _sync(path: str, folder: bool = False) -> None:
    """fsync a file (or a folder's entries): on disk, not only in the page cache."""
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0) | os.O_CLOEXEC)
    except OSError:
        if folder:
            return  # a folder that cannot be opened for reading cannot be synced either; the file is in
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not folder or exc.errno not in (errno.EINVAL, errno.EBADF, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _sync_tree(top: str) -> None:
    for folder, _, names in os.walk(top):
        for name in names:
            _sync(os.path.join(folder, name))
        _sync(folder, folder=True)


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a pid we cannot ask about: leave its files
    return True


def remove_stale(target: str) -> list[str]:
    """Removes the temporaries of `target` left by processes that no longer run (kill -9); a
    folder that was set aside while being replaced goes back in place if the target is missing."""
    folder, name = os.path.split(target)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    removed, host = [], _host_tag()
    for entry in entries:
        found = _TEMP_NAME.match(entry)
        if (not found or found["name"] != name[:_NAME_ROOM] or found["host"] != host
                or int(found["pid"]) == os.getpid() or _alive(int(found["pid"]))):
            continue
        path = os.path.join(folder, entry)
        if entry.endswith(_ASIDE) and not os.path.lexists(target):
            os.rename(path, target)  # killed between its two renames: the old folder is the target
            continue
        _remove(path)
        removed.append(path)
    return removed


# ---------------------------------------------------------------- checks before any work


def check_target(path, folder: bool = False, replaceable: Callable[[str], str | None] | None = None) -> None:
    """An InputError now, before any work, if `path` cannot be written: no such folder, or in
    the way (a folder where a file goes, a file where a folder goes, a folder not ours to replace)."""
    shown = os.fspath(path)
    target = os.path.realpath(shown)
    parent = os.path.dirname(target)
    problem = None
    if not os.path.isdir(parent):
        problem = f"{shown}: cannot write (no such folder: {os.path.dirname(shown) or parent})"
    elif (error := _probe(target)) is not None:
        problem = f"{shown}: cannot write ({error})"
    elif folder and os.path.exists(target):
        if not os.path.isdir(target):
            problem = f"{shown} exists and is not a folder; choose another name or remove it"
        elif replaceable is not None and (reason := replaceable(target)):
            problem = f"{shown} {reason}; choose another name or remove it"
    elif not folder and os.path.isdir(target):
        problem = f"{shown}: cannot write (Is a directory)"
    elif not folder and os.path.exists(target) and not os.access(target, os.W_OK):
        problem = f"{shown}: cannot write (Permission denied)"  # a read-only file is not replaced either
    if problem is not None:
        raise InputError(problem) from None


def _probe(target: str) -> str | None:
    """Why no file can be made beside `target` (a read-only disk, no permission), or None: a
    temporary is made and removed, which asks the filesystem itself."""
    probe = _temp_name(target, _PROBE)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        _remove(probe)
    return None


def check_outputs(outputs: Iterable[tuple[str, str | None]], inputs: Iterable[tuple[str, str | None]]) -> None:
    """A UsageError if an output (flag, path) is an input (label, path) or a folder holding one,
    or lies inside an input folder (shards, a zarr array): symlinks followed, hard links caught.
    Labels name the input: 'the input' for A and B, else its flag ('--ids')."""
    inputs = [(label, path) for label, path in inputs if path is not None and path != "-"]
    for flag, out in outputs:
        if out is None:
            continue
        target = os.path.realpath(out)
        try:
            out_stat = os.stat(target)
        except OSError:
            out_stat = None
        for label, given in inputs:
            for path in _input_files(given):
                clash = _clash(target, out_stat, path)
                if clash:
                    what = "the input" if label == "input" else f"the {label} file"
                    kind = "folder" if out.endswith(("/", os.sep)) or os.path.isdir(target) else "file"
                    raise UsageError(f"{flag} {out} {clash.format(what=what, path=path)}; choose another output {kind}")
            if glob.has_magic(given) and not os.path.exists(given) and _matches(target, given):
                raise UsageError(f"{flag} {out} would be read as one of the shards {given}; choose another output file")


def _input_files(given: str) -> list[str]:
    """The paths an input names: itself, or what a glob matches (a path that exists is literal)."""
    if os.path.lexists(given) or not glob.has_magic(given):
        return [given]
    return sorted(glob.glob(given))


def _matches(target: str, pattern: str) -> bool:
    folder, name = os.path.split(os.path.abspath(pattern))
    return (os.path.dirname(target) == os.path.realpath(folder or ".")
            and fnmatch.fnmatch(os.path.basename(target), name))


def _clash(target: str, out_stat, path: str) -> str | None:
    """How the output `target` would touch the input `path`, as a message template, or None."""
    real = os.path.realpath(path)
    try:
        in_stat = os.stat(real)
    except OSError:
        return None  # a missing input: its loader says so
    if out_stat is not None and (out_stat.st_dev, out_stat.st_ino) == (in_stat.st_dev, in_stat.st_ino):
        same = os.path.normpath(real) == os.path.normpath(target)
        return "is {what} {path}" + ("" if same else " (the same file, by another name)")
    if real.startswith(target.rstrip(os.sep) + os.sep):
        return "is a folder holding {what} {path}"
    if stat.S_ISDIR(in_stat.st_mode) and target.startswith(real.rstrip(os.sep) + os.sep):
        return "is inside {what} {path} (a folder siamcli reads)"
    return None
