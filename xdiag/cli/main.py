"""`xdiag` command line: the service (`serve`, `ingest`) and API clients.

Client commands talk to `--server` (default `$XDIAG_SERVER`, else
http://127.0.0.1:8791). Every command takes `--json` for machine-readable output.
Exit codes: 0 success, 1 failure (message on stderr), 2 usage error.
"""

from __future__ import annotations

import os

# Before numpy is first imported (by anything): the service does no multithreaded BLAS, and
# OpenBLAS's idle worker threads spin, taking CPU from parsing and ingest on a small host
# (0.3-0.5 s of CPU per 5M-event parse measured on 2 cores). Ingest worker processes
# inherit it. Set OPENBLAS_NUM_THREADS to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import functools
import ipaddress
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from xdiag.cli.client import Client, default_server
from xdiag.core.errors import Conflict, XdiagError
from xdiag.core.roles import ROLES


def _emit(obj: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    click.echo(json.dumps(obj, indent=1, sort_keys=True) if as_json else human(obj))


def _fail(msg: str, code: int = 1) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def client_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --server/--json and turns XdiagErrors into a message and exit code 1."""

    @click.option("--server", default=None, help="service URL (default $XDIAG_SERVER or "
                  "http://127.0.0.1:8791)")
    @click.option("--json", "as_json", is_flag=True, help="print JSON")
    @functools.wraps(fn)
    def wrapper(server: str | None, as_json: bool, **kw: Any) -> Any:
        try:
            return fn(Client(server or default_server()), as_json, **kw)
        except XdiagError as exc:
            _fail(exc.detail)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xdiag")
def main() -> None:
    """xdiag: capture, store and view JAX/XLA profiles."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@click.option("--store", default=None, help="store URL: a path, file://..., gs://bucket/prefix")
@click.option("--host", default=None, help="bind address (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default 8791)")
@click.option("--auth", type=click.Choice(["none", "token", "iap"]), default=None)
@click.option("--insecure", is_flag=True, help="allow --auth none on a non-loopback address")
@click.option("--json", "as_json", is_flag=True, help="print the startup line as JSON")
def serve(store: str | None, host: str | None, port: int | None, auth: str | None,
          insecure: bool, as_json: bool) -> None:
    """Run the service (API + web UI)."""
    import os

    from xdiag.cli.httpserver import make_server
    from xdiag.core.config import Settings
    from xdiag.server import create_app

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the capture client's C++ chatter
    settings = Settings.from_env(store=store, host=host, port=port, auth=auth,
                                 insecure=insecure or None)
    if settings.auth == "none" and not _is_loopback(settings.host) and not settings.insecure:
        _fail(f"refusing to serve without authentication on {settings.host}: use --auth token "
              "or --auth iap, or pass --insecure if the network is private", 2)
    try:
        app = create_app(settings)
        srv = make_server(settings.host, settings.port, app)
    except (OSError, XdiagError) as exc:
        _fail(f"cannot start the service: {exc}")
    url = f"http://{settings.host}:{srv.bind_addr[1]}"
    settings.public_url = settings.public_url or url
    info = {"url": url, "store": app.extensions["xdiag"].store.url, "auth": settings.auth}
    _emit(info, as_json, lambda i: f"xdiag serving {i['url']}  (store: {i['store']}, "
                                   f"auth: {i['auth']})")
    sys.stdout.flush()
    import signal

    # SIGTERM (Kubernetes, tests) shuts down like Ctrl-C, so atexit hooks (ingest pool) run.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        srv.serve()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        app.extensions["xdiag"].ingest.shutdown()


@main.command()
@client_command
def jobs(client: Client, as_json: bool) -> None:
    """List registered jobs and their hosts."""
    data = client.get("/api/v1/jobs")

    def human(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no jobs registered — start your job with xdiag.agent.start(job=..., server=...)"
        lines = []
        for j in rows:
            lines.append(f"{j['job']}: {j['live']} live, {j['stale']} stale")
            for h in j["hosts"]:
                lines.append(f"  [{h['process_index']}] {h['host']}:{h['port']} {h['state']} "
                             f"{h.get('device_kind', '')} x{h.get('local_device_count', '?')}")
        return "\n".join(lines)

    _emit(data, as_json, human)


def _profile_line(p: dict[str, Any]) -> str:
    err = f"  ({p['error']})" if p.get("error") else ""
    events = f"{p['events']:,} events" if p.get("events") else ""
    return f"{p['id']:<48} {p['status']:<9} {len(p.get('hosts') or [])} host(s) {events}{err}"


@main.command()
@click.option("--job", default="", help="only this job")
@click.option("--run", default="", help="only this run")
@client_command
def profiles(client: Client, as_json: bool, job: str, run: str) -> None:
    """List stored profiles (newest first)."""
    data = client.get("/api/v1/profiles", params={"job": job, "run": run})
    _emit(data, as_json, lambda rows: "\n".join(_profile_line(p) for p in rows) or
          "no profiles yet — `xdiag capture JOB` or `xdiag upload PATH`")


_WAIT_HELP = ("--wait: return once the whole ingest is done (op profile, steps, roofline: "
              "the default with --json, whose object is then the same as before); "
              "--no-wait: as soon as every host's timeline can be viewed (the default "
              "otherwise; the page shows the rest as it is ready)")
_PROGRESS_HELP = "draw a progress line on stderr (default: when stderr is a terminal)"


def _waits(wait: bool | None, as_json: bool) -> bool:
    return as_json if wait is None else wait


def _progress(progress: bool | None, as_json: bool) -> Any:
    from xdiag.cli.progress import Progress

    return Progress(sys.stderr.isatty() and not as_json if progress is None else progress)


def _ingest_status(rec: dict[str, Any]) -> str:
    done = rec.get("ingest_progress") or {}
    hosts = f" ({done['hosts_done']}/{done['hosts']} hosts)" if done.get("hosts") else ""
    if rec.get("timeline_ready"):
        return f"timeline ready; ingesting op profile, steps, roofline{hosts}"
    return f"ingesting: building the timeline{hosts}"


def _follow(client: Client, pid: str, wait: bool, bar: Any) -> dict[str, Any]:
    """The profile once it can be viewed (every host's timeline), or with `wait` once its
    ingest has ended, its state drawn on the progress line meanwhile."""
    poll = 1 if bar.enabled else 25
    rec = client.wait_profile(pid, "timeline", poll_s=poll,
                              seen=lambda r: bar.status(_ingest_status(r)))
    if wait and rec["status"] == "ingesting":
        rec = client.wait_profile(pid, "ready", poll_s=poll,
                                  seen=lambda r: bar.status(_ingest_status(r)))
    return rec


def _state_words(rec: dict[str, Any]) -> str:
    if rec["status"] == "ingesting":
        return "timeline ready; op profile, steps and roofline still ingesting"
    return rec["status"]


@main.command()
@click.argument("job")
@click.option("--duration-ms", default=2000, show_default=True, type=click.IntRange(1, 300_000))
@click.option("--host-tracer-level", default=2, show_default=True, type=click.IntRange(0, 3))
@click.option("--device-tracer-level", default=1, show_default=True, type=click.IntRange(0, 3))
@click.option("--python-tracer-level", default=0, show_default=True, type=click.IntRange(0, 3))
@click.option("--wait/--no-wait", default=None, help=_WAIT_HELP)
@click.option("--progress/--no-progress", default=None, help=_PROGRESS_HELP)
@client_command
def capture(client: Client, as_json: bool, job: str, duration_ms: int, host_tracer_level: int,
            device_tracer_level: int, python_tracer_level: int, wait: bool | None,
            progress: bool | None) -> None:
    """Capture a trace from every live host of JOB; prints the profile URL as soon as
    its timeline can be viewed (--wait: once the whole ingest is done).

    Exits non-zero if any host failed (the others are still saved).
    """
    wait = _waits(wait, as_json)
    bar = _progress(progress, as_json)
    cap = client.post("/api/v1/captures", json={
        "job": job, "duration_ms": duration_ms, "host_tracer_level": host_tracer_level,
        "device_tracer_level": device_tracer_level, "python_tracer_level": python_tracer_level})
    shown: dict[str, str] = {}
    # The hosts' windows open ~0.3 s after the request (capture.ALIGN_DELAY_S). The
    # capture is followed by its long poll: an answer when its state moves on, and
    # (`wait=timeline`) the moment its profile's timeline can be opened.
    window_end = time.monotonic() + 0.3 + duration_ms / 1000
    rec: dict[str, Any] | None = None
    while True:
        for h in cap["hosts"]:
            state = h["state"] + (f": {h['error']}" if h.get("error") else "")
            if shown.get(h["host"]) != state:
                shown[h["host"]] = state
                bar.clear()
                click.echo(f"  {h['host']:<32} {state}", err=True)
        if cap["state"] in ("done", "failed"):
            break
        if cap["state"] == "ingesting" and cap.get("profile_id") and not wait and \
                cap.get("timeline_ready") is not False:
            # The capture's answer says when the timeline opened (a service without
            # `timeline_ready`: the profile's own long poll says it).
            rec = ({"status": cap.get("profile_status") or "ingesting", "timeline_ready": True}
                   if cap.get("timeline_ready") else
                   _follow(client, cap["profile_id"], False, bar))
            if rec["status"] != "ingesting":
                cap = client.get(f"/api/v1/captures/{cap['id']}")
            break
        left = window_end - time.monotonic()
        bar.status(f"{cap['state']} ({max(0.0, left):.1f} s of the window left)"
                   if left > 0 else cap["state"])
        cap = client.get(f"/api/v1/captures/{cap['id']}", params={
            "wait": "done" if wait else "timeline", "state": cap["state"],
            "timeout": 1 if bar.enabled else 25})
    bar.clear()
    if rec is None and cap.get("profile_status") == "failed":  # its ingest failed: say why
        rec = client.get(f"/api/v1/profiles/{cap['profile_id']}")
    failed = [h for h in cap["hosts"] if h["state"] != "saved"]
    out = {**cap, "capture_id": cap["id"], "id": cap.get("profile_id"), "url": cap.get("url"),
           "failed_hosts": len(failed)}
    if rec is not None and rec["status"] == "failed" and cap["state"] != "failed":
        cap = {**cap, "state": "failed", "error": f"ingest failed: {rec.get('error')}"}
        out["state"], out["error"] = cap["state"], cap["error"]
    if as_json:
        click.echo(json.dumps(out, indent=1, sort_keys=True))
    elif cap.get("url"):
        click.echo(cap["url"] + (f"  ({_state_words(rec)})" if rec is not None and
                                 rec["status"] == "ingesting" else ""))
    if cap["state"] == "failed":
        _fail(cap.get("error") or "capture failed")
    if failed:
        _fail(f"{len(failed)} of {len(cap['hosts'])} host(s) failed: " +
              "; ".join(f"{h['host']}: {h['error']}" for h in failed))
    elif not as_json:
        overlap = cap.get("windows_overlap")
        took = f" in {cap['wall_s']} s" if cap.get("wall_s") is not None else ""
        click.echo(f"captured {len(cap['hosts'])} host(s){took}"
                   + ("" if overlap is None else f"; windows overlap: {overlap}"), err=True)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--run", default=None, help="run name (default: from the log dir, else 'uploads')")
@click.option("--session", default=None, help="session name (default: from the folder or now)")
@click.option("--wait/--no-wait", default=None, help=_WAIT_HELP)
@click.option("--progress/--no-progress", default=None, help=_PROGRESS_HELP)
@client_command
def upload(client: Client, as_json: bool, path: str, run: str | None,
           session: str | None, wait: bool | None, progress: bool | None) -> None:
    """Upload an .xplane.pb, a session folder or a profiler log dir; prints each profile's
    URL as soon as its timeline can be viewed (--wait: once the whole ingest is done)."""
    from xdiag.cli.logdirs import find_sessions

    wait = _waits(wait, as_json)
    bar = _progress(progress, as_json)
    found = find_sessions(path)
    results = []
    for s in found:
        total = sum(Path(p).stat().st_size for _, p in s.files)
        label = f"uploading {len(s.files)} host file{'s' if len(s.files) > 1 else ''}"
        bar.t0 = time.monotonic()

        def sent(n: int, label: str = label, total: int = total) -> None:
            bar.bar(label, n, total, force=n >= total)
            if n >= total:
                bar.status("validating on the service")

        rec = client.upload_session(s.files, run=run or s.run, wait=False, sent=sent,
                                    session=session if len(found) == 1 and session else s.session)
        if rec["status"] == "ingesting":
            rec = {**_follow(client, rec["id"], wait, bar), "url": rec["url"]}
        bar.clear()
        results.append(rec)
        if not as_json:
            click.echo(f"{rec['url']}  ({_state_words(rec)}, {len(rec['hosts'])} host(s))")
    if as_json:
        out = dict(results[-1])
        if len(results) > 1:
            out["profiles"] = results
        click.echo(json.dumps(out, indent=1, sort_keys=True))
    if any(r["status"] == "failed" for r in results):
        _fail("ingest failed: " + "; ".join(r["error"] for r in results if r.get("error")))


def _local_services(store: str | None) -> Any:
    from xdiag.core.config import Settings
    from xdiag.server.services import Services

    return Services(Settings.from_env(store=store))


@main.command()
@click.argument("session")
@click.option("--store", default=None, help="store URL (default $XDIAG_STORE)")
@click.option("--host", "hosts", multiple=True, help="only this host file (repeatable); "
              "run --finalize once all hosts are done")
@click.option("--finalize", is_flag=True, help="only merge hosts ingested earlier")
@click.option("--json", "as_json", is_flag=True)
def ingest(session: str, store: str | None, hosts: tuple[str, ...], finalize: bool,
           as_json: bool) -> None:
    """Ingest SESSION (a profile id `run~session`, or `run/plugins/profile/session`) in this
    process, against the store directly — the standalone form of what the service does after
    a capture. Sessions written straight into the store are catalogued first. A profile left
    `ingesting` by a process that died, or `failed`, is ingested again; one that a live
    process is ingesting is refused."""
    import time

    from xdiag.core.names import profile_id, split_profile_id
    from xdiag.store import layout

    try:
        svc = _local_services(store)
        parts = session.strip("/").split("/")
        if len(parts) == 4 and parts[1:3] == ["plugins", "profile"]:
            pid = profile_id(parts[0], parts[3])
        else:
            pid = session
        run, sess = split_profile_id(pid)
        if svc.profiles.exists(pid):
            record = svc.profiles.get(pid)
        else:
            try:
                record = svc.admission.adopt_session(run, sess)
            except Conflict:  # another ingest pod is cataloguing it: wait for its record
                deadline = time.monotonic() + 120
                while not svc.profiles.exists(pid) and time.monotonic() < deadline:
                    time.sleep(1)
                record = svc.profiles.get(pid)
        if hosts or finalize:  # one part of an ingest split over Jobs
            svc.claims.join(run, sess)
        if finalize:
            info = svc.ingest.finalize(record)
        elif hosts:
            info = svc.ingest.ingest(record, inline=True, hosts=list(hosts))
            svc.claims.join(run, sess)  # alive until the finalize
        else:
            record = svc.ingest.run(pid, inline=True)
            if record["status"] == "failed":
                _fail(record["error"])
            if record["status"] != "ready":
                _fail(f"{pid}: ingest ran but its outcome could not be recorded (the store "
                      "is unreachable); it is resumed once the store is back")
            info = record["ingest"]
        if finalize:
            svc.profiles.update(pid, status="ready", error=None, ingest=info,
                                duration_ns=info.get("end_ns"), retry_at=None)
            svc.store.delete(layout.claim_key(run, sess))
    except XdiagError as exc:
        _fail(exc.detail)
    _emit({"id": pid, **info}, as_json,
          lambda i: f"{i['id']}: ingested {sum(h['events'] for h in i['hosts']):,} events"
                    + (f" in {i['seconds']:.2f} s" if "seconds" in i else ""))


@main.command()
@click.argument("profile")
@click.option("--view", default=None, help='view state as JSON, e.g. \'{"tab": "trace"}\'')
@click.option("--expires", default="7d", show_default=True, help="e.g. 30m, 12h, 7d, 2w")
@client_command
def share(client: Client, as_json: bool, profile: str, view: str | None, expires: str) -> None:
    """Create a link to PROFILE that expires; prints the link (stdout) and what it grants
    (stderr; `grants` in --json). Read-only and this profile only with --auth token or
    iap; on a service without access control (auth none) it restricts nothing."""
    try:
        view_obj = json.loads(view) if view else {}
    except ValueError:
        _fail("--view must be a JSON object", 2)
    out = client.post("/api/v1/shares", json={"profile_id": profile, "view": view_obj,
                                              "expires_in": expires})
    grants = out.get("grants") or {}
    _emit(out, as_json, lambda o: o["url"])
    if not as_json and grants.get("summary"):
        prefix = "" if grants.get("access_control", True) else "warning: "
        click.echo(f"{prefix}{grants['summary']}", err=True)


@main.group()
def token() -> None:
    """API tokens (run next to the store: this is how the first admin token is made)."""


@token.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="who or what uses it (shown in listings)")
@click.option("--store", default=None, help="store URL (default $XDIAG_STORE)")
@click.option("--json", "as_json", is_flag=True)
def token_create(role: str, name: str, store: str | None, as_json: bool) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    try:
        secret, record = _local_services(store).tokens.create(role, name or role, "cli")
    except XdiagError as exc:
        _fail(exc.detail)
    _emit({**record, "token": secret}, as_json,
          lambda r: f"{r['token']}\n(id {r['id']}, role {r['role']}; shown once — store it "
                    "safely, e.g. as XDIAG_TOKEN)")


@token.command("list")
@click.option("--store", default=None)
@click.option("--json", "as_json", is_flag=True)
def token_list(store: str | None, as_json: bool) -> None:
    """List tokens (never the secrets)."""
    rows = _local_services(store).tokens.list()
    _emit(rows, as_json, lambda rs: "\n".join(f"{r['id']}  {r['role']:<7} {r['name']}"
                                              for r in rs) or "no tokens")


@token.command("revoke")
@click.argument("token_id")
@click.option("--store", default=None)
def token_revoke(token_id: str, store: str | None) -> None:
    """Revoke a token by id."""
    try:
        _local_services(store).tokens.revoke(token_id)
    except XdiagError as exc:
        _fail(exc.detail)
    click.echo(f"revoked {token_id}")


@main.command()
@click.argument("profile")
@click.option("--format", "fmt", type=click.Choice(["perfetto"]), default="perfetto",
              show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@client_command
def export(client: Client, as_json: bool, profile: str, fmt: str, output: str) -> None:
    """Export PROFILE's timeline (every event) as a Perfetto trace."""
    size = client.download(f"/api/v1/profiles/{profile}/export", output,
                           params={"format": fmt})
    _emit({"id": profile, "output": output, "bytes": size}, as_json,
          lambda i: f"wrote {i['output']} ({i['bytes']:,} bytes)")


@main.command()
@click.argument("profile")
@click.option("--program", "--module", "program", default=None,
              help="program: name(program_id), name or fingerprint (default: the one that "
                   "ran the most time)")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 5000),
              help="buffers at the peak to list")
@client_command
def memory(client: Client, as_json: bool, profile: str, program: str | None,
           limit: int) -> None:
    """Where the bytes at PROFILE's peak go: a program's buffers, groups, allocators."""
    from xdiag.cli.memory import run

    run(client, as_json, profile, program, limit, _emit)


@main.command()
@click.argument("profile")
@client_command
def diagnose(client: Client, as_json: bool, profile: str) -> None:
    """What is wrong with PROFILE: findings ranked by the time they cost per step."""
    from xdiag.cli.diagnose import run

    run(client, as_json, profile, _emit)


if __name__ == "__main__":
    main()
