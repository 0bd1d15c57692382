"""Metrics: the list of registered metrics."""

from __future__ import annotations

from ..common import emit
from ..options import command, output_options, quiet_option
from ..terminal import Terminal


@command()
@quiet_option
@output_options
def metrics(quiet, fmt, precision, debug):
    """List the metrics: name, aliases, kind (distance or similarity) and what each computes.

    Similarities rank highest first, distances lowest first. Packages can add metrics through
    the entry-point group 'siamcli.metrics'.

    \b
    Examples:
      siamcli metrics
      siamcli metrics -f json | jq -r '.[].name'
    """
    from ...metrics import available_metrics
    from ...results import MetricList

    terminal = Terminal(quiet)
    emit(MetricList(available_metrics(warn=terminal.note)), fmt, precision, terminal)
