"""Moved to siamcli.metrics.kernels; this alias keeps `siamcli.kernels` (the same module object, so
its settings are shared) for modules not yet updated. Remove once nothing imports it."""

import sys

from .metrics import kernels as _kernels

sys.modules[__name__] = _kernels
