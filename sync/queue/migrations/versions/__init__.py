"""Alembic revision scripts of the device database."""
