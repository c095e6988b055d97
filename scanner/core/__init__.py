"""The domain core: the words every layer shares, importing nothing of omscan's own.

A model file (``ModelFile``: where it lives, its size, the version token that says
whether its bytes can have changed) and the outcome of asking about it (``Status``).
``om/`` (the format), ``backends/``, ``store/`` and everything above build on these.
"""

from .records import ModelFile
from .status import FAILURE_STATUSES, NOT_FAILURES, SETTLED_STATUSES, Status

__all__ = ["FAILURE_STATUSES", "NOT_FAILURES", "SETTLED_STATUSES", "ModelFile", "Status"]
