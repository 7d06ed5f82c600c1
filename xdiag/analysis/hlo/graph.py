"""The HLO graph around one op, as JSON-ready dicts and as Graphviz DOT.

The neighbourhood is taken in the op's own computation: everything within
`hops` operand/user steps, breadth first, up to `max_nodes`. Fusions are one
node each unless expanded, in which case their fused computation is shown
inside them and edges enter at the fused parameters and leave from the root.
Node ids are instruction names (unique in a module, stable across ingests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from xdiag.analysis.hlo.cost import ModuleCost, module_cost
from xdiag.analysis.hlo.module import Computation, HloModule, Instruction

# Fill colours of DOT nodes by category (also a hint for the web UI).
CATEGORY_COLORS: dict[str, str] = {
    "fusion": "#d7e3fc",
    "dot": "#f9c6c9",
    "collective": "#ffe5a3",
    "copy": "#d5f0dd",
    "custom_call": "#e8d5f5",
    "elementwise": "#e9ecef",
    "reduction": "#cde9f7",
    "control_flow": "#f7d9c4",
    "other": "#ffffff",
}


def _neighbours(module: HloModule, instr: Instruction) -> list[Instruction]:
    seen: dict[str, Instruction] = {}
    for n in (*module.operands(instr), *module.users(instr)):
        seen.setdefault(n.name, n)
    return list(seen.values())


def _node(module: HloModule, cost: ModuleCost, instr: Instruction, hop: int,
          parent: str | None) -> dict[str, Any]:
    c = cost.ops[instr.name]
    is_fusion = instr.opcode == "fusion"
    return {
        "id": instr.name,
        "name": instr.name,
        "opcode": instr.opcode,
        "shape": str(instr.shape),
        "category": c.category,
        "fused_category": c.fused_category,
        "flops": c.flops,
        "transcendentals": c.transcendentals,
        "bytes": c.bytes_accessed,
        "op_name": instr.op_name,
        "hop": hop,
        "fusion": is_fusion,
        "fusion_kind": instr.fusion_kind,
        "collapsed": is_fusion,
        "parent": parent,
        "center": False,
        "boundary": False,
    }


def neighborhood(
    module: HloModule,
    op: str,
    *,
    hops: int = 2,
    max_nodes: int = 60,
    expand: bool | Iterable[str] = False,
    cost: ModuleCost | None = None,
) -> dict[str, Any]:
    """The graph of the ops within `hops` steps of `op`.

    Args:
        module: The parsed module.
        op: Instruction name of the centre.
        hops: Operand/user steps to include (0 = the op alone).
        max_nodes: Most nodes returned, fused ones included; the nearest win.
        expand: Fusions to show expanded: True for all in view, or names.
        cost: Precomputed `module_cost(module)` (computed when None).

    Returns:
        `{"module", "computation", "center", "hops", "truncated", "nodes":
        [{id, name, opcode, shape, category, fused_category, flops,
        transcendentals, bytes, op_name, hop, fusion, fusion_kind, collapsed,
        parent, center, boundary}], "edges": [{"from", "to"}]}`. `boundary` marks nodes with
        neighbours left out; `truncated` says `max_nodes` cut the view.

    Raises:
        NotFound: `op` is not an instruction of the module.
    """
    center = module.instruction(op)
    cost = cost or module_cost(module)
    hops = max(hops, 0)
    max_nodes = max(max_nodes, 1)

    # Breadth-first over operands and users, nearest first.
    hop_of: dict[str, int] = {center.name: 0}
    order: list[Instruction] = [center]
    frontier = [center]
    truncated = False
    for h in range(1, hops + 1):
        nxt: list[Instruction] = []
        for instr in frontier:
            for n in _neighbours(module, instr):
                if n.name in hop_of:
                    continue
                if len(order) >= max_nodes:
                    truncated = True
                    break
                hop_of[n.name] = h
                order.append(n)
                nxt.append(n)
        frontier = nxt
        if truncated or not frontier:
            break

    nodes: dict[str, dict[str, Any]] = {}
    for instr in order:
        nodes[instr.name] = _node(module, cost, instr, hop_of[instr.name], None)
    nodes[center.name]["center"] = True
    for instr in order:
        if any(n.name not in hop_of for n in _neighbours(module, instr)):
            nodes[instr.name]["boundary"] = True

    # Expand fusions while the node budget lasts (nearest first).
    want = set(expand) if not isinstance(expand, bool) else None
    expanded: dict[str, Computation] = {}
    for instr in order:
        if instr.opcode != "fusion" or not (expand is True or (want and instr.name in want)):
            continue
        fused = module.fused_computation(instr)
        if fused is None:
            continue
        if len(nodes) + len(fused.instructions) > max_nodes:
            truncated = True
            continue
        expanded[instr.name] = fused
        nodes[instr.name]["collapsed"] = False
        for inner in fused.instructions:
            nodes[inner.name] = _node(module, cost, inner, hop_of[instr.name], instr.name)

    edges: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def link(src: str, dst: str) -> None:
        if (src, dst) not in seen:
            seen.add((src, dst))
            edges.append({"from": src, "to": dst})

    def out_port(instr: Instruction) -> str:
        fused = expanded.get(instr.name)
        return fused.root.name if fused else instr.name

    def in_port(instr: Instruction, index: int) -> str:
        fused = expanded.get(instr.name)
        if fused:
            params = {p.parameter_number: p for p in fused.parameters()}
            if index in params:
                return params[index].name
        return instr.name

    for instr in order:
        for idx, operand in enumerate(module.operands(instr)):
            if operand.name in hop_of:
                link(out_port(operand), in_port(instr, idx))
    for fused in expanded.values():
        for inner in fused.instructions:
            for operand in module.operands(inner):
                link(operand.name, inner.name)

    return {
        "module": module.name,
        "computation": center.computation,
        "center": center.name,
        "hops": hops,
        "truncated": truncated,
        "nodes": list(nodes.values()),
        "edges": edges,
    }


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _human(n: int) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def to_dot(graph: dict[str, Any]) -> str:
    """Renders a `neighborhood` result as Graphviz DOT text.

    Expanded fusions become clusters holding their fused ops; the centre op
    has a bold outline; boundary nodes (more neighbours exist) are dashed.
    """
    lines = [
        "digraph hlo {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Courier", fontsize=10];',  # measurable
        "  edge [color=\"#555555\"];",
    ]

    def node_line(n: dict[str, Any], indent: str) -> str:
        parts = [n["name"], f"{n['opcode']} {n['shape']}"]
        cost = []
        if n["flops"]:
            cost.append(f"{_human(n['flops'])} FLOP")
        if n["bytes"]:
            cost.append(f"{_human(n['bytes'])}B")
        if cost:
            parts.append("  ".join(cost))
        # Escape each line, then join with DOT's own line break escape.
        label = "\\n".join(_quote(p)[1:-1] for p in parts)
        style = ["rounded", "filled"]
        if n["boundary"]:
            style.append("dashed")
        if n["center"]:
            style.append("bold")
        attrs = [f'label="{label}"',
                 f"fillcolor={_quote(CATEGORY_COLORS.get(n['category'], '#ffffff'))}",
                 f"style={_quote(','.join(style))}"]
        if n["center"]:
            attrs.append("penwidth=2.5")
        return f"{indent}{_quote(n['id'])} [{', '.join(attrs)}];"

    groups = {n["id"]: n for n in graph["nodes"] if n["fusion"] and not n["collapsed"]}
    for n in graph["nodes"]:
        if n["parent"] is None and n["id"] not in groups:
            lines.append(node_line(n, "  "))
    for gid, g in groups.items():
        lines.append(f"  subgraph {_quote('cluster_' + gid)} {{")
        lines.append(f"    label={_quote(gid + ' (' + (g['fusion_kind'] or 'fusion') + ')')};")
        lines.append('    style="rounded,filled"; fillcolor="#f3f6fd"; color="#8aa4d6";')
        if g["center"]:
            lines.append("    penwidth=2.5;")
        for n in graph["nodes"]:
            if n["parent"] == gid:
                lines.append(node_line(n, "    "))
        lines.append("  }")
    for e in graph["edges"]:
        lines.append(f"  {_quote(e['from'])} -> {_quote(e['to'])};")
    lines.append("}")
    return "\n".join(lines) + "\n"
