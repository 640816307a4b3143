"""What a text or a free-form JSON value must be to be accepted, published and stored.

The ingress accepts only what every later hop can carry: Kafka (JSON), MongoDB and FerretDB
v1 (BSON over PostgreSQL ``jsonb``). So text holds no NUL and no lone surrogate, numbers are
64-bit integers or finite doubles, object keys neither begin with ``$`` nor contain ``.``,
an array holds no array directly (FerretDB v1 stores no nested arrays), and nesting stays
shallow. Anything else is refused before anything is reserved or published."""

import math
from typing import Annotated, Any

from pydantic import AfterValidator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32
"""Objects and arrays inside one another, counting the outermost: documents embed ``meta``
a few levels deep, well within the stores' limit of 100."""


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def json_value_problem(value: Any) -> str | None:
    """Why a decoded JSON value cannot be stored, naming where, or None. Iterative, so no
    input can exhaust the stack."""
    pending: list[tuple[Any, str, int, bool]] = [(value, "", 1, False)]
    while pending:
        item, path, depth, in_array = pending.pop()
        where = path or "(value)"
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                return f"{where}: nested deeper than {MAX_JSON_DEPTH} levels"
            for key, child in item.items():
                shown = _shown(key)
                if problem := text_problem(key):
                    return f"{path}[{shown}]: keys {problem}"
                if key.startswith("$") or "." in key:
                    return f"{path}[{shown}]: keys must neither begin with '$' nor contain '.'"
                pending.append((child, f"{path}[{shown}]", depth + 1, False))
        elif isinstance(item, list):
            if in_array:
                return f"{where}: an array must not directly hold an array (wrap it in an object)"
            if depth > MAX_JSON_DEPTH:
                return f"{where}: nested deeper than {MAX_JSON_DEPTH} levels"
            pending.extend((child, f"{path}[{i}]", depth + 1, True) for i, child in enumerate(item))
        elif isinstance(item, str):
            if problem := text_problem(item):
                return f"{where}: {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return f"{where}: integers must fit in 64 bits"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where}: numbers must be finite (no NaN, Infinity or overflow)"
        else:
            return f"{where}: {type(item).__name__} is not a JSON value"
    return None


def _shown(key: str) -> str:
    """A key as an error message may quote it: ASCII, whatever it holds."""
    return ascii(key)


def _checked_text(text: str) -> str:
    if problem := text_problem(text):
        raise ValueError(problem)
    return text


def _checked_json(value: dict[str, Any]) -> dict[str, Any]:
    if problem := json_value_problem(value):
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_checked_text)]
"""A string every store can hold."""

JsonObject = Annotated[dict[str, Any], AfterValidator(_checked_json)]
"""A free-form JSON object (such as ``meta``) every store can hold, handed back verbatim."""
