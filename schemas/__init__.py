"""Record shapes as pyarrow schemas: the one place a column is named."""
from schemas.document import (
    DOCUMENT_SCHEMA,
    REJECTED_SCHEMA,
    SCHEMA_VERSION,
    document_to_row,
    rejected_to_row,
)

__all__ = [
    "DOCUMENT_SCHEMA",
    "REJECTED_SCHEMA",
    "SCHEMA_VERSION",
    "document_to_row",
    "rejected_to_row",
]
