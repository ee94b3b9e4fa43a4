"""Simpul submissions service.

The submission core, one module per job:

- `api.py` routes, `schemas.py` wire models, `responses.py` what routes answer with;
- `service.py` the use cases (`SubmissionService`): create, upload, submit, review, issue;
- `access.py` who sees which rows (the shared `Visibility` rule), list filters and paging, ids,
  tracking codes, file names, the texts answered everywhere, and `UseCases`, what every use-case
  object works with;
- `store.py` the prebuilt statements of the write path and the rows written beside a change
  (history, outbox events, receipt numbers);
- `reads.py` who read whose personal data (officers and admins), and the subject's view of it;
- `views.py` the wire form rendered from rows; `batching.py` the group commit of drafts and
  submits;
- `models.py` the core tables, on the service's one MetaData; `statemachine.py`, `sla.py`,
  `calendar.py`, `uploads.py`, `storage.py`, `issuer.py` and the rest as their names say;
- the procedure as the workflow is core, as the review actions it extends are: `steps.py` (the
  step machine, pure), `officials.py` (the gateway's registry of officials, for dispositions),
  `step_overdue.py` (the late-step watch).

A sub-domain lives in a sub-package of one form: `api.py`, `schemas.py`, `models.py` (its
tables on the core's MetaData, so one database and one migration history) and its use cases.
It imports the core; the core never imports it, nor one sub-domain another. `feedback/`
(surveys and the IKM, complaints, the public reports) is the first, `privacy/` (retention and
erasure of personal data, the data subject's export; what feedback holds it reaches through
hooks app.py hands in) the second; the coming `payments/` takes the same form. `app.py` builds every use-case object
once and includes each sub-package's router.
"""
