"""Old path of siamcli.reports.plots, for the CLI until it imports the new one (issue 14, wave 2)."""

from .reports.plots import RocCurve, check_plot_path, plot_evaluation, plot_inspection  # noqa: F401
