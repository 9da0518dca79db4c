"""Alembic migrations of the device database (shipped as package data, run at start-up)."""
