from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings
from simpul.shared.storage import ObjectStorageSettings


class SubmissionsSettings(BaseServiceSettings, ObjectStorageSettings):
    service_name: ClassVar[str] = "submissions"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_SUBMISSIONS_DATABASE_URL")
    port: int = Field(default=8002, validation_alias="SIMPUL_SUBMISSIONS_PORT")

    # Where uploaded files are kept (storage.open_blob_store): unset, under the data dir.
    storage_url: str | None = Field(default=None, validation_alias="SIMPUL_SUBMISSIONS_STORAGE_URL")

    # Extra holidays / working days on top of the `holidays` package (format in calendar.py).
    calendar_file: Path | None = Field(default=None, validation_alias="SIMPUL_CALENDAR_FILE")
    # How long an answer of the catalogue is reused (0: ask for every new submission).
    catalog_cache_seconds: float = Field(default=5.0, validation_alias="SIMPUL_SUBMISSIONS_CATALOG_CACHE_SECONDS")
    # Ceiling for any upload, whatever a requirement's max_bytes says.
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, validation_alias="SIMPUL_SUBMISSIONS_MAX_UPLOAD_BYTES")

    # The worker that asks the signatures service for the output document of approved submissions.
    issue_poll_seconds: float = Field(default=5.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_POLL_SECONDS")
    issue_retry_base_seconds: float = Field(default=2.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_RETRY_BASE_SECONDS")
    issue_retry_max_seconds: float = Field(default=300.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_RETRY_MAX_SECONDS")
    # Jobs attempted at once. Signatures signs in a process pool (a worker per core by default):
    # a few requests in flight per worker keep it busy while answers travel.
    issue_concurrency: int = Field(default=8, ge=1, le=64, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_CONCURRENCY")
    # A claimed job's lease, renewed every third of it while the job is attempted: how soon
    # another replica takes over the jobs of one that died.
    issue_lease_seconds: float = Field(default=10.0, ge=0.3, le=300.0,
                                       validation_alias="SIMPUL_SUBMISSIONS_ISSUE_LEASE_SECONDS")

    # Satisfaction and complaints (UU 25/2009; PermenPANRB 14/2017; LAPOR! deadlines).
    # No IKM is shown for fewer respondents than this, so a small group's answers stay private.
    # Never 1: the figures of one respondent are that person's scores. 5 by default: with fewer,
    # someone who knows (or gave) all answers but one reads the last from the means.
    ikm_min_respondents: int = Field(default=5, ge=2, validation_alias="SIMPUL_IKM_MIN_RESPONDENTS")
    # How long a computed performance report is served again (it is public and may count a lot).
    report_cache_seconds: float = Field(default=60.0, ge=0, validation_alias="SIMPUL_REPORT_CACHE_SECONDS")
    complaint_verification_working_days: int = Field(
        default=3, ge=1, validation_alias="SIMPUL_COMPLAINT_VERIFICATION_WORKING_DAYS"
    )
    complaint_follow_up_working_days: int = Field(
        default=14, ge=1, validation_alias="SIMPUL_COMPLAINT_FOLLOW_UP_WORKING_DAYS"
    )
    # After resolution the applicant may reply and so reopen for this long; then it is closed.
    complaint_reopen_working_days: int = Field(default=5, ge=0, validation_alias="SIMPUL_COMPLAINT_REOPEN_WORKING_DAYS")
    # How often resolved complaints whose reopening period has passed are recorded as closed.
    complaint_close_poll_seconds: float = Field(default=60.0, gt=0, validation_alias="SIMPUL_COMPLAINT_CLOSE_POLL_SECONDS")
    # How often open procedure steps past their due time are looked for (submission.step_overdue).
    step_overdue_poll_seconds: float = Field(default=60.0, gt=0, validation_alias="SIMPUL_STEP_OVERDUE_POLL_SECONDS")
    complaint_max_attachments: int = Field(default=10, ge=0, validation_alias="SIMPUL_COMPLAINT_MAX_ATTACHMENTS")
    complaint_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, validation_alias="SIMPUL_COMPLAINT_ATTACHMENT_MAX_BYTES"
    )

    # Personal data (UU 27/2022): how long after a submission is closed (issued, rejected, cancelled)
    # its applicant's data is kept, unless its service standard sets `personal_data_retention_days`.
    personal_data_retention_days: int = Field(
        default=1825, ge=0, le=36500, validation_alias="SIMPUL_SUBMISSIONS_PERSONAL_DATA_RETENTION_DAYS"
    )
    # How often the retention worker looks for closed submissions due for erasure.
    # Payments: a bill expires at the end (Asia/Jakarta) of the N-th calendar day after submission.
    bill_expiry_days: int = Field(default=7, ge=1, le=90, validation_alias="SIMPUL_BILL_EXPIRY_DAYS")
    payment_proof_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0,
                                         validation_alias="SIMPUL_PAYMENT_PROOF_MAX_BYTES")
    bill_expiry_poll_seconds: float = Field(default=60.0, gt=0, validation_alias="SIMPUL_BILL_EXPIRY_POLL_SECONDS")
    retention_poll_seconds: float = Field(default=3600.0, gt=0, validation_alias="SIMPUL_SUBMISSIONS_RETENTION_POLL_SECONDS")

    def storage_dir(self) -> Path:
        return self.data_dir / "submissions-files"
