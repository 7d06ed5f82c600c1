"""Find the sessions in what a user points `xdiag upload` at.

Accepted: one `.xplane.pb`; a session folder holding `<host>.xplane.pb` files;
a log dir written by `jax.profiler.trace`, `jax.collect_profile` or the
xprofiler CLI (`<logdir>/plugins/profile/<session>/...`); or a folder of such
runs. Names found on disk are sanitised into valid run/session/host names.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from xdiag.core.errors import BadRequest
from xdiag.core.names import sanitize
from xdiag.store.layout import XPLANE_SUFFIX


@dataclasses.dataclass
class LocalSession:
    run: str | None
    session: str | None
    files: list[tuple[str, Path]]  # (host, path)


def _host(path: Path) -> str:
    return sanitize(path.name[: -len(XPLANE_SUFFIX)], "host")


def _session_of(folder: Path) -> LocalSession:
    files = sorted(p for p in folder.iterdir() if p.name.endswith(XPLANE_SUFFIX) and p.is_file())
    run = session = None
    if folder.parent.name == "profile" and folder.parent.parent.name == "plugins":
        run = sanitize(folder.parent.parent.parent.resolve().name, "run")
        session = sanitize(folder.name, "session")
    return LocalSession(run, session, [(_host(p), p) for p in files])


def find_sessions(path: str | Path) -> list[LocalSession]:
    path = Path(path)
    if not path.exists():
        raise BadRequest(f"{path} does not exist")
    if path.is_file():
        if not path.name.endswith(XPLANE_SUFFIX):
            raise BadRequest(f"{path} is not an .xplane.pb file")
        found = _session_of(path.parent)
        found.files = [(h, p) for h, p in found.files if p == path]
        return [found]
    if any(p.name.endswith(XPLANE_SUFFIX) for p in path.iterdir()):
        return [_session_of(path)]
    folders = sorted({p.parent for p in path.glob("plugins/profile/*/*" + XPLANE_SUFFIX)} |
                     {p.parent for p in path.glob("*/plugins/profile/*/*" + XPLANE_SUFFIX)})
    if not folders:
        raise BadRequest(f"no .xplane.pb files under {path} (expected a session folder or a log "
                         "dir with plugins/profile/<session>/<host>.xplane.pb)")
    return [_session_of(f) for f in folders]
