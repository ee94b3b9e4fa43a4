"""Payments: the fee of a submission billed, paid and reconciled (issue 15).

- `codes.py` billing codes (15 digits, the last a Luhn check digit), pure;
- `bills.py` the bill's state machine and what a payment does to it, pure;
- `models.py` bills, payments, providers and refunds, on the service's one MetaData;
- `service.py` the use cases (`PaymentService`): billing at submission (the core's change hooks),
  the public bill, providers and their signed notifications, the treasurer's payments and voids,
  the expiry worker;
- `api.py` the routes, `schemas.py` the wire models.

It imports the core; the core knows it only through `ChangeHooks` (service.py), which app.py
hands in.
"""
