"""deploy/k8s: every manifest validates against the Kubernetes schemas (offline, strict), and
the pieces fit together: probes, replicas, the profiler fence, the trainer's wiring, the
ingest Jobs — the last two also run here, as written, outside Kubernetes."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import ipaddress
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
FIXTURE = ROOT / "tests" / "fixtures" / "cpu_small.xplane.pb"
# GKE's own resources (CRDs): no schema ships with kubernetes-validate; checked below.
CRDS = {("cloud.google.com/v1", "BackendConfig"), ("networking.gke.io/v1", "ManagedCertificate")}
PROFILER_PORT = 9012


def k8s_version() -> str:
    """A recent Kubernetes (GKE's regular channel); older kubernetes-validate: its newest."""
    from kubernetes_validate.utils import latest_version

    wanted = "1.33"
    have = latest_version()
    return wanted + ".0" if tuple(map(int, have.split("."))) >= (1, 33) else have + ".0"


def load_all() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((str(path.relative_to(K8S)), doc))
    return docs


DOCS = load_all()


def find(kind: str, name: str | None = None, file: str | None = None) -> dict[str, Any]:
    hits = [d for f, d in DOCS if d["kind"] == kind and (name is None or d["metadata"]["name"]
            == name) and (file is None or f == file)]
    assert len(hits) == 1, f"expected one {kind} {name or ''} in {file or 'deploy/k8s'}"
    return hits[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the tests understand matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


# --- schema validation --------------------------------------------------------------


CORE = [(f, d) for f, d in DOCS if (d["apiVersion"], d["kind"]) not in CRDS]


@pytest.mark.parametrize("doc", [d for _, d in CORE],
                         ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in CORE])
def test_manifest_validates_against_kubernetes_schema(doc: dict[str, Any]) -> None:
    """Strict: unknown fields fail too. (The GKE CRDs are checked in
    test_gke_load_balancer_with_iap; any other kind without a schema fails here.)"""
    from kubernetes_validate import utils

    try:
        utils.validate(doc, k8s_version(), strict=True)
    except utils.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def test_validation_really_rejects_bad_manifests() -> None:
    """Guards the check above: a typo'd field and a wrong type must fail."""
    from kubernetes_validate import utils

    dep = json.loads(json.dumps(find("Deployment", "xdiag")))
    dep["spec"]["replica"] = 2
    with pytest.raises(utils.ValidationError):
        utils.validate(dep, k8s_version(), strict=True)
    dep = json.loads(json.dumps(find("Deployment", "xdiag")))
    dep["spec"]["replicas"] = "two"
    with pytest.raises(utils.ValidationError):
        utils.validate(dep, k8s_version(), strict=True)


def test_kustomization_lists_the_service_manifests() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    for f in listed:
        assert (K8S / f).exists(), f
    on_demand = {"trainer-job.yaml"} | {f for f, _ in DOCS if f.startswith("ingest/")}
    assert {f for f, _ in DOCS} - on_demand == listed


def test_everything_is_namespaced_in_xdiag() -> None:
    for f, d in DOCS:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "xdiag", f


# --- the service ------------------------------------------------------------------


def test_deployment_replicas_probes_and_resources() -> None:
    dep = find("Deployment", "xdiag")
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    assert labels_match(dep["spec"]["selector"], pod["metadata"]["labels"])
    (c,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == 8791
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports.get(get["port"], get["port"]) == 8791, probe
    # Liveness tolerates a store blip longer than readiness does.
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > \
        ready["periodSeconds"] * ready["failureThreshold"]
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] == "4Gi"
    assert res["limits"]["memory"] == "8Gi"
    sec = pod["spec"]["securityContext"]
    assert sec["runAsNonRoot"] is True and sec["runAsUser"] >= 1000
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 330


def test_service_hpa_and_pdb_target_the_deployment() -> None:
    dep = find("Deployment", "xdiag")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = find("Service", "xdiag")
    assert all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert svc["spec"]["ports"][0]["port"] == 8791
    hpa = find("HorizontalPodAutoscaler", "xdiag")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "xdiag"}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = find("PodDisruptionBudget", "xdiag")
    assert labels_match(pdb["spec"]["selector"], pod_labels)


