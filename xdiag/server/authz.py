"""Who may call what. Every view declares the role it needs with `@requires(role)`.

Roles are ordered viewer < editor < admin. With auth mode `none` every caller
is treated as admin (the server then refuses non-loopback binds unless
--insecure). The identity of the request is resolved by xdiag.auth.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

ROLES = ("viewer", "editor", "admin")


def requires(role: str, *, profile_arg: str | None = None) -> Callable[[F], F]:
    """Declare the minimum role for a view (checked before the view runs).

    `profile_arg` names the view argument holding a profile id: a share link
    grants viewer access to that one profile only.
    """
    assert role in ROLES

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            from xdiag.server.auth import authorize

            authorize(role, kwargs.get(profile_arg) if profile_arg else None)
            return view(*args, **kwargs)

        checked.required_role = role  # type: ignore[attr-defined]
        checked.profile_arg = profile_arg  # type: ignore[attr-defined]  # (openapi.py)
        return checked  # type: ignore[return-value]

    return wrap
