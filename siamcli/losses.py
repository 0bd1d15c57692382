"""Old path of siamcli.reports.losses, for the CLI until it imports the new one (issue 14, wave 2)."""

from .reports.losses import contrastive_loss, margin_sweep, pair_distances, triplet_distances, triplet_loss  # noqa: F401