def test_workload_identity_service_account() -> None:
    sa = find("ServiceAccount", "xdiag")
    gsa = sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert re.fullmatch(r"[a-z][-a-z0-9]*@[-A-Za-z0-9_]+\.iam\.gserviceaccount\.com", gsa)
    users = [d for f, d in DOCS if d["kind"] in ("Deployment", "Job")
             and (f.startswith("ingest/") or d["kind"] == "Deployment")]
    for d in users:
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == "xdiag", \
            d["metadata"]["name"]


def test_configmap_keys_are_real_settings() -> None:
    from xdiag.core.config import Settings

    cm = find("ConfigMap", "xdiag-settings")["data"]
    fields = {"XDIAG_" + f.name.upper(): f for f in dataclasses.fields(Settings)}
    for key, value in cm.items():
        assert key in fields, f"{key} is not read by xdiag.config.Settings"
        assert isinstance(value, str), f"{key}: ConfigMap values are strings"
    assert cm["XDIAG_STORE"].startswith("gs://")
    assert cm["XDIAG_AUTH"] == "iap" and cm["XDIAG_IAP_AUDIENCE"]
    # The values parse the way Settings.from_env parses them.
    s = Settings.from_env(cm)
    assert s.auth == "iap" and s.store == cm["XDIAG_STORE"]


def test_readme_documents_every_setting() -> None:
    from xdiag.core.config import Settings

    text = (ROOT / "deploy" / "README.md").read_text()
    missing = ["XDIAG_" + f.name.upper() for f in dataclasses.fields(Settings)
               if f"`XDIAG_{f.name.upper()}`" not in text]
    assert not missing, f"deploy/README.md's settings table lacks {missing}"


def test_images_agree() -> None:
    images = set()
    for _, d in DOCS:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            images.add(c["image"])
    assert len(images) == 1, f"one image for service, trainer and ingest: {images}"


def test_gke_load_balancer_with_iap() -> None:
    svc = find("Service", "xdiag")
    bc_name = json.loads(svc["metadata"]["annotations"]["cloud.google.com/backend-config"])
    assert json.loads(svc["metadata"]["annotations"]["cloud.google.com/neg"]) == {"ingress": True}
    bc = find("BackendConfig", bc_name["default"])
    assert bc["apiVersion"] == "cloud.google.com/v1"
    assert bc["spec"]["iap"]["enabled"] is True
    assert bc["spec"]["healthCheck"]["requestPath"] == "/healthz"
    assert bc["spec"]["healthCheck"]["port"] == 8791
    assert bc["spec"]["timeoutSec"] >= 330
    ing = find("Ingress", "xdiag")
    cert = find("ManagedCertificate")
    assert ing["metadata"]["annotations"]["networking.gke.io/managed-certificates"] == \
        cert["metadata"]["name"]
    hosts = [r["host"] for r in ing["spec"]["rules"]]
    assert hosts == cert["spec"]["domains"]
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "xdiag", "port": {"number": 8791}}


# --- network policies ---------------------------------------------------------------


@dataclasses.dataclass
class Pod:
    namespace: str
    labels: dict[str, str]
    namespace_labels: dict[str, str] = dataclasses.field(default_factory=dict)


