"""An atheris fuzz target for siamcli's loaders (run by test_fuzz_loaders.py, marked slow).

    python tests/fuzz_loaders_atheris.py FORMAT -runs=3000 CORPUS_DIR

Each input is loaded as FORMAT from stdin, and from a file named for FORMAT; any exception other
than InputError (and any warning, with PYTHONWARNINGS=error) is a crash that atheris reports.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile


def main() -> None:
    import atheris  # only here: pytest's doctest collection imports this module without atheris

    with atheris.instrument_imports():
        import siamcli.io.bounded  # noqa: F401
        import siamcli.io as sio
        import siamcli.io.textcells  # noqa: F401
        from siamcli.errors import InputError

    fmt = sys.argv.pop(1)
    sio.loading.CATCH_READER_ERRORS = False  # the bugs themselves, not the safety net's InputError
    folder = tempfile.mkdtemp()
    suffix = sio.FORMATS[fmt].suffixes[0]

    def one_input(data: bytes) -> None:
        try:
            sio.load_embeddings("-", input_format=fmt, stdin=io.BytesIO(data), max_input_size=2**20)
        except InputError:
            pass
        path = os.path.join(folder, "input" + suffix + (".gz" if data.startswith(b"\x1f\x8b") else ""))
        with open(path, "wb") as out:
            out.write(data)
        try:
            sio.load_embeddings(path, max_input_size=2**20)
        except InputError:
            pass
        finally:
            os.unlink(path)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
