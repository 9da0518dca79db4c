"""The device's durable queue, the sync agent and the central ledger service."""
