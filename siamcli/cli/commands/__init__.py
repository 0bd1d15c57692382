"""One module per command, each a thin layer: parse options -> call the library -> hand the result to output.

A new command is a new module here and one entry in COMMANDS.
"""

from .compare import compare
from .diff import diff
from .drift import drift
from .evaluate import evaluate
from .inspect import inspect
from .loss import loss
from .matrix import matrix
from .metrics import metrics
from .verify import verify

#: Every command of the `siamcli` group (click lists them by name).
COMMANDS = (compare, verify, evaluate, inspect, diff, drift, loss, matrix, metrics)
