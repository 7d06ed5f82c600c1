"""Render the ingest Jobs (deploy/k8s/ingest/) for one session; print YAML for kubectl.

    python deploy/ingest_jobs.py RUN~SESSION --store gs://BUCKET/xdiag | kubectl apply -f -
    kubectl -n xdiag wait --for=condition=complete --timeout=2h job/<name>-hosts
    python deploy/ingest_jobs.py RUN~SESSION --part finalize | kubectl apply -f -

SESSION is a profile id `run~session` or `run/plugins/profile/session`. The host files are
listed from the store (`--store`, default $XDIAG_STORE; needs read access to the bucket) or
given with `--hosts a,b,...`. Knowing their sizes, the hosts Job's memory is raised to fit
the largest (peak RSS is about 4.5x the host file). Needs only xdiag (and its PyYAML).

    python deploy/ingest_jobs.py RUN~SESSION --store URL --run-locally [--parallelism 2]

runs both Jobs as rendered on this machine instead (no cluster): each index's containers
(init, then main) with the commands and environment of the manifests (the ConfigMap's
settings, the store given), `--parallelism` pods at once in index order as the Job
controller starts them, then the finalize Job; prints what each pod took, as JSON. The
pod-scale benchmark (`bench/pod.py`) ingests through it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).resolve().parent / "k8s" / "ingest"
CONFIGMAP = Path(__file__).resolve().parent / "k8s" / "configmap.yaml"
GIB = 1024**3
RSS_PER_BYTE = 5.0  # measured peak RSS / host file size is about 4.5 (bench/results.md)
TEMPLATE_MEMORY_LIMIT_GIB = 8
TEMPLATE_SCRATCH_GIB = 16


def profile_id(session: str) -> str:
    parts = session.strip("/").split("/")
    if len(parts) == 4 and parts[1:3] == ["plugins", "profile"]:
        return f"{parts[0]}~{parts[3]}"
    if "~" not in session:
        raise SystemExit(f"error: {session!r} is neither run~session nor "
                         "run/plugins/profile/session")
    return session


def job_name(pid: str) -> str:
    """A DNS-1123 name, stable per session, short enough for `<name>-hosts-<index>`."""
    return "xdiag-ingest-" + hashlib.sha1(pid.encode()).hexdigest()[:10]


def list_hosts(store_url: str, pid: str) -> list[tuple[str, int | None]]:
    from xdiag.core.names import split_profile_id
    from xdiag.store import layout, open_store

    store = open_store(store_url)
    run, session = split_profile_id(pid)
    keys = sorted(k for k in store.list(layout.session_prefix(run, session))
                  if k.endswith(layout.XPLANE_SUFFIX) and "/.xdiag/" not in k)
    return [(layout.host_from_raw_key(k), store.size(k)) for k in keys]


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    for var in container["env"]:
        if var["name"] == name:
            var["value"] = value
            return
    raise KeyError(name)


def render(pid: str, part: str, hosts: list[tuple[str, int | None]], *, image: str | None,
           parallelism: int | None, namespace: str | None) -> list[dict[str, Any]]:
    job = yaml.safe_load((TEMPLATES / f"{part}-job.yaml").read_text())
    job["metadata"]["name"] = f"{job_name(pid)}-{part}"
    job["metadata"]["labels"]["xdiag-profile"] = job_name(pid)[len("xdiag-ingest-"):]
    if namespace:
        job["metadata"]["namespace"] = namespace
    pod = job["spec"]["template"]["spec"]
    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        _set_env(c, "SESSION", pid)
        if image:
            c["image"] = image
    if part == "hosts":
        if not hosts:
            raise SystemExit(f"error: no host files found for {pid}")
        main = pod["containers"][0]
        _set_env(main, "HOSTS", " ".join(h for h, _ in hosts))
        job["spec"]["completions"] = len(hosts)
        job["spec"]["parallelism"] = min(parallelism or len(hosts), len(hosts))
        largest = max((s or 0) for _, s in hosts)
        need_gib = math.ceil(largest * RSS_PER_BYTE / GIB)
        if need_gib > TEMPLATE_MEMORY_LIMIT_GIB:
            res = main["resources"]
            res["requests"]["memory"] = res["limits"]["memory"] = f"{need_gib}Gi"
        scratch_gib = math.ceil(largest * 1.25 / GIB)
        if scratch_gib > TEMPLATE_SCRATCH_GIB:
            main["resources"]["limits"]["ephemeral-storage"] = f"{scratch_gib}Gi"
            for vol in pod["volumes"]:
                if vol["name"] == "scratch":
                    vol["emptyDir"]["sizeLimit"] = f"{scratch_gib}Gi"
    return [job]


def _pod_env(container: dict[str, Any], settings: dict[str, str],
             index: int | None) -> dict[str, str]:
    """A container's environment as Kubernetes gives it (ConfigMap, then its own values),
    over this process's (PATH with this interpreter's `xdiag` and `python` first)."""
    env = {**os.environ, **settings}
    env.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = str(index)
    return env


def run_locally(pid: str, store_url: str, hosts: list[tuple[str, int | None]], *,
                parallelism: int = 2, settings: dict[str, str] | None = None,
                on_start: Callable[[subprocess.Popen], None] | None = None) -> dict[str, Any]:
    """Run the hosts Job, then the finalize Job, as rendered, on this machine.

    Pod i runs its init container then its main container with the manifests' commands
    and environment (`JOB_COMPLETION_INDEX` = i); at most `parallelism` pods run at once,
    started in index order. `settings` override the ConfigMap's (XDIAG_STORE is
    `store_url`); `on_start` sees every container process started (to sample its memory).
    Returns each pod's start and end (seconds from the first start) and the finalize's;
    raises RuntimeError naming the pod and container that failed."""
    config = yaml.safe_load(CONFIGMAP.read_text())["data"]
    settings = {**config, **(settings or {}), "XDIAG_STORE": store_url}
    (job,) = render(pid, "hosts", hosts, image=None, parallelism=parallelism, namespace=None)
    pod = job["spec"]["template"]["spec"]
    t0 = time.perf_counter()

    def run(container: dict[str, Any], index: int | None) -> str:
        proc = subprocess.Popen(container["command"], env=_pod_env(container, settings, index),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if on_start is not None:
            on_start(proc)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"pod {index}, container {container['name']} exited "
                               f"{proc.returncode}: {err.strip()[-2000:]}")
        return out

    def run_pod(index: int) -> dict[str, Any]:
        start = time.perf_counter() - t0
        for c in [*pod.get("initContainers", []), *pod["containers"]]:  # init first
            run(c, index)
        return {"index": index, "host": hosts[index][0], "start_s": start,
                "end_s": time.perf_counter() - t0}

    with cf.ThreadPoolExecutor(job["spec"]["parallelism"]) as pool:
        pods = list(pool.map(run_pod, range(job["spec"]["completions"])))
    (fin,) = render(pid, "finalize", [], image=None, parallelism=None, namespace=None)
    (c,) = fin["spec"]["template"]["spec"]["containers"]
    start = time.perf_counter() - t0
    summary = json.loads(run(c, None))
    return {"pods": pods, "finalize": {"start_s": start, "end_s": time.perf_counter() - t0},
            "events": sum(h["events"] for h in summary["hosts"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("session", help="run~session or run/plugins/profile/session")
    p.add_argument("--part", choices=["hosts", "finalize"], default="hosts")
    p.add_argument("--store", default=os.environ.get("XDIAG_STORE"),
                   help="store URL to list the host files from (default $XDIAG_STORE)")
    p.add_argument("--hosts", help="comma-separated host names instead of listing the store")
    p.add_argument("--image", help="container image (default: the template's)")
    p.add_argument("--parallelism", type=int, help="pods at once (default: one per host)")
    p.add_argument("--namespace", help="namespace (default: the template's, xdiag)")
    p.add_argument("--run-locally", action="store_true", help="run both Jobs on this "
                   "machine (no cluster) against --store; print each pod's times as JSON")
    args = p.parse_args(argv)
    pid = profile_id(args.session)
    hosts: list[tuple[str, int | None]] = []
    if args.part == "hosts":
        if args.hosts:
            hosts = [(h, None) for h in args.hosts.split(",") if h]
        elif args.store:
            hosts = list_hosts(args.store, pid)
        else:
            p.error("give --store (or set XDIAG_STORE) or --hosts")
    if args.run_locally:
        if not args.store:
            p.error("--run-locally needs --store (or XDIAG_STORE)")
        print(json.dumps(run_locally(pid, args.store, hosts or list_hosts(args.store, pid),
                                     parallelism=args.parallelism or 2), indent=1))
        return 0
    docs = render(pid, args.part, hosts, image=args.image, parallelism=args.parallelism,
                  namespace=args.namespace)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    name = docs[0]["metadata"]["name"]
    ns = docs[0]["metadata"]["namespace"]
    if args.part == "hosts":
        print(f"# {len(hosts)} host(s); when done:\n#   kubectl -n {ns} wait "
              f"--for=condition=complete --timeout=2h job/{name} && python {sys.argv[0]} "
              f"'{pid}' --part finalize | kubectl apply -f -", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
