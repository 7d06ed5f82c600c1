"""Where everything lives in the store. Pure key arithmetic, no I/O.

Raw data uses exactly the layout stock xprof reads::

    <root>/<run>/plugins/profile/<session>/<host>.xplane.pb

Derived views sit next to the raw session, versioned::

    <root>/<run>/plugins/profile/<session>/.xdiag/v<N>/...

Service state (profile index, job registry, shares, tokens, session claims) lives under
``<root>/.xdiag/`` so listing never walks the raw data.
"""

from __future__ import annotations

from xdiag.core.names import check_name, sanitize

XPLANE_SUFFIX = ".xplane.pb"
STATE = ".xdiag"


def session_prefix(run: str, session: str) -> str:
    return f"{check_name(run, 'run')}/plugins/profile/{check_name(session, 'session')}/"


def raw_key(run: str, session: str, host: str) -> str:
    return session_prefix(run, session) + check_name(host, "host") + XPLANE_SUFFIX


def derived_prefix(run: str, session: str, version: int) -> str:
    return session_prefix(run, session) + f"{STATE}/v{version}/"


def profile_record_key(pid: str) -> str:
    return f"{STATE}/profiles/{pid}.json"


PROFILE_RECORDS = f"{STATE}/profiles/"
PROFILE_INDEX = f"{STATE}/index.json"
JOBS = f"{STATE}/jobs/"
CAPTURES = f"{STATE}/captures/"
SHARES = f"{STATE}/shares/"
TOKENS = f"{STATE}/tokens/"
SESSIONS = f"{STATE}/sessions/"  # browser sign-ins (secrets_store), not profile sessions
CLAIMS = f"{STATE}/claims/"  # who writes a profile session: claims.py


def job_host_key(job: str, process_index: int, host: str, port: int) -> str:
    """One object per process. Keyed by address too: independent single-process jobs
    sharing a job name all report process index 0, and a restarted process must not
    overwrite the record of another."""
    address = sanitize(f"{host}_{int(port)}")
    return f"{JOBS}{check_name(job, 'job')}/{int(process_index)}@{address}.json"


def capture_key(capture_id: str) -> str:
    return f"{CAPTURES}{check_name(capture_id, 'capture')}.json"


def host_from_raw_key(key: str) -> str:
    return key.rsplit("/", 1)[-1][: -len(XPLANE_SUFFIX)]
