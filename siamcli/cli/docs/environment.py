"""Every environment variable siamcli reads, itself or through click, rich and Dask, as data for
docs/environment.md and the man page's ENVIRONMENT (tests/test_docs.py finds each one the source reads
here). Descriptions are plain text with `code` in backquotes."""

from __future__ import annotations

from ..completion import COMPLETE_VAR

#: (names, what it does): read by siamcli's own code.
SIAMCLI = (
    (("SIAMCLI_DEBUG",),
     "Any non-empty value acts as `--debug` on every command: Python tracebacks on errors, and Dask's "
     "own log lines and warnings shown."),
    (("SIAMCLI_SCHEDULER",),
     "The Dask scheduler of `compare`, `matrix` and `evaluate` when `--scheduler` is not given: an address "
     "(`tcp://host:8786`) or `local[:N]` (N worker processes here). Unset or empty: this process. Needs "
     "`siamcli[dask]`."),
    (("SIAMCLI_NO_WORKERS_TIMEOUT",),
     "Seconds a run on a Dask cluster goes on while the cluster has no worker before it fails with exit "
     "status 2 (default 30; anything but a number > 0 is an error)."),
    (("SIAMCLI_BFLOAT16",),
     "How large top-k rankings screen their pairs, where `siamcli[fast]` brings MKL and the CPU has AMX or "
     "AVX512-BF16 (the results are the same either way, see [performance.md](performance.md)). Unset: products in "
     "bfloat16 for rankings of at least 2^37 multiply-adds where a timing at first use shows them at least 1.5 "
     "times as fast as float32 ones, and where the data spread enough that bfloat16's wider bound keeps few more "
     "candidates; `0`: float32 products always; `1`: bfloat16 products for every size, untimed (the data "
     "still decide)."),
)

#: (names, what it does): read for siamcli by the libraries it is built on.
LIBRARIES = (
    ((COMPLETE_VAR, "COMP_WORDS", "COMP_CWORD"),
     f"Shell completion (click): `{COMPLETE_VAR}=bash_source siamcli` (or `zsh_source`, `fish_source`) prints "
     "the shell's completion script; that script sets `bash_complete` (`zsh_complete`, `fish_complete`) with "
     "the words typed so far to ask for completions. See completion.md."),
    (("COLUMNS",),
     "The terminal's width, when set: `--help` wraps to it (at most 100 columns), tables and evaluate's "
     "histogram are drawn for it and notes on stderr wrap to it. When neither stderr nor stdout is a terminal, "
     "tables are drawn for 80 columns and notes are not wrapped unless `COLUMNS` says otherwise."),
    (("LINES",),
     "The terminal's height, when set: a `matrix` table shows the rows that fit it (25 lines when stdout is "
     "not a terminal)."),
    (("TERM",),
     "`TERM=dumb`: tables on a terminal are drawn without escape codes (no bold header)."),
    (("NO_COLOR",),
     "Any value: the progress bar on stderr is drawn without colour (rich's convention; tables use no "
     "colour, only bold)."),
    (("DASK_*",),
     "Dask's configuration (for example its `distributed.comm.tls` settings, to reach a scheduler over "
     "TLS) applies to runs with `--scheduler`."),
)


def every_name() -> set[str]:
    """Every variable listed."""
    return {name for names, _ in (*SIAMCLI, *LIBRARIES) for name in names}
