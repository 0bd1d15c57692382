"""Old path of siamcli.reports.inspection, for the CLI until it imports the new one (issue 14, wave 2)."""

from .reports.inspection import inspect_embeddings  # noqa: F401
