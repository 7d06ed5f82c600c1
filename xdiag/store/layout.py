"""Where everything lives in the store: every key, raw, derived and state. No I/O.

Raw data uses exactly the layout stock xprof reads::

    <root>/<run>/plugins/profile/<session>/<host>.xplane.pb

Derived views sit next to the raw session, versioned (`Derived`)::

    <root>/<run>/plugins/profile/<session>/.xdiag/v<VERSION>/...

Service state (profile records and index, job registry, captures, claims, secrets,
cached HLO costs, the service host's peaks) lives under ``<root>/.xdiag/`` so listing
never walks the raw data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from xdiag.core.names import check_name, sanitize

XPLANE_SUFFIX = ".xplane.pb"
STATE = ".xdiag"
# Of the derived views: bump when their format changes. A profile whose views are of an
# older version is ingested again in the background (at start-up, or when it is opened).
VERSION = 6  # 6: memory, diagnosis and kernel views; GPU kernels in command buffers attributed
# Of the cached HLO costs (2: op columns; 3: in_fusion; 4: op_names; 5: triton_ops).
COSTS_FORMAT = 5


def session_prefix(run: str, session: str) -> str:
    return f"{check_name(run, 'run')}/plugins/profile/{check_name(session, 'session')}/"


def raw_key(run: str, session: str, host: str) -> str:
    return session_prefix(run, session) + check_name(host, "host") + XPLANE_SUFFIX


def host_from_raw_key(key: str) -> str:
    return key.rsplit("/", 1)[-1][: -len(XPLANE_SUFFIX)]


def derived_prefix(run: str, session: str, version: int = VERSION) -> str:
    return session_prefix(run, session) + f"{STATE}/v{version}/"


@dataclasses.dataclass(frozen=True)
class Derived:
    """The keys of one profile's derived views::

        hosts/<host>.tl            timeline index + names (one per host, written first)
        hosts/<host>.tl.json       its tracks and counts, written after it
        hosts/<host>.steps         step table (packed arrays)
        hosts/<host>.scopes.json   each op name's JAX name stack
        hosts/<host>.json          the host's summary (a separate finalize merges these)
        ops.json steps.json roofline.json
        diagnosis.json framework.json hosts_steps.json   findings; time by scope; hosts x steps
        hlo/<fingerprint>.pb       HLO module protos (deduplicated)
        hosts/<host>.memory.json   the host's programs' memory and its allocators
        memory/<hash>.json         one program's memory view (by its HloProto's hash)
        hosts/<host>.kernels.json  the host's GPU kernel statistics (hosts with a GPU)
        manifest.json              written LAST: marks completeness
    """

    prefix: str

    @classmethod
    def of(cls, record: dict[str, Any], version: int = VERSION) -> Derived:
        return cls(derived_prefix(record["run"], record["session"], version))

    def index(self, host: str) -> str:
        return f"{self.prefix}hosts/{host}.tl"

    def index_summary(self, host: str) -> str:
        return f"{self.prefix}hosts/{host}.tl.json"

    def steps(self, host: str) -> str:
        return f"{self.prefix}hosts/{host}.steps"

    def scopes(self, host: str) -> str:
        return f"{self.prefix}hosts/{host}.scopes.json"

    def host_summary(self, host: str) -> str:
        return f"{self.prefix}hosts/{host}.json"

    def view(self, name: str) -> str:
        """`ops`, `steps`, `roofline`, or the diagnosis' `diagnosis`, `framework`,
        `hosts_steps` (absent from profiles ingested before them)."""
        return f"{self.prefix}{name}.json"

    def hlo(self, fingerprint: str) -> str:
        return f"{self.prefix}hlo/{fingerprint}.pb"

    def memory(self, host: str) -> str:
        """The host's memory views: its programs and allocators (`pipeline/memory.py`)."""
        return f"{self.prefix}hosts/{host}.memory.json"

    def memory_program(self, key: str) -> str:
        """One program's memory view, by the hash of its HloProto (shared by hosts)."""
        return f"{self.prefix}memory/{key}.json"

    def kernels(self, host: str) -> str:
        """The host's GPU kernel statistics (`analysis/kernel_stats.py`); written for
        hosts with a GPU, before the manifest."""
        return f"{self.prefix}hosts/{host}.kernels.json"

    @property
    def manifest(self) -> str:
        return f"{self.prefix}manifest.json"


PROFILE_RECORDS = f"{STATE}/profiles/"
PROFILE_INDEX = f"{STATE}/index.json"
JOBS = f"{STATE}/jobs/"
JOB_OWNERS = f"{STATE}/job-owners/"  # not under JOBS: that prefix holds only registrations
CAPTURES = f"{STATE}/captures/"
SHARES = f"{STATE}/shares/"
TOKENS = f"{STATE}/tokens/"
SIGNINS = f"{STATE}/sessions/"  # browser sign-ins (named `sessions/` since the first release)
CLAIMS = f"{STATE}/claims/"  # who writes a profile session: pipeline/claims.py
HLO_COSTS = f"{STATE}/hlo-costs/"
SERVICE_HOST_PEAKS = f"{STATE}/service-host-peaks.json"


def profile_record_key(pid: str) -> str:
    return f"{PROFILE_RECORDS}{pid}.json"


def job_host_key(job: str, process_index: int, host: str, port: int) -> str:
    """One object per process. Keyed by address too: independent single-process jobs
    sharing a job name all report process index 0, and a restarted process must not
    overwrite the record of another."""
    address = sanitize(f"{host}_{int(port)}")
    return f"{JOBS}{check_name(job, 'job')}/{int(process_index)}@{address}.json"


def job_owner_key(job: str) -> str:
    return f"{JOB_OWNERS}{check_name(job, 'job')}.json"


def capture_key(capture_id: str) -> str:
    return f"{CAPTURES}{check_name(capture_id, 'capture')}.json"


def claim_key(run: str, session: str) -> str:
    return f"{CLAIMS}{check_name(run, 'run')}/{check_name(session, 'session')}.json"


def hlo_costs_key(fingerprint: str) -> str:
    # Versioned with the derived views and the costs' own format: a new cost model must
    # not read old costs.
    return f"{HLO_COSTS}v{VERSION}.{COSTS_FORMAT}/{fingerprint}.json"
