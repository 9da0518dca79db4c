"""Shared base for every configuration section: unknown keys are errors, values are immutable."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section; a misspelled key stops start-up with the key's path."""

    model_config = ConfigDict(extra="forbid", frozen=True)
