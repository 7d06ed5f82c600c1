"""Time by JAX named scope (the framework view). Pure: op tables and scopes in, a tree out.

Every HLO instruction's metadata carries `op_name`, the JAX name stack at the point it
was traced: `jit(train_step)/transpose(jvp(layer_3))/moe/experts/dot_general`. The path
of a scope is that stack with wrappers unwrapped to the name they wrap (`jit(f)` -> `f`,
`transpose(jvp(layer_3))` -> `layer_3`: forward and backward of a scope are one node) and
the last component, the primitive, dropped. An op's time goes to the node of its path
(its `self_ns`), and every node's `total_ns` is its subtree's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

NO_SCOPE = "(no scope)"
COMBINED = "(combined ops)"  # XLA merged ops of several scopes: `(a/dot:b/dot)`
# The name stack's control-flow and call entries: structure of the program, not scopes.
_STRUCTURE = re.compile(r"^(while|body|cond|closed_call|core_call|remat|checkpoint|"
                        r"custom_jvp_call|custom_vjp_call|branch_\d+_fun)$")
_WRAPPED = re.compile(r"^[A-Za-z_][\w.-]*\((.*)\)$")


def split_stack(op_name: str) -> list[str]:
    """`op_name` split on `/` outside parentheses (a wrapper's argument may hold one)."""
    parts, depth, cur = [], 0, []
    for ch in op_name:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        if ch == "/" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p]


def unwrap(component: str) -> str:
    """`jit(f)` -> `f`, `transpose(jvp(layer_3))` -> `layer_3`; other names unchanged."""
    while True:
        m = _WRAPPED.match(component)
        if not m:
            return component
        component = m.group(1)
        if not component:
            return ""


def scope_path(op_name: str) -> tuple[str, ...]:
    """The named-scope path of an op (its primitive dropped, wrappers unwrapped, control
    flow entries and empty wrappers such as `jvp()` left out); () for none."""
    parts = split_stack(op_name or "")
    if len(parts) < 2:
        return ()
    out = []
    for p in parts[:-1]:
        name = COMBINED if p.startswith("(") else unwrap(p)
        if name and not _STRUCTURE.match(name) and not name.endswith("()"):
            out.append(name)
    return tuple(out)


def op_scopes(ops: Mapping[str, list[Any]], modules: Iterable[Any]) -> list[list[Any]]:
    """[module, program_id, op, op_name] for every distinct op of a host's op table whose
    HLO metadata has an `op_name` (`modules`: the host's `ModuleInfo`s with costs)."""
    by_prog = {m.program_id: m for m in modules}
    by_name = {m.name: m for m in by_prog.values()}
    stacks: dict[int, dict[str, str]] = {}
    out, seen = [], set()
    for module, prog, op in zip(ops["module"], ops["program_id"], ops["op"], strict=True):
        key = (module, prog, op)
        if key in seen:
            continue
        seen.add(key)
        info = by_prog.get(prog) or by_name.get(module)
        if info is None or not hasattr(info.costs, "scopes"):
            continue
        table = stacks.get(id(info))
        if table is None:
            table = stacks[id(info)] = dict(info.costs.scopes())
        name = table.get(op) or table.get(op.replace("_", "."))
        if name:
            out.append([module, int(prog), op, name])
    return out


def _node(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "path": path, "self_ns": 0, "total_ns": 0, "flops": 0.0,
            "bytes": 0.0, "ops": 0, "first_op": None, "children": {}}


def step_basis(rows: Iterable[tuple[str, Mapping[str, Any], Any]]) -> dict[str, float] | None:
    """What the shares of the step are taken over: the complete steps of every host, per
    device (`rows`: `hosts_steps.host_rows` per host). `busy_ns`: the devices' op time
    inside those steps, `step_ns`: their step time (a step counted once per device),
    `device_steps`: how many (device, step) pairs. None where no step is complete."""
    busy = dur = count = 0.0
    for _, r, _ in rows:
        b = np.asarray(r["busy_dev"], np.float64)
        if not b.size:
            continue
        busy += float(b.sum())
        dur += float(np.asarray(r["dur_ns"], np.float64).sum()) * b.shape[0]
        count += b.size
    if not count or dur <= 0:
        return None
    return {"busy_ns": busy, "step_ns": dur, "device_steps": count}


