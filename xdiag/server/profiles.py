"""/api/v1/profiles: the catalogue (list, get with a long poll, delete), uploads and the
raw host files."""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from xdiag.core import tempfiles
from xdiag.core.errors import BadRequest, InvalidProfile, NotFound
from xdiag.core.names import check_name, sanitize
from xdiag.pipeline import admit
from xdiag.server import uploads
from xdiag.server.auth import requires
from xdiag.server.context import base_url, services
from xdiag.server.gate import UPLOAD, accepts_body
from xdiag.server.params import Flag, Int, Text, query
from xdiag.serving.early import hosts_ready, timeline_ready
from xdiag.store import layout

bp = Blueprint("profiles", __name__, url_prefix="/api/v1")


@bp.record_once
def _preload_ingest(_state: Any) -> None:
    """Ingest's modules imported when the service starts (~50 ms of CPU), not during the
    first upload, whose viewer would wait for them."""
    from xdiag.pipeline.runner import preload

    preload()


def _with_url(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "url": f"{base_url()}/p/{record['id']}"}


@bp.get("/profiles")
@requires("viewer")
@query(Text("q", "substring of id or job", default=""),
       Text("run", "only this run", default=""),
       Text("job", "only this job", default=""),
       Text("status", "ingesting | ready | failed", default=""))
def profiles_list(q: str, run: str, job: str, status: str) -> Any:
    """Profiles, newest first."""
    entries = services().profiles.list(q=q, run=run, job=job, status=status)
    return jsonify([_with_url(e) for e in entries])


WAIT_MAX_S = 25  # below proxies' idle timeouts


@bp.get("/profiles/<pid>")
@requires("viewer", profile_arg="pid")
@query(Text("wait", "timeline | ready | host: while ingesting, answer when the timeline "
            "of every host opens / the ingest ends / one more host's timeline opens",
            default="", choices=("timeline", "ready", "host")),
       Int("timeout", f"seconds to wait at most (default 10, max {WAIT_MAX_S})", default=10,
           lo=0, hi=WAIT_MAX_S))
def profile_get(pid: str, wait: str, timeout: int) -> Any:
    """The profile; while it ingests, `timeline_ready` says whether its timeline can be
    opened already (the op and step tables follow).

    `wait=timeline` (or `wait=ready`) holds the answer for a profile still ingesting until
    its timeline can be opened (or its ingest has ended), at most `timeout` seconds
    (default 10): the viewer opens a fresh capture the moment it can, without polling.
    A session of several hosts also says `hosts_ready` (hosts whose timeline index is
    there) and `timeline_hosts` (the first hosts, in record order, that the timeline shows
    now); `wait=host` answers as soon as `hosts_ready` changes (a pod slice's hosts opening
    one after another)."""
    svc = services()
    changes = svc.live.changes
    until = wait
    timeout = timeout if until else 0
    deadline = time.monotonic() + timeout
    first_count = None
    while True:
        seen = changes.count
        record = svc.profiles.get(pid)
        waiting = False
        if record["status"] == "ingesting":
            if len(record["hosts"]) > 1:
                per_host = hosts_ready(svc.store, svc.live.early, record)
                ready = all(per_host)
                count = sum(per_host)
                shown = per_host.index(False) if not ready else len(per_host)
                record = {**record, "timeline_ready": ready, "hosts_ready": count,
                          "timeline_hosts": shown}
                first_count = count if first_count is None else first_count
            else:
                ready = timeline_ready(svc.store, svc.live.early, record)
                record = {**record, "timeline_ready": ready}
            waiting = until == "ready" or (until in ("timeline", "host") and not ready)
            if until == "host" and first_count is not None and count != first_count:
                waiting = False
        left = deadline - time.monotonic()
        if not waiting or left <= 0:
            return jsonify(_with_url(record))
        # An ingest in another process or replica sends no notice: look again.
        changes.wait(seen, min(left, svc.store.recheck_s))


@bp.delete("/profiles/<pid>")
@requires("admin")
def profile_delete(pid: str) -> Any:
    """Delete a profile: its raw files, derived views and catalogue entry."""
    services().profiles.delete(pid)
    return Response(status=204)


