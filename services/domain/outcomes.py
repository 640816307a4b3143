"""What a decision answers when it refuses."""

from dataclasses import dataclass
from enum import StrEnum


class RefusalKind(StrEnum):
    NOT_FOUND = "not_found"
    """The order (or return) does not exist for this merchant."""
    NOT_ALLOWED = "not_allowed"
    """The transition is not allowed from the current status."""
    UNPROCESSABLE = "unprocessable"
    """The request is well-formed but breaks a rule (quantities, reasons, return window)."""


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    detail: str
    field: str | None = None
