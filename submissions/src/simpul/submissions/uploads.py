"""Reads a `multipart/form-data` upload as it streams in, straight into the blob store.

The file is never held whole in memory, and reading stops as soon as it is larger than the
requirement allows. Form fields: `file` (one file) and, for documents, `requirement_code` (text).
`keep_upload` then refuses an empty file or one of a type not accepted, judged by its bytes, and
stores what it keeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.storage import BlobStore, BlobWriter
from simpul.submissions.access import new_id, safe_filename
from simpul.submissions.sniff import SNIFF_BYTES, accepts, sniff

MAX_TEXT_FIELD = 1000
# What a person attaches as evidence, a complaint's attachment or a treasurer's proof of payment:
# a scan or a photo (a requirement's document takes the types its standard names instead).
EVIDENCE_TYPES = ["application/pdf", "image/jpeg", "image/png"]
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 16 * 1024

NOT_MULTIPART = Text(
    "Unggahan harus berupa multipart/form-data dengan field file (dan requirement_code untuk dokumen persyaratan).",
    "An upload must be multipart/form-data with the field file (and requirement_code for a requirement's document).",
)
MALFORMED = Text("Isi multipart tidak dapat dibaca.", "The multipart body cannot be parsed.")
FIELD_MESSAGES = {
    "required": Text("wajib diisi", "is required"),
    "unknown": Text("field tidak dikenal", "is not a known field"),
    "second_file": Text("hanya satu berkas per unggahan, di field 'file'", "only one file per upload, in the field 'file'"),
    "too_long": Text("terlalu panjang", "is too long"),
}
FILE_TOO_LARGE = Text(
    "Berkas melebihi ukuran maksimum {limit} bita.",
    "The file is larger than the maximum of {limit} bytes.",
)
EMPTY_FILE = Text("Berkas kosong.", "The file is empty.")


@dataclass(frozen=True)
class Incoming:
    """An upload as it arrives: the body as it streams in, its declared type and size (None
    unless one plain number), and the language to refuse it in."""

    stream: AsyncIterator[bytes]
    content_type: str | None
    content_length: int | None
    language: str


@dataclass
class Upload:
    requirement_code: str | None
    writer: BlobWriter
    head: bytes
    filename: str | None
    # The text fields sent beside the file (a treasurer's payment: reference, amount, paid_at).
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    text: bytearray | None = None
    is_file: bool = False


class _Reader:
    def __init__(self, store: BlobStore, limit_for: Callable[[str | None], int], code_field: str | None,
                 text_fields: tuple[str, ...] = ()) -> None:
        self.store = store
        self.limit_for = limit_for
        self.code_field = code_field
        self.text_fields = text_fields
        self.fields: dict[str, str] = {}
        self.errors: list[tuple[str, str]] = []
        self.writer: BlobWriter | None = None
        self.filename: str | None = None
        self.head = bytearray()
        self.limit = limit_for(None)
        self.too_large = False
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._part = _Part()

    def _header_end(self) -> None:
        self._part.headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._part.name = name
        if b"filename" in options:
            if name != "file" or self.writer is not None:
                self.errors.append((name or "file", "second_file"))
                return
            self.filename = options[b"filename"].decode("utf-8", "replace")
            code = self.fields.get(self.code_field) if self.code_field else None
            # With requirement_code sent before the file, the exact limit is known up front.
            self.limit = self.limit_for(code)
            self.writer = self.store.writer()
            self._part.is_file = True
        elif (self.code_field is not None and name == self.code_field) or name in self.text_fields:
            self._part.text = bytearray()
        else:
            self.errors.append((name or "body", "unknown"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part.text is not None:
            self._part.text.extend(chunk)
            if len(self._part.text) > MAX_TEXT_FIELD:
                self.errors.append((self._part.name or "body", "too_long"))
                self._part.text = None
        elif self._part.is_file and self.writer is not None and not self.too_large:
            if len(self.head) < SNIFF_BYTES:
                self.head.extend(chunk[: SNIFF_BYTES - len(self.head)])
            self.writer.write(chunk)
            if self.writer.size > self.limit:
                self.too_large = True

    def _part_end(self) -> None:
        if self._part.text is not None and self._part.name:
            self.fields[self._part.name] = self._part.text.decode("utf-8", "replace").strip()


async def read_upload(
    incoming: Incoming,
    *,
    store: BlobStore,
    limit_for: Callable[[str | None], int],
    code_field: str | None = "requirement_code",
    text_fields: tuple[str, ...] = (),
) -> Upload:
    """The uploaded file, already in the store's temporary area (`keep_upload` it, or abort the
    writer).

    `limit_for(code)` gives the most bytes allowed for a requirement, or for any (code None).
    `code_field` names the text field that says which requirement the file is for (None: the
    upload is a plain attachment with a `file` field only). A declared length too large for
    any file is refused before a byte is read. `text_fields` names the other text fields taken
    (in `Upload.fields`); any other field is refused.
    """
    ceiling = limit_for(None)
    if incoming.content_length is not None and incoming.content_length > ceiling + MULTIPART_OVERHEAD:
        raise Problem(413, FILE_TOO_LARGE, slug="file-too-large", params={"limit": ceiling})
    media_type, options = parse_options_header(incoming.content_type or "")
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Problem(415, NOT_MULTIPART, slug="multipart-required")
    reader = _Reader(store, limit_for, code_field, text_fields)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in incoming.stream:
            parser.write(chunk)
            if reader.too_large:
                # Stop reading: the rest of the body is never taken in.
                raise Problem(413, FILE_TOO_LARGE, slug="file-too-large", params={"limit": reader.limit})
            if reader.errors:
                break
        else:
            parser.finalize()
        errors = list(reader.errors)
        if not errors:
            if code_field is not None and not reader.fields.get(code_field):
                errors.append((code_field, "required"))
            if reader.writer is None:
                errors.append(("file", "required"))
        if errors or reader.writer is None:
            raise Problem(
                422,
                NOT_MULTIPART,
                errors=[
                    {"field": name, "message": FIELD_MESSAGES[kind].render(incoming.language)} for name, kind in errors
                ],
            )
    except MultipartParseError as exc:
        await _abort(reader)
        raise Problem(400, MALFORMED, slug="malformed-multipart") from exc
    except BaseException:
        await _abort(reader)
        raise
    return Upload(
        requirement_code=reader.fields[code_field] if code_field is not None else None,
        writer=reader.writer,
        head=bytes(reader.head),
        filename=reader.filename,
        fields=dict(reader.fields),
    )


async def _abort(reader: _Reader) -> None:
    if reader.writer is not None:
        await reader.writer.abort()


async def keep_upload(
    upload: Upload, accepted: list[str], *, wrong_type: Text, language: str, limit: int | None = None
) -> tuple[str, str]:
    """Store the file unless it is larger than `limit`, empty, or of a type (sniffed from its
    first bytes, never the client's word) that `accepted` doesn't name: its media type and sha256.
    `wrong_type` says so with `{found}` and `{allowed}`. A refused file is removed."""
    writer = upload.writer
    try:
        if limit is not None and writer.size > limit:
            raise Problem(413, FILE_TOO_LARGE, slug="file-too-large", params={"limit": limit})
        if writer.size == 0:
            raise Problem(422, EMPTY_FILE, slug="empty-file",
                          errors=[{"field": "file", "message": EMPTY_FILE.render(language)}])
        media_type = sniff(upload.head)
        if not accepts(accepted, media_type):
            raise Problem(415, wrong_type, slug="file-type-not-accepted",
                          params={"found": media_type, "allowed": ", ".join(accepted)})
    except BaseException:
        await writer.abort()
        raise
    return media_type, await writer.commit()


def stored_file(upload: Upload, media_type: str, sha256: str, uploader: Identity, at: datetime) -> dict[str, Any]:
    """The columns the row of every kept file has: a new id, what was kept, who uploaded it when."""
    return {
        "id": new_id(),
        "sha256": sha256,
        "size": upload.writer.size,
        "content_type": media_type,
        "filename": safe_filename(upload.filename),
        "uploaded_at": at,
        "uploaded_by": uploader.subject,
    }
