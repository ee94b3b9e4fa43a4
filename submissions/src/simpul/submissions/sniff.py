"""What a file is, judged by its first bytes (the client's Content-Type header is not trusted)."""

from __future__ import annotations

# Enough of the head of a file to recognise every type below.
SNIFF_BYTES = 1024

OCTET_STREAM = "application/octet-stream"


def sniff(head: bytes) -> str:
    """The media type of a file starting with `head`, or application/octet-stream."""
    if head.startswith(b"%PDF-"):
        # At offset 0 only: readers also take a header later in the first KiB, which lets an HTML
        # page or a script with "%PDF-" inside pass for a PDF (a polyglot).
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(head)
    return OCTET_STREAM


def _zip_kind(head: bytes) -> str:
    # OpenDocument files are zip archives whose first entry, stored uncompressed, names their type.
    name_length = int.from_bytes(head[26:28], "little") if len(head) >= 30 else 0
    first_entry = head[30 : 30 + name_length]
    if first_entry == b"mimetype":
        start = 30 + name_length + int.from_bytes(head[28:30], "little")
        declared = head[start : start + 80].split(b"\x00")[0]
        for media_type in (
            b"application/vnd.oasis.opendocument.text",
            b"application/vnd.oasis.opendocument.spreadsheet",
        ):
            if declared.startswith(media_type) and declared[len(media_type) : len(media_type) + 1] != b"-":
                return media_type.decode()
    return "application/zip"


def accepts(allowed: list[str], media_type: str) -> bool:
    """Whether `media_type` matches one of `allowed` (`image/*` and `*/*` match a family / all)."""
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", media_type):
            return True
        if pattern.endswith("/*") and media_type.startswith(pattern[:-1]):
            return True
    return False
