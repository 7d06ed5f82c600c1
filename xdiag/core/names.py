"""Validation of user-supplied names that become parts of store keys.

Run, session, host and job names end up in object keys and URLs, so they are
restricted to a conservative alphabet: no slashes, no `..`, no control
characters, no `~` (it separates run and session in profile ids).
"""

from __future__ import annotations

import functools
import re

from xdiag.core.errors import InvalidName

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,199}")
_ID_SEP = "~"
# The same rules as regular expressions for the OpenAPI spec (no look-arounds: "no `..`"
# is "a dot is never followed by a dot"); lengths are maxLength there.
_NAME_RE = r"[A-Za-z0-9](\.?[A-Za-z0-9_@+=-])*\.?"
NAME_PATTERN = f"^{_NAME_RE}$"
PROFILE_ID_PATTERN = f"^{_NAME_RE}{_ID_SEP}{_NAME_RE}$"
# A profile id names files (`<id>.json`, cache files with suffixes): it must leave room in
# the 255-byte file-name limit of every filesystem we write to.
MAX_PROFILE_ID = 200
# A job name is a run name too, and `<job>~<session>` a profile id.
MAX_JOB = 120


def check_name(value: str, what: str) -> str:
    """Return `value` if it is a safe name, else raise InvalidName saying why."""
    if isinstance(value, str) and len(value) <= 200 and _valid(value):
        return value
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{what} name is empty")
    if ".." in value:
        raise InvalidName(f"{what} name {value!r} contains '..'")
    if "/" in value or "\\" in value:
        raise InvalidName(f"{what} name {value!r} contains a slash")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidName(f"{what} name {value!r} contains control characters")
    if not _NAME.fullmatch(value):
        raise InvalidName(
            f"{what} name {value!r} is not allowed: use 1-200 letters, digits and . _ @ + = -,"
            " starting with a letter or digit"
        )
    return value


@functools.lru_cache(maxsize=65536)
def _valid(value: str) -> bool:
    """Whether `value` is a valid name (memoised: every request re-derives a few keys)."""
    return ".." not in value and _NAME.fullmatch(value) is not None


def sanitize(value: str, fallback: str = "x") -> str:
    """Turn an arbitrary string (a hostname, a directory name) into a valid name."""
    cleaned = re.sub(r"[^A-Za-z0-9._@+=-]+", "_", value).replace("..", "_").strip("._-")
    cleaned = cleaned[:200]
    return cleaned if cleaned and cleaned[0].isalnum() else (fallback + "_" + cleaned)[:200]


def _check_id_length(pid: str) -> str:
    if len(pid) > MAX_PROFILE_ID:
        raise InvalidName(f"profile id {pid[:40]!r}… is {len(pid)} characters long: run and "
                          f"session names together may have at most {MAX_PROFILE_ID - 1}")
    return pid


def check_job(value: str) -> str:
    """A job name: a name short enough that `<job>~<session>` is a profile id."""
    check_name(value, "job")
    if len(value) > MAX_JOB:
        raise InvalidName(f"job name {value[:40]!r}… is longer than {MAX_JOB} characters")
    return value


def profile_id(run: str, session: str) -> str:
    """The URL-safe id of a profile: `<run>~<session>`."""
    return _check_id_length(f"{check_name(run, 'run')}{_ID_SEP}{check_name(session, 'session')}")


def split_profile_id(pid: str) -> tuple[str, str]:
    if not isinstance(pid, str):
        raise InvalidName("profile id must be a string")
    _check_id_length(pid)
    run, sep, session = pid.partition(_ID_SEP)
    if not sep:
        raise InvalidName(f"profile id {pid!r} is not of the form <run>~<session>")
    return check_name(run, "run"), check_name(session, "session")
