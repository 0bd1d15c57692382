"""The command line: thin click commands over the library. Parse options, call, hand results to output.

app (the group: exit statuses, errors, signals), terminal (stderr), options (shared options and
types), flags (parameters -> flags), common (steps commands share), commands/ (one module each).
"""

from .app import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_NOT_MET, SiamGroup, Stopped, cli, main
from .commands import COMMANDS
from .common import scheduler_address
from .flags import FLAGS, flag_name
from .terminal import ProgressBar, Terminal

for _command in COMMANDS:
    cli.add_command(_command)

__all__ = ["cli", "main", "COMMANDS", "FLAGS", "flag_name", "ProgressBar", "Terminal", "Stopped", "SiamGroup",
           "scheduler_address", "EXIT_NOT_MET", "EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_BROKEN_PIPE"]
