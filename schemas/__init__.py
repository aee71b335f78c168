"""Record shapes as pyarrow schemas: the one place a column is named."""
from schemas.document import (
    DOCUMENT_SCHEMA,
    REJECTED_SCHEMA,
    SCHEMA_VERSION,
    document_to_row,
    rejected_to_row,
)
from schemas.packing import BUCKET_SCHEMA, PACKED_SCHEMA, PACKING_VERSION

__all__ = [
    "BUCKET_SCHEMA",
    "PACKED_SCHEMA",
    "PACKING_VERSION",
    "DOCUMENT_SCHEMA",
    "REJECTED_SCHEMA",
    "SCHEMA_VERSION",
    "document_to_row",
    "rejected_to_row",
]
