"""Time commands as subprocesses, interleaved, from a small parent process.

Used by run.py's startup case: ``python spawn_timer.py '{"commands": [[...], ...], "repeat": N}'``
prints JSON with, for each command, its wall times in seconds, its peak RSS in bytes (from
wait4's ru_maxrss) and the first failure. Linux carries a parent's RSS at fork time into the
child's ru_maxrss, so the parent must be small: this script imports nothing heavy, not numpy.
Each command runs once untimed first (disk cache, .pyc files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def run(cmd: list[str]) -> tuple[float, int | None, int, str]:
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = usage.ru_maxrss * 1024  # kB on Linux
        else:
            proc.wait()
            elapsed, peak = time.perf_counter() - t0, None
        err.seek(0)
        tail = err.read()[-300:].decode("utf-8", "replace").strip().replace("\n", " ")
    return elapsed, peak, proc.returncode, tail


def main() -> None:
    spec = json.loads(sys.argv[1])
    commands, repeat = spec["commands"], spec["repeat"]
    results = [{"times": [], "peak_rss": [], "error": None} for _ in commands]
    for res, cmd in zip(results, commands):
        _, _, code, tail = run(cmd)
        if code != 0:
            res["error"] = f"exit status {code}: {tail}"
    for _ in range(repeat):
        for res, cmd in zip(results, commands):
            if res["error"]:
                continue
            elapsed, peak, code, tail = run(cmd)
            if code != 0:
                res["error"] = f"exit status {code}: {tail}"
                continue
            res["times"].append(elapsed)
            if peak is not None:
                res["peak_rss"].append(peak)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
