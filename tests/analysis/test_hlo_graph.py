"""The HLO graph around an op: neighbourhood, fusion expansion, JSON and DOT."""

from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import pytest
from jaxlib import _hlo

from xdiag.analysis.hlo import module_cost, neighborhood, parse_module, to_dot
from xdiag.core.errors import NotFound

N = 16
# p0 -> n1 -> n2 -> f(n2, p1) -> n3 -> n4 -> out(n4, f); f fuses mul then exp.
TEXT = f"""HloModule g
fused_mul {{
  fa = f32[{N}] parameter(0)
  fb = f32[{N}] parameter(1)
  fm = f32[{N}] multiply(fa, fb)
  ROOT fe = f32[{N}] exponential(fm)
}}
ENTRY main {{
  p0 = f32[{N}] parameter(0)
  p1 = f32[{N}] parameter(1)
  n1 = f32[{N}] negate(p0)
  n2 = f32[{N}] abs(n1)
  f = f32[{N}] fusion(n2, p1), kind=kLoop, calls=fused_mul
  n3 = f32[{N}] negate(f)
  n4 = f32[{N}] sqrt(n3)
  ROOT out = f32[{N}] add(n4, f)
}}"""


@pytest.fixture(scope="module")
def module():
    return parse_module(_hlo.hlo_module_from_text(TEXT).as_serialized_hlo_module_proto())


def _ids(graph) -> set[str]:
    return {n["id"] for n in graph["nodes"]}


def _edges(graph) -> set[tuple[str, str]]:
    return {(e["from"], e["to"]) for e in graph["edges"]}


def test_one_hop_collapsed(module):
    g = neighborhood(module, "f", hops=1)
    assert _ids(g) == {"f", "n2", "p1", "n3", "out"}
    assert _edges(g) == {("n2", "f"), ("p1", "f"), ("f", "n3"), ("f", "out")}
    nodes = {n["id"]: n for n in g["nodes"]}
    assert nodes["f"]["center"] and nodes["f"]["fusion"] and nodes["f"]["collapsed"]
    assert nodes["f"]["category"] == "fusion"
    # multiply: N flops, exp: N transcendentals; reads two inputs, writes one.
    assert (nodes["f"]["flops"], nodes["f"]["transcendentals"]) == (N, N)
    assert nodes["f"]["bytes"] == 3 * 4 * N
    assert nodes["f"]["shape"] == f"f32[{N}]"
    assert {n["id"] for n in g["nodes"] if n["boundary"]} == {"n2", "n3", "out"}
    assert not g["truncated"] and g["computation"] == "main"
    json.dumps(g)


def test_two_hops_reach_further(module):
    g = neighborhood(module, "f", hops=2)
    assert _ids(g) == {"f", "n2", "p1", "n3", "out", "n1", "n4"}
    hop = {n["id"]: n["hop"] for n in g["nodes"]}
    assert hop["f"] == 0 and hop["n2"] == 1 and hop["n1"] == 2 and hop["n4"] == 2
    assert ("n4", "out") in _edges(g) and ("n3", "n4") in _edges(g)
    assert neighborhood(module, "f", hops=0)["nodes"][0]["id"] == "f"
    assert len(neighborhood(module, "f", hops=0)["nodes"]) == 1


def test_node_limit_keeps_the_nearest(module):
    g = neighborhood(module, "f", hops=3, max_nodes=3)
    assert g["truncated"]
    assert len(g["nodes"]) == 3
    assert "f" in _ids(g)
    assert all(n["hop"] <= 1 for n in g["nodes"])
    assert all(e["from"] in _ids(g) and e["to"] in _ids(g) for e in g["edges"])


@pytest.mark.parametrize("expand", [True, ["f"]])
def test_expanded_fusion_shows_its_fused_computation(module, expand):
    g = neighborhood(module, "f", hops=1, expand=expand)
    nodes = {n["id"]: n for n in g["nodes"]}
    assert not nodes["f"]["collapsed"]
    assert {k for k, n in nodes.items() if n["parent"] == "f"} == {"fa", "fb", "fm", "fe"}
    # Edges enter at the fused parameters and leave from the fused root.
    assert _edges(g) == {("n2", "fa"), ("p1", "fb"), ("fa", "fm"), ("fb", "fm"),
                         ("fm", "fe"), ("fe", "n3"), ("fe", "out")}
    cost = module_cost(module)
    assert nodes["fm"]["flops"] == cost.ops["fm"].flops == N
    assert nodes["fe"]["category"] == "elementwise"


def test_expansion_respects_the_node_limit(module):
    g = neighborhood(module, "f", hops=1, expand=True, max_nodes=6)
    assert g["truncated"]
    assert {n["id"] for n in g["nodes"]} == {"f", "n2", "p1", "n3", "out"}
    assert next(n for n in g["nodes"] if n["id"] == "f")["collapsed"]


def test_op_inside_a_fusion(module):
    g = neighborhood(module, "fm", hops=1)
    assert g["computation"] == "fused_mul"
    assert _ids(g) == {"fm", "fa", "fb", "fe"}


def test_unknown_op_raises_not_found(module):
    with pytest.raises(NotFound, match="'nope' is not in HLO module 'g'"):
        neighborhood(module, "nope")
    with pytest.raises(NotFound, match="did you mean"):
        neighborhood(module, "n33")


def test_dot_text(module):
    g = neighborhood(module, "f", hops=2, expand=True)
    dot = to_dot(g)
    assert dot.startswith("digraph hlo {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    declared = set(re.findall(r'^\s*"([^"]+)" \[label=', dot, flags=re.M))
    assert declared == _ids(g) - {"f"}  # the expanded fusion is a cluster, not a node
    assert 'subgraph "cluster_f"' in dot
    drawn = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, flags=re.M))
    assert drawn == _edges(g)
    assert "penwidth" in to_dot(neighborhood(module, "n3", hops=1))  # the centre stands out


def test_graph_of_a_compiled_jax_module():
    m, k, n = 32, 64, 16

    def f(x, w):
        return jax.nn.relu(x @ w).sum()

    hlo = jax.jit(f).lower(jnp.ones((m, k)), jnp.ones((k, n))).compile()
    module = parse_module(
        hlo.runtime_executable().hlo_modules()[0].as_serialized_hlo_module_proto())
    cost = module_cost(module)
    (dot,) = [i for i in module.instructions() if i.opcode == "dot"]
    fusion = module.caller(module.computation(dot.computation))
    g = neighborhood(module, fusion.name, hops=2, cost=cost, expand=[fusion.name])
    nodes = {x["id"]: x for x in g["nodes"]}
    assert nodes[dot.name]["flops"] == 2 * m * k * n
    assert nodes[dot.name]["parent"] == fusion.name
    params = [p.name for p in module.entry.parameters()]
    assert set(params) <= set(nodes)
    assert all(nodes[x["to"]]["parent"] == fusion.name
               for x in g["edges"] if x["from"] in params)
    json.dumps(g)
    assert dot.name in to_dot(g)
