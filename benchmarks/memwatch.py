"""Peak memory of one call, beyond what was resident before it (Linux /proc; elsewhere unknown).

Two measures, both in bytes:

- peak RSS: the kernel's high-water mark VmHWM, reset just before the call by writing '5' to
  /proc/self/clear_refs, minus VmRSS before the call. It counts every resident page, including
  pages of memory-mapped files the call reads. Where clear_refs cannot be written, the peak of
  the sampled VmRSS is used instead (and may miss a spike shorter than the sampling interval).
- peak anonymous RSS: RssAnon sampled by a background thread every few milliseconds. It leaves
  out file-backed pages, so for a memory-mapped input it shows the working memory the call
  allocated, not the file pages the kernel can drop at will.

Before the baseline is read, garbage is collected and glibc is asked to return freed heap memory
(malloc_trim), so memory freed by an earlier call does not hide this call's allocations.
"""

from __future__ import annotations

import ctypes
import gc
import threading

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"
FIELDS = ("VmRSS", "VmHWM", "RssAnon")


def read_status() -> dict[str, int]:
    """VmRSS, VmHWM and RssAnon of this process in bytes ({} where /proc is missing)."""
    try:
        with open(STATUS, "rb") as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for line in text.split(b"\n"):
        key, _, rest = line.partition(b":")
        name = key.decode("ascii", "replace")
        if name in FIELDS:
            out[name] = int(rest.split()[0]) * 1024  # the kernel reports kB
    return out


def reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _load_libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the kernel (glibc only)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def method() -> str:
    """How peak RSS is measured on this machine, for the report."""
    if not read_status():
        return "unavailable (no /proc/self/status)"
    if reset_high_water_mark():
        return "VmHWM after clear_refs, minus VmRSS before; RssAnon sampled every 5 ms"
    return "VmRSS and RssAnon sampled every 5 ms (clear_refs not writable)"


class PeakMemory:
    """Context manager: peak_rss and peak_anon (bytes beyond the baseline, or None if unknown)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak_rss: int | None = None
        self.peak_anon: int | None = None
        self.hwm_used = False

    def _update(self, status: dict[str, int]) -> None:
        if "RssAnon" in status:
            self._max_anon = max(self._max_anon, status["RssAnon"])
        if "VmRSS" in status:
            self._max_rss = max(self._max_rss, status["VmRSS"])

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._update(read_status())

    def __enter__(self) -> "PeakMemory":
        release_free_memory()
        self.hwm_used = reset_high_water_mark()
        before = read_status()
        self._rss0 = before.get("VmRSS")
        self._anon0 = before.get("RssAnon")
        self._max_rss = self._rss0 or 0
        self._max_anon = self._anon0 or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="memwatch", daemon=True)
        if before:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        after = read_status()
        self._update(after)
        if self._rss0 is not None:
            if self.hwm_used and "VmHWM" in after:
                self.peak_rss = max(0, after["VmHWM"] - self._rss0)
            else:
                self.peak_rss = max(0, self._max_rss - self._rss0)
        if self._anon0 is not None:
            self.peak_anon = max(0, self._max_anon - self._anon0)
