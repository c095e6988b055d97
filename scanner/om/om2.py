"""OM2 (ZIP-based) models: recognised, answered in issue 7."""

from __future__ import annotations

from .errors import AclError, OmError
from .query import Sizes
from .result import Inventory
from .source import ByteSource


def query_om2(source: ByteSource, *, inventory: bool = False) -> tuple[Sizes, Inventory | None]:
    raise OmError(
        AclError.ACL_ERROR_GE_FAILURE, "OM2 (ZIP) model: not supported by this reader yet"
    )
