"""Request identity and role checks (auth mode `none`: everyone is admin)."""

from __future__ import annotations


def authorize(role: str, profile_id: str | None = None) -> None:
    return None