def _peer_matches(peer: dict[str, Any], policy_ns: str, src: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod traffic here; ipBlocks name load balancers and Google APIs
    ns_labels = {"kubernetes.io/metadata.name": src.namespace, **src.namespace_labels}
    ns_ok = (labels_match(peer["namespaceSelector"], ns_labels)
             if "namespaceSelector" in peer else src.namespace == policy_ns)
    pod_ok = labels_match(peer["podSelector"], src.labels) if "podSelector" in peer else True
    return ns_ok and pod_ok


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    if not rule.get("ports"):
        return True
    return any(p.get("protocol", "TCP") == "TCP" and
               p["port"] <= port <= p.get("endPort", p["port"]) for p in rule["ports"])


def ingress_allowed(src: Pod, dst: Pod, port: int) -> bool:
    """Kubernetes semantics: isolated if any policy selects dst; then any rule may allow."""
    policies = [d for _, d in DOCS if d["kind"] == "NetworkPolicy"
                and d["metadata"]["namespace"] == dst.namespace
                and "Ingress" in d["spec"]["policyTypes"]
                and labels_match(d["spec"]["podSelector"], dst.labels)]
    if not policies:
        return True
    return any(_port_matches(rule, port) and (
        not rule.get("from") or any(_peer_matches(p, pol["metadata"]["namespace"], src)
                                    for p in rule["from"]))
        for pol in policies for rule in pol["spec"].get("ingress") or [])


def egress_allowed(src: Pod, dst: Pod, port: int) -> bool:
    policies = [d for _, d in DOCS if d["kind"] == "NetworkPolicy"
                and d["metadata"]["namespace"] == src.namespace
                and "Egress" in d["spec"]["policyTypes"]
                and labels_match(d["spec"]["podSelector"], src.labels)]
    if not policies:
        return True
    return any(_port_matches(rule, port) and (
        not rule.get("to") or any(_peer_matches(p, pol["metadata"]["namespace"], dst)
                                  for p in rule["to"]))
        for pol in policies for rule in pol["spec"].get("egress") or [])


def _pods() -> dict[str, Pod]:
    server = find("Deployment", "xdiag")["spec"]["template"]["metadata"]["labels"]
    trainer = find("Job", "xdiag-trainer")["spec"]["template"]["metadata"]["labels"]
    ingest = find("Job", file="ingest/hosts-job.yaml")["spec"]["template"]["metadata"]["labels"]
    return {
        "server": Pod("xdiag", server),
        "trainer": Pod("xdiag", trainer),
        "ingest": Pod("xdiag", ingest),
        "other": Pod("xdiag", {"app": "something-else"}),
        "foreign": Pod("default", {"app": "web"}),
        # A profiled job in a namespace that opted in (label xdiag-profiled on the
        # namespace), and one in a namespace that did not.
        "foreign-trainer": Pod("ml", {"xdiag-profiled": "true", "app": "their-jax-job"},
                               {"xdiag-profiled": "true"}),
        "stray-trainer": Pod("sandbox", {"xdiag-profiled": "true", "app": "anything"}),
    }


def test_profiler_port_reachable_only_from_the_service() -> None:
    pods = _pods()
    trainer = pods["trainer"]
    assert trainer.labels.get("xdiag-profiled") == "true"
    assert ingress_allowed(pods["server"], trainer, PROFILER_PORT)
    assert egress_allowed(pods["server"], trainer, PROFILER_PORT)
    assert egress_allowed(pods["server"], pods["foreign-trainer"], PROFILER_PORT)
    # A pod that labels itself profiled in a namespace that did not opt in is not dialled.
    assert not egress_allowed(pods["server"], pods["stray-trainer"], PROFILER_PORT)
    for name in ("trainer", "other", "foreign", "foreign-trainer", "ingest"):
        assert not ingress_allowed(pods[name], trainer, PROFILER_PORT), name
    # Peers of the job still talk to each other (jax.distributed coordinator, collectives).
    assert ingress_allowed(pods["trainer"], trainer, 8476)
    assert not ingress_allowed(pods["other"], trainer, 8476)


def test_service_reaches_only_what_it_needs() -> None:
    pods = _pods()
    server = pods["server"]
    assert not egress_allowed(server, pods["trainer"], 8476), "only the profiler port"
    assert not egress_allowed(server, pods["other"], 8791)
    kube_dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    assert egress_allowed(server, kube_dns, 53)
    # Agents register with the service; arbitrary pods do not get in.
    assert ingress_allowed(pods["trainer"], server, 8791)
    assert ingress_allowed(pods["foreign-trainer"], server, 8791)
    assert not ingress_allowed(pods["stray-trainer"], server, 8791)
    assert not ingress_allowed(pods["foreign"], server, 8791)
    assert not ingress_allowed(pods["trainer"], server, 22)
    # Every profiler-port rule names pods by label, never a whole namespace or all of them.
    pol = find("NetworkPolicy", "xdiag-server")
    for rule in pol["spec"]["egress"]:
        for peer in rule.get("to", []):
            if "ipBlock" not in peer and "k8s-app" not in json.dumps(peer):
                assert peer["podSelector"]["matchLabels"] == {"xdiag-profiled": "true"}, peer
                assert peer.get("namespaceSelector", {"matchLabels": {"x": 1}})["matchLabels"], \
                    "namespaceSelector {} would open every namespace"
    # Ingest pods accept nothing.
    assert not ingress_allowed(server, pods["ingest"], 8791)


def _ip_egress(policy: str) -> list[tuple[ipaddress.IPv4Network, list[ipaddress.IPv4Network],
                                          int]]:
    pol = find("NetworkPolicy", policy)
    return [(ipaddress.ip_network(p["ipBlock"]["cidr"]),
             [ipaddress.ip_network(e) for e in p["ipBlock"].get("except", [])], port["port"])
            for r in pol["spec"]["egress"] for p in r.get("to", []) if "ipBlock" in p
            for port in r["ports"]]


def ip_egress_allowed(policy: str, ip: str, port: int) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in net and not any(addr in e for e in exc) and port == p
               for net, exc, p in _ip_egress(policy))


