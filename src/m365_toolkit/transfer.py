"""The documented import path of export, import and migrate (:mod:`m365_toolkit.data`)."""

from .data.migrate import Migration, migrate
from .data.transfer import (
    CSV_COLUMNS,
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    FileImport,
    export_sessions,
    export_to_file,
    import_file,
)

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "FileImport",
    "Migration",
    "export_sessions",
    "export_to_file",
    "import_file",
    "migrate",
]
