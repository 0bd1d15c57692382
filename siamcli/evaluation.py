"""Old path of siamcli.reports.evaluation, for the CLI until it imports the new one (issue 14, wave 2)."""

from .reports.evaluation import check_fail_under, evaluate, fail_under, parse_labels  # noqa: F401
