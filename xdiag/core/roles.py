"""Roles, in order: viewer < editor (capture, upload, share, agent registration) < admin
(tokens, delete profiles, revoke any share, change any job). The one definition every
check uses: API tokens carry one, IAP maps e-mails to one, every view requires one."""

from __future__ import annotations

ROLES = ("viewer", "editor", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES, 1)}


def check_role(role: str) -> str:
    """`role` if it is one, else ValueError listing them."""
    if role not in _RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def allows(have: str | None, need: str) -> bool:
    """Whether a caller of role `have` (None: not signed in) may do what `need` requires."""
    return have is not None and _RANK.get(have, 0) >= _RANK[check_role(need)]
