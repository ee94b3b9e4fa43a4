"""Feedback on the service: satisfaction surveys and the IKM (`surveys.py`, `ikm.py`),
complaints (`complaints.py`), and the public reports built from them (`reports.py`,
`periods.py`); routes in `api.py`, wire models in `schemas.py`.

It builds on the submission core (a survey or complaint is about a submission) and imports it;
the core never imports feedback.
"""
