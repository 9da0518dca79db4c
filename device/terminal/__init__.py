"""The retail terminal: a local HTTP+JSON API for the store's POS (payment, status, abort,
refund, events), its reference client (`smilepay pos`) and its benchmark.

See docs/terminal-api.md."""