@pytest.mark.parametrize("policy", ["xdiag-server", "xdiag-ingest"])
def test_egress_by_address_is_google_apis_dns_and_metadata_only(policy: str) -> None:
    """What the service needs by address: Google APIs over HTTPS on public addresses,
    Workload Identity's metadata server, NodeLocal DNS. Private networks' HTTPS (in-cluster
    services, the VPC), other metadata ports and any other port stay closed."""
    assert ip_egress_allowed(policy, "142.250.72.187", 443)  # storage.googleapis.com
    assert ip_egress_allowed(policy, "199.36.153.8", 443)  # private.googleapis.com
    assert ip_egress_allowed(policy, "169.254.169.254", 80)  # Workload Identity
    assert ip_egress_allowed(policy, "169.254.169.252", 988)
    assert ip_egress_allowed(policy, "169.254.20.10", 53)
    for ip, port in [("10.4.0.7", 443), ("172.20.1.1", 443), ("192.168.0.10", 443),
                     ("169.254.169.254", 443), ("100.64.0.1", 443), ("169.254.169.254", 8080),
                     ("142.250.72.187", 80), ("10.4.0.7", 9012), ("8.8.8.8", 53)]:
        assert not ip_egress_allowed(policy, ip, port), (ip, port)


def test_service_settings_fence_targets_hosts_and_proxies() -> None:
    """The ConfigMap's target policy refuses metadata addresses and admits the trainer's
    pods; its Host list admits the name the trainer's agent calls; its trusted proxies are
    Google's front ends and the load balancer (filled in at deploy time)."""
    from xdiag.core.config import Settings
    from xdiag.core.errors import TargetRefused
    from xdiag.core.targets import TargetPolicy, parse_networks
    from xdiag.server.gate import HostPolicy

    cm = find("ConfigMap", "xdiag-settings")["data"]
    settings = Settings.from_env(cm)
    policy = TargetPolicy(settings.target_networks)
    assert policy.resolve("10.8.3.4")  # a pod IP (GKE's ranges lie in 10.0.0.0/8)
    for bad in ("169.254.169.254", "metadata.google.internal", "192.168.1.1", "8.8.8.8"):
        with pytest.raises(TargetRefused):
            policy.resolve(bad)
    hosts = HostPolicy(settings)
    job = find("Job", "xdiag-trainer")["spec"]["template"]["spec"]["containers"][0]
    server = env_of(job)["XDIAG_SERVER"]
    assert hosts.allows(server.split("//", 1)[1].rstrip("/")), server
    assert hosts.allows("xdiag.example.com")  # XDIAG_PUBLIC_URL's host
    assert not hosts.allows("rebind.attacker.example")
    filled = cm["XDIAG_TRUSTED_PROXIES"].replace("LOAD_BALANCER_IP", "34.120.0.1")
    nets = parse_networks(filled)
    assert ipaddress.ip_network("35.191.0.0/16") in nets
    assert ipaddress.ip_network("34.120.0.1/32") in nets
    assert "LOAD_BALANCER_IP" in (ROOT / "deploy" / "README.md").read_text(), \
        "the README's step 4 fills in the load balancer's address"


