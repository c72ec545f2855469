"""Reading the text files that PowerShell scripts write (UTF-8 with or without BOM, or UTF-16)."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import ValidationError


def read_text(path: Path, what: str) -> str:
    """The text of ``path``; ``what`` names the kind of file in error messages.

    Windows PowerShell 5.1 writes UTF-16 with a BOM from ``Out-File`` and UTF-8 with a BOM
    from ``Set-Content -Encoding UTF8``, so both BOMs are honoured.

    Raises:
        ValidationError: the file is missing, unreadable or not text in those encodings.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"The {what} {str(path)!r} does not exist.") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValidationError(f"Cannot read the {what} {str(path)!r}: {reason}.") from exc
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding, label = ("utf-16", "UTF-16") if utf16 else ("utf-8-sig", "UTF-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The {what} {str(path)!r} is not valid {label} text (bad byte at "
            f"offset {exc.start}); save it as UTF-8 and try again."
        ) from None
