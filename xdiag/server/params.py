"""Query parameters: declared once per view, parsed once, documented from the declaration.

    @bp.get("/profiles/<pid>/timeline")
    @requires("viewer", profile_arg="pid")
    @query(Int("width", "pixels", default=1000, lo=1, hi=16384), ...)
    def timeline(pid, width, ...): ...

Every number goes through `xdiag.values.to_int`, so junk (`inf`, `1e400`, `nan`, `12abc`)
is a 400 naming the parameter on every route alike; openapi.py reads the declarations,
so the spec says what the parser accepts.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from xdiag.core.errors import BadRequest
from xdiag.core.names import MAX_PROFILE_ID, PROFILE_ID_PATTERN
from xdiag.core.values import INT_MAX, to_int

F = TypeVar("F", bound=Callable[..., Any])
MAX_TEXT = 1000  # a query text longer than this is junk (search terms, names, ids)
MAX_LIST = 4096
# A character Python's str.strip() keeps, in both regex dialects (ECMA's \s lacks these
# separators, which Python counts as space).
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
# Text(..., **PROFILE_ID): a parameter naming a profile
PROFILE_ID = {"pattern": PROFILE_ID_PATTERN, "max_length": MAX_PROFILE_ID,
              "what": "a profile id <run>~<session>"}


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    description: str
    default: Any = None
    required: bool = False
    openapi_type: str = "string"

    def parse(self, raw: str) -> Any:
        if len(raw) > MAX_TEXT:
            raise BadRequest(f"query parameter {self.name} is longer than {MAX_TEXT} characters")
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": self.openapi_type}


def ecma(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern for Python's `re`: there `$` is the end of the text,
    in Python it also matches before a final newline (`"a\n"`)."""
    return pattern.replace("$", r"\Z")


@dataclasses.dataclass(frozen=True)
class Text(Param):
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a regular expression the text must match (names, ids)
    what: str = ""  # what a text that does not match should be, in words
    max_length: int = MAX_TEXT

    def parse(self, raw: str) -> Any:
        raw = super().parse(raw)
        if len(raw) > self.max_length:
            raise BadRequest(f"{self.name} is longer than {self.max_length} characters")
        if self.choices and raw not in self.choices:
            raise BadRequest(f"{self.name} must be one of {', '.join(self.choices)}, "
                             f"got {raw[:40]!r}")
        if self.pattern and not re.search(ecma(self.pattern), raw):
            raise BadRequest(f"{self.name} must be {self.what or 'like ' + self.pattern}, "
                             f"got {raw[:40]!r}")
        return raw

    def schema(self) -> dict[str, Any]:
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        # A required text is never empty: absent and empty read the same (`query`).
        return {"type": "string", "maxLength": self.max_length,
                **({"minLength": 1} if self.required else {}),
                **({"pattern": self.pattern} if self.pattern else {})}


@dataclasses.dataclass(frozen=True)
class Int(Param):
    lo: int | None = None
    hi: int | None = None
    openapi_type: str = "integer"

    def parse(self, raw: str) -> Any:
        return to_int(raw, self.name, lo=self.lo, hi=self.hi)

    def schema(self) -> dict[str, Any]:
        # `to_int` also takes a finite decimal ("1.5e9") and truncates it toward zero.
        return {"type": "integer", "minimum": -INT_MAX if self.lo is None else self.lo,
                "maximum": INT_MAX if self.hi is None else self.hi}


@dataclasses.dataclass(frozen=True)
class IntList(Int):
    """Comma-separated integers, e.g. `tracks=0,3,7`."""

    openapi_type: str = "string"

    def parse(self, raw: str) -> Any:
        items = [t for t in raw.split(",") if t.strip()]
        if len(items) > MAX_LIST:
            raise BadRequest(f"{self.name}: at most {MAX_LIST} values")
        return [to_int(t, f"{self.name} item", lo=self.lo, hi=self.hi) for t in items]

    def schema(self) -> dict[str, Any]:
        # Up to 9 digits each: every list the pattern allows is within the parser's bounds.
        return {"type": "string", "pattern": r"^[0-9]{1,9}(,[0-9]{1,9})*$", "maxLength": MAX_TEXT}


@dataclasses.dataclass(frozen=True)
class Flag(Param):
    openapi_type: str = "boolean"

    def parse(self, raw: str) -> Any:
        return super().parse(raw).strip().lower() in ("1", "true", "yes", "on", "all")


def query(*params: Param) -> Callable[[F], F]:
    """Parse the declared query parameters and pass them to the view as keyword arguments
    (absent or empty: the default). Undeclared parameters are ignored."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            for p in params:
                raw = request.args.get(p.name)
                if raw is None or raw == "":
                    if p.required:
                        raise BadRequest(f"query parameter {p.name!r} is required")
                    kwargs[p.name] = p.default
                else:
                    kwargs[p.name] = p.parse(raw)
            return view(*args, **kwargs)

        parsed.query_params = params  # type: ignore[attr-defined]
        return parsed  # type: ignore[return-value]

    return wrap
