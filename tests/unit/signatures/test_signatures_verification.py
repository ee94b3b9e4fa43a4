"""What an uploaded PDF is found to be: facts from the file, problems, and the isolated runner
that bounds the time and memory a check may take."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from simpul.signatures import pki
from simpul.signatures.document import render
from simpul.signatures.jobs import SignJob, TsaTarget
from simpul.signatures.signing import sign_job
from simpul.signatures.verification import REASONS, describe, inspect_pdf, signature_problems
from simpul.signatures.workers import IsolatedFailure, IsolatedTimeout, run_isolated


@pytest.fixture(scope="module")
def genuine(test_pki, tsa_url, make_content) -> bytes:
    return sign_job(SignJob(make_content(), test_pki.material(), TsaTarget(tsa_url), test_pki.validation())).pdf


@pytest.fixture(scope="module")
def roots(test_pki) -> tuple[bytes, ...]:
    return (pki.der(test_pki.root),)


def test_genuine_document_has_no_problem(genuine, roots):
    facts = inspect_pdf(genuine, roots)
    assert facts.outcome == "checked"
    (signature,) = facts.signatures
    assert signature_problems(signature) == []
    assert signature.revision_sha256 == hashlib.sha256(genuine).hexdigest()
    described = describe(signature)
    assert described["intact"] and described["trusted"] and described["timestamp"]["valid"]
    assert described["signer"]["fingerprint_sha256"] and "KDN-PFK" in described["signer"]["subject"]


@pytest.mark.parametrize(
    ("make", "outcome"),
    [
        (lambda pdf: b"GIF89a" + pdf[6:200], "not_pdf"),
        (lambda pdf: b"", "not_pdf"),
        (lambda pdf: pdf[: len(pdf) // 3], "malformed"),
        (lambda pdf: b"%PDF-1.7\n" + b"\x00\xff" * 5000, "malformed"),
    ],
    ids=["not-pdf", "empty", "truncated", "garbage-after-header"],
)
def test_unreadable_inputs(genuine, roots, make, outcome):
    assert inspect_pdf(make(genuine), roots).outcome == outcome


def test_unsigned_and_encrypted(make_content, genuine, roots):
    assert inspect_pdf(render(make_content()).pdf, roots).outcome == "unsigned"
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(genuine)))
    writer.encrypt("owner", "user")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    assert inspect_pdf(encrypted.getvalue(), roots).outcome == "encrypted"


def test_tampered_content_is_signature_invalid(genuine, roots):
    damaged = bytearray(genuine)
    damaged[genuine.index(b"stream\n", genuine.index(b"/Contents ")) + 40] ^= 0x01
    (signature,) = inspect_pdf(bytes(damaged), roots).signatures
    assert signature_problems(signature) == ["signature_invalid"]


def test_update_appended_after_signing(genuine, roots):
    writer = IncrementalPdfFileWriter(io.BytesIO(genuine))
    writer.root["/PageMode"] = generic.NameObject("/UseOutlines")
    writer.update_root()
    changed = io.BytesIO()
    writer.write(changed)
    (signature,) = inspect_pdf(changed.getvalue(), roots).signatures
    assert signature_problems(signature) == ["modified_after_signing"]
    # The signed revision is still the issued file: it can be found by its hash.
    assert signature.revision_sha256 == hashlib.sha256(genuine).hexdigest()


def test_foreign_pki_and_missing_timestamp(other_pki, make_content, roots):
    forged = sign_job(SignJob(make_content(), other_pki.material(), None, None)).pdf
    (signature,) = inspect_pdf(forged, roots).signatures
    assert signature_problems(signature) == ["untrusted", "no_timestamp"]


def test_every_reason_reads_in_both_languages():
    for text in REASONS.values():
        assert text.render("id") and text.render("en") and text.render("id") != text.render("en")


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _explode() -> None:
    raise KeyError("boom")


async def test_isolated_runner_returns_results():
    assert await run_isolated(_sleep, 0.0, timeout=10, memory_bytes=256 * 1024 * 1024) == "done"


async def test_isolated_runner_kills_what_runs_too_long():
    started = time.monotonic()
    with pytest.raises(IsolatedTimeout):
        await run_isolated(_sleep, 30.0, timeout=0.5, memory_bytes=256 * 1024 * 1024)
    assert time.monotonic() - started < 5


async def test_isolated_runner_bounds_memory():
    with pytest.raises(IsolatedFailure) as caught:
        await run_isolated(_allocate, 2048, timeout=20, memory_bytes=128 * 1024 * 1024)
    assert caught.value.kind == "memory"
    assert await run_isolated(_allocate, 16, timeout=20, memory_bytes=128 * 1024 * 1024) == 16 * 1024 * 1024


async def test_isolated_runner_reports_exceptions_by_class():
    with pytest.raises(IsolatedFailure) as caught:
        await run_isolated(_explode, timeout=10, memory_bytes=128 * 1024 * 1024)
    assert caught.value.kind == "KeyError"


async def test_checks_run_side_by_side(genuine, roots):
    results = await asyncio.gather(*(run_isolated(inspect_pdf, genuine, roots, timeout=30,
                                                  memory_bytes=512 * 1024 * 1024) for _ in range(3)))
    assert all(result.outcome == "checked" for result in results)