@bp.get("/profiles/<pid>/raw/<host>")
@requires("viewer", profile_arg="pid")
def profile_raw(pid: str, host: str) -> Any:
    svc = services()
    record = svc.profiles.get(pid)
    if host not in [h["host"] for h in record["hosts"]]:
        raise NotFound(f"profile {pid!r} has no host {host!r}")
    key = layout.raw_key(record["run"], record["session"], host)
    local = svc.store.local_path(key)
    if local is not None:
        return send_file(local, as_attachment=True, download_name=host + layout.XPLANE_SUFFIX)
    return Response(svc.store.read(key), mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{host}{layout.XPLANE_SUFFIX}"'})


@bp.post("/profiles")
@accepts_body(UPLOAD)
@requires("editor")
@query(Flag("wait", "return after ingest finished", default=False))
def profile_upload(wait: bool) -> Any:
    """Multipart upload of one session: files named `<host>.xplane.pb`.

    Each file part goes to its own file as it arrives (`uploads.py`); a session's earlier
    hosts are validated while later ones still arrive. Without `wait` the answer comes
    once the session is stored (status `ingesting`): `GET /profiles/<id>?wait=timeline`
    then answers when its timeline can be viewed. The record's `upload` says where the
    request's time went: the body's arrival (`receive_s`, ending at `received_at`), then
    validation and storing until `created_at` (`admit_s` in this answer)."""
    svc = services()
    # Busy until its ingest is queued: the host probe keeps out of the way meanwhile.
    with svc.ingest.admitting():
        record, received, admit_s = _receive_and_admit(svc)
        if not (wait or svc.settings.ingest_inline):
            svc.ingest.submit(record["id"])
    if wait or svc.settings.ingest_inline:
        record = svc.ingest.run(record["id"])
    record = {**record, "upload": {**received, "admit_s": round(admit_s, 4)}}
    return jsonify(_with_url(record)), 201


def _receive_and_admit(svc: Any) -> tuple[dict[str, Any], dict[str, Any], float]:
    """The body into files, then admission: (record, what the record keeps of the upload,
    seconds validating and storing)."""
    tmp = tempfiles.mkdtemp("xdiag-upload-")  # named after this process: swept if it dies
    early = _EarlyChecks()
    try:
        t0 = time.perf_counter()
        try:
            got = uploads.receive(request.stream, request.content_type, tmp,
                                  on_file=early.arrived)
        except BadRequest as exc:
            if request.mimetype != "multipart/form-data":
                raise BadRequest("no files: send multipart/form-data with one or more 'file' "
                                 "parts") from None
            raise exc
        t_received = time.perf_counter()
        if not got.files:
            raise BadRequest("no files: send multipart/form-data with one or more 'file' parts")
        run = check_name(got.form.get("run") or "uploads", "run")
        session = got.form.get("session") or admit.new_session_name()
        check_name(session, "session")
        files = []
        for part in got.files:
            name = Path(part.filename or f"host{part.index}").name
            if not name.endswith(layout.XPLANE_SUFFIX):
                raise InvalidProfile(f"{name!r} is not a .xplane.pb file")
            host = got.form.get(f"host{part.index}") or \
                sanitize(name[: -len(layout.XPLANE_SUFFIX)])
            files.append(admit.HostFile(check_name(host, "host"), part.path, owned=True))
        # Where the upload's time went, kept with the record: the body's arrival, then
        # validation and storing until the record's `created_at`.
        received = {"bytes": sum(p.bytes for p in got.files), "received_at": time.time(),
                    "receive_s": round(t_received - t0, 4)}
        record = svc.admission.store_session(run=run, session=session, files=files,
                                             source="upload", job=got.form.get("job") or None,
                                             summaries=early.results(files),
                                             extra={"upload": received})
        return record, received, time.perf_counter() - t_received
    finally:
        early.close()
        shutil.rmtree(tmp, ignore_errors=True)


class _EarlyChecks:
    """Validates a session's host files one at a time while later ones still arrive: a
    file is checked once the next one starts arriving (the last one, or a lone file whose
    parse its ingest takes over, is left to admission). One parse in memory at a time."""

    def __init__(self) -> None:
        self._pool: cf.ThreadPoolExecutor | None = None
        self._checks: dict[int, cf.Future] = {}
        self._done: list[uploads.Part] = []

    def arrived(self, part: uploads.Part) -> None:
        for earlier in self._done:
            if earlier.index not in self._checks:
                if self._pool is None:
                    self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix="xdiag-upload-check")
                self._checks[earlier.index] = self._pool.submit(
                    admit.inspect_xplane, earlier.path, Path(earlier.filename).name)
        self._done.append(part)

    def results(self, files: list[admit.HostFile]) -> dict[str, admit.XplaneSummary]:
        """The summaries of the files checked so far, by host (InvalidProfile if one is
        not valid)."""
        return {files[i].host: check.result() for i, check in sorted(self._checks.items())}

    def close(self) -> None:
        if self._pool is not None:
            for check in self._checks.values():
                check.cancel()
            self._pool.shutdown(wait=True)