def tree(ops_view: dict[str, Any], scopes: Mapping[tuple[str, int, str], str],
         n_steps: int, n_devices: int, basis: Mapping[str, float] | None) -> dict[str, Any]:
    """The framework view (docs/api.md): the scope tree over the ops view's rows.

    The ops view holds the whole capture (partial steps, compilation and time between
    steps included), the steps only what lies inside complete steps: a scope's time per
    step is its share of the op time times the devices' op time inside the complete steps
    (`basis`, `step_basis`), per device and step, and its share of the step that over the
    mean step of the same steps. So the shares are of one denominator: the root's is the
    devices' busy fraction of the step (<= 1), children's add up to at most their parent's.
    (It assumes the op mix inside the complete steps is the capture's.)

    Args:
      ops_view: the profile's `ops` view (self_ns summed over devices and hosts).
      scopes: (module, program_id, op) -> the op's `op_name`.
      n_steps: complete steps the capture holds (>= 1 is used).
      n_devices: devices the op times are summed over.
      basis: `step_basis` of the hosts' complete steps; None: no complete step (time per
        step is then the capture's op time per device, and no share of the step).
    """
    root = _node("all", "")
    for o in ops_view.get("ops", []):
        path = scope_path(scopes.get((o["module"], o["program_id"], o["op"]), ""))
        if not path:
            path = (NO_SCOPE,)
        node = root
        chain = [root]
        for i, name in enumerate(path):
            child = node["children"].get(name)
            if child is None:
                child = node["children"][name] = _node(name, "/".join(path[:i + 1]))
            node = child
            chain.append(node)
        node["self_ns"] += o["self_ns"]
        if node["first_op"] is None or o["self_ns"] > node["first_op"][3]:
            node["first_op"] = (o["module"], o["program_id"], o["op"], o["self_ns"])
        for n in chain:
            n["total_ns"] += o["self_ns"]
            n["flops"] += o.get("flops") or 0.0
            n["bytes"] += o.get("bytes") or 0.0
            n["ops"] += 1
    steps = max(n_steps, 1)
    devices = max(n_devices, 1)
    total = root["total_ns"] or 1
    if basis and root["total_ns"]:
        per_ns = basis["busy_ns"] / basis["device_steps"] / root["total_ns"]
        of_step = basis["busy_ns"] / basis["step_ns"] / root["total_ns"]
        step_ns: float | None = basis["step_ns"] / basis["device_steps"]
    else:
        per_ns, of_step, step_ns = 1.0 / steps / devices, None, None

    def finish(n: dict[str, Any]) -> dict[str, Any]:
        first = n.pop("first_op")
        kids = sorted(n.pop("children").values(), key=lambda c: -c["total_ns"])
        out = {**n, "total_ns_per_step": n["total_ns"] * per_ns,
               "share_of_step": None if of_step is None else n["total_ns"] * of_step,
               "share": n["total_ns"] / total,
               "op": ({"module": first[0], "program_id": first[1], "op": first[2]}
                      if first else None),
               "source": None,
               "children": [finish(c) for c in kids]}
        if out["op"] is None and out["children"]:
            out["op"] = out["children"][0]["op"]
        return out

    return {"steps": steps, "devices": devices, "step_ns": step_ns,
            "busy_share_of_step": None if of_step is None else root["total_ns"] * of_step,
            "total_self_ns": root["total_ns"], "root": finish(root)}


def nodes(root: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every node of a tree, depth first."""
    stack = [root]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n["children"]))
