"""The shared base every layer stands on: errors, the settings loader, structured logs, progress,
the signed wire format and keys, the customer-token format, backoff and service plumbing.

It imports nothing else of smilepay, so the ledger, the drivers, the face models and the kiosk
can all use it without importing each other."""
