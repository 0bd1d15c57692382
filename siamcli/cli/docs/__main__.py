"""python -m siamcli.cli.docs [FOLDER]: regenerate the reference in FOLDER (default docs)."""

import sys

from . import main

sys.exit(main())