def test_image_serves_with_the_redacting_gunicorn_config() -> None:
    """The image's gunicorn reads xdiag.server.gunicorn_conf: masked logs, and forwarded
    headers judged by the app, not by gunicorn."""
    from gunicorn.config import Config

    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert '"--config", "python:xdiag.server.gunicorn_conf"' in text
    import xdiag.server.gunicorn_conf as conf

    cfg = Config()
    for key in ("logger_class", "forwarded_allow_ips"):
        cfg.set(key, getattr(conf, key))
    assert cfg.forwarded_allow_ips == []
    assert cfg.logger_class.__name__ == "GunicornLogger"


# --- the multi-host trainer -------------------------------------------------------


def test_trainer_job_wires_agent_and_jax_distributed() -> None:
    job = find("Job", "xdiag-trainer")
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] >= 2
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    env = env_of(c)

    svc = find("Service", "xdiag")
    port = svc["spec"]["ports"][0]["port"]
    assert env["XDIAG_SERVER"] == f"http://{svc['metadata']['name']}." \
        f"{svc['metadata']['namespace']}.svc.cluster.local:{port}"
    assert re.fullmatch(r"[a-z0-9][-a-z0-9_.]*", env["XDIAG_JOB"])
    assert env["XDIAG_AGENT_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["XDIAG_TOKEN"]["secretKeyRef"]["optional"] is True

    # jax.distributed: process id = completion index, coordinator = pod 0 via the
    # headless Service whose name is the pods' subdomain.
    assert int(env["JAX_NUM_PROCESSES"]) == spec["completions"]
    assert env["JAX_PROCESS_ID"] == {"fieldRef": {"fieldPath":
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    headless = find("Service", pod["subdomain"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert all(spec["template"]["metadata"]["labels"].get(k) == v
               for k, v in headless["spec"]["selector"].items())
    host, coord_port = env["JAX_COORDINATOR_ADDRESS"].rsplit(":", 1)
    assert host == f"{job['metadata']['name']}-0.{pod['subdomain']}"
    assert int(coord_port) in [p["containerPort"] for p in c["ports"]]

    # The trainer is told the same server, job and the profiler port the fence opens.
    args = c["args"]
    assert args[0] == "trainer.train"
    assert args[args.index("--xdiag-server") + 1] == "$(XDIAG_SERVER)"
    assert args[args.index("--job") + 1] == "$(XDIAG_JOB)"
    assert int(args[args.index("--profiler-port") + 1]) == PROFILER_PORT
    assert {"name": "profiler", "containerPort": PROFILER_PORT, "protocol": "TCP"} in c["ports"]
    assert pod["restartPolicy"] == "Never" and spec["backoffLimit"] == 0


def test_trainer_launcher_initialises_jax_distributed(tmp_path: Path) -> None:
    """The Job's launcher, run as two local processes with the env the Job gives each pod."""
    from support import free_port

    c = find("Job", "xdiag-trainer")["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][:2] == ["python", "-c"]
    (tmp_path / "probe_main.py").write_text(
        "import sys, jax\n"
        "print('PROBE', jax.process_index(), jax.process_count(), jax.device_count(),"
        " ' '.join(sys.argv[1:]), flush=True)\n")
    coordinator = f"127.0.0.1:{free_port()}"
    procs = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": str(tmp_path), "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
               "JAX_COORDINATOR_ADDRESS": coordinator, "JAX_NUM_PROCESSES": "2",
               "JAX_PROCESS_ID": str(index)}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", c["command"][2], "probe_main", "--job", "x"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
        outs.append(next(line for line in out.splitlines() if line.startswith("PROBE")))
    assert sorted(outs) == ["PROBE 0 2 4 --job x", "PROBE 1 2 4 --job x"]


# --- ingest Jobs --------------------------------------------------------------------


def _ingest_jobs_module():
    spec = importlib.util.spec_from_file_location("ingest_jobs",
                                                  ROOT / "deploy" / "ingest_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ingest_templates_run_xdiag_ingest() -> None:
    hosts = find("Job", file="ingest/hosts-job.yaml")
    spec = hosts["spec"]
    assert spec["completionMode"] == "Indexed"
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    script = c["command"][-1]
    assert 'xdiag ingest "$SESSION" --host "$1"' in script
    env = env_of(c)
    assert len(env["HOSTS"].split()) == spec["completions"]
    assert pod["restartPolicy"] == "Never"
    fin = find("Job", file="ingest/finalize-job.yaml")
    (f,) = fin["spec"]["template"]["spec"]["containers"]
    assert 'xdiag ingest "$SESSION" --finalize' in " ".join(f["command"])
    assert env_of(f)["SESSION"] == env["SESSION"]


def test_ingest_render_sizes_memory_from_the_largest_host() -> None:
    from kubernetes_validate import utils

    mod = _ingest_jobs_module()
    gib = 1024**3
    (small,) = mod.render("r~s", "hosts", [("a", gib // 2), ("b", gib)], image="img:1",
                          parallelism=None, namespace=None)
    res = small["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["limits"]["memory"] == "8Gi" and small["spec"]["completions"] == 2
    (big,) = mod.render("r~s", "hosts", [("a", 5 * gib), ("b", gib), ("c", gib)], image=None,
                        parallelism=2, namespace=None)
    res = big["spec"]["template"]["spec"]["containers"][0]["resources"]
    expected = f"{math.ceil(mod.RSS_PER_BYTE * 5)}Gi"  # sized from the largest host file
    assert res["limits"]["memory"] == res["requests"]["memory"] == expected
    assert big["spec"]["completions"] == 3 and big["spec"]["parallelism"] == 2
    assert mod.profile_id("run/plugins/profile/s") == "run~s"
    for job in (small, big):
        utils.validate(job, k8s_version(), strict=True)
        assert len(job["metadata"]["name"] + "-hosts-999") <= 63


def _container_env(c: dict[str, Any], settings: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **settings}
    for k, v in env_of(c).items():
        if isinstance(v, str):
            env[k] = v
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_ingest_jobs_as_written_ingest_a_two_host_session(tmp_path: Path) -> None:
    """Render the Jobs for a session written straight into a store, run each pod's
    containers (init, then main) concurrently for every index, then the finalize Job:
    the profile is catalogued once and ready, with both hosts' events."""
    from xdiag.core.config import Settings
    from xdiag.server.services import Services

    store = tmp_path / "bucket"
    raw = store / "r" / "plugins" / "profile" / "s"
    raw.mkdir(parents=True)
    for h in ("h0", "h1"):
        shutil.copy(FIXTURE, raw / f"{h}.xplane.pb")
    settings = {**find("ConfigMap", "xdiag-settings")["data"], "XDIAG_STORE": str(store),
                "XDIAG_HOST_PEAKS": "matmul_gflops=100,memcpy_gbps=20"}

    render = [sys.executable, str(ROOT / "deploy" / "ingest_jobs.py"), "r/plugins/profile/s",
              "--store", str(store)]
    out = subprocess.run(render, capture_output=True, text=True, timeout=120, check=True)
    (job,) = list(yaml.safe_load_all(out.stdout))
    assert job["spec"]["completions"] == 2
    pod = job["spec"]["template"]["spec"]

    def run_pod(index: int) -> None:
        for c in [*pod["initContainers"], *pod["containers"]]:  # init first, like a pod
            env = {**_container_env(c, settings), "JOB_COMPLETION_INDEX": str(index)}
            res = subprocess.run(c["command"], env=env, capture_output=True, text=True,
                                 timeout=300)
            assert res.returncode == 0, f"pod {index}, {c['name']}: {res.stderr}"

    # Both pods at once; index 1 must wait for pod 0 to catalogue the session.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(run_pod, i) for i in (1, 0)]:
            f.result()
    rec = Services(Settings(store=str(store))).profiles.get("r~s")
    assert rec["status"] == "ingesting" and len(rec["hosts"]) == 2

    out = subprocess.run([*render, "--part", "finalize"], capture_output=True, text=True,
                         timeout=120, check=True)
    (fin,) = list(yaml.safe_load_all(out.stdout))
    (c,) = fin["spec"]["template"]["spec"]["containers"]
    res = subprocess.run(c["command"], env=_container_env(c, settings), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["id"] == "r~s"
    svc = Services(Settings(store=str(store)))
    rec = svc.profiles.get("r~s")
    assert rec["status"] == "ready", rec
    data = svc.views.get(rec)
    assert sum(t["events"] for t in data.tracks) == 2 * rec["hosts"][0]["events"] > 0
