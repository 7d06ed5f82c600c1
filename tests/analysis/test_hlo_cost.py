"""Cost model of HLO modules, cross-checked against XLA's own cost analysis.

Expected numbers come from shapes (2*m*k*n for a matmul, ...) or from XLA;
never from the code under test.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src.lib import xla_client
from jaxlib import _hlo

from xdiag.analysis import hlo_costs
from xdiag.analysis.hlo import (
    CATEGORIES,
    categorize,
    categorize_instruction,
    instruction_cost,
    module_cost,
    parse_module,
)
from xdiag.analysis.hlo.cost import cost_columns
from xdiag.analysis.hlo.proto import hlo_pb2
from xdiag.core.errors import InvalidProfile


def compile_module(f, *args):
    """(parsed module, XLA's compiled.cost_analysis()) of `jax.jit(f)(*args)` on CPU."""
    compiled = jax.jit(f).lower(*args).compile()
    raw = compiled.runtime_executable().hlo_modules()[0].as_serialized_hlo_module_proto()
    return parse_module(raw), compiled.cost_analysis()


def text_module(text: str):
    """Parsed module of HLO text (via jaxlib's parser) and XLA's cost analysis of it."""
    mod = _hlo.hlo_module_from_text(text)
    xla = xla_client._xla.hlo_module_cost_analysis(jax.devices()[0].client, mod)
    return parse_module(mod.as_serialized_hlo_module_proto()), xla


def dot_flops_of(module) -> int:
    """FLOPs of the dot-like ops wherever they sit (fused or not)."""
    cost = module_cost(module)
    return sum(cost.ops[i.name].flops for i in module.instructions()
               if i.opcode in ("dot", "ragged-dot", "convolution"))


@pytest.mark.parametrize("m,k,n", [(64, 128, 32), (17, 33, 5), (8, 256, 3)])
def test_matmul_flops_are_exact_and_match_xla(m, k, n):
    a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
    module, xla = compile_module(lambda a, b: a @ b, a, b)
    total = module_cost(module).total
    assert dot_flops_of(module) == 2 * m * k * n
    assert total.flops == 2 * m * k * n == xla["flops"]
    # Inputs read once and the output written once: XLA agrees on a lone matmul.
    assert total.bytes_accessed == 4 * (m * k + k * n + m * n) == xla["bytes accessed"]


def test_batched_dot_flops():
    b, m, k, n = 3, 16, 24, 8
    x, y = jnp.ones((b, m, k)), jnp.ones((b, k, n))
    module, xla = compile_module(lambda x, y: jnp.einsum("bmk,bkn->bmn", x, y), x, y)
    assert dot_flops_of(module) == 2 * b * m * k * n
    assert module_cost(module).total.flops == xla["flops"]


def test_mlp_with_tanh_matches_xla():
    batch, d_in, hidden, d_out = 32, 64, 128, 16

    def mlp(x, w1, b1, w2):
        return jnp.tanh(x @ w1 + b1) @ w2

    args = (jnp.ones((batch, d_in)), jnp.ones((d_in, hidden)), jnp.ones((hidden,)),
            jnp.ones((hidden, d_out)))
    module, xla = compile_module(mlp, *args)
    total = module_cost(module).total
    matmuls = 2 * batch * d_in * hidden + 2 * batch * hidden * d_out
    assert dot_flops_of(module) == matmuls
    assert total.flops == matmuls + batch * hidden  # + one add per bias element
    assert total.transcendentals == batch * hidden == xla["transcendentals"]
    assert total.flops == xla["flops"]
    assert total.bytes_accessed == xla["bytes accessed"]
    assert sum(total.flops_by_category.values()) == total.flops


def test_training_step_with_many_fusions_matches_xla():
    tokens, d, hidden = 128, 64, 256

    def loss(p, x):
        h = jax.nn.gelu(x @ p["w1"]) @ p["w2"]
        att = jax.nn.softmax((x @ p["q"]) @ (x @ p["k"]).T / 8.0) @ (x @ p["v"])
        return jnp.mean((h + att - x) ** 2)

    shapes = {"w1": (d, hidden), "w2": (hidden, d), "q": (d, d), "k": (d, d), "v": (d, d)}
    params = {k: jnp.full(s, 0.01) for k, s in shapes.items()}
    module, xla = compile_module(jax.grad(loss), params, jnp.ones((tokens, d)))
    assert sum(i.opcode == "fusion" for i in module.entry.instructions) > 10
    total = module_cost(module).total
    assert (total.flops, total.transcendentals) == (xla["flops"], xla["transcendentals"])
    # Bytes differ by a few dozen out of millions: when a fused parameter is
    # read both whole and through a slice, XLA adds the slice again, while we
    # count the value read once.
    assert total.bytes_accessed == pytest.approx(xla["bytes accessed"], rel=1e-4)
    # Matmuls from shapes: 5 forward products of x (two for the MLP, three
    # projections), two attention products; backward, weight gradients plus
    # the activation gradients the chain needs (none for the input x).
    mlp, proj, attn = 2 * tokens * d * hidden, 2 * tokens * d * d, 2 * tokens * tokens * d
    forward = 2 * mlp + 3 * proj + 2 * attn
    backward = 3 * mlp + 3 * proj + 4 * attn
    assert dot_flops_of(module) == forward + backward


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_convolution_flops(padding):
    n, c, h, w, o, kh, kw = 2, 3, 12, 10, 8, 3, 5
    x, k = jnp.ones((n, c, h, w)), jnp.ones((o, c, kh, kw))

    def conv(x, k):
        return jax.lax.conv_general_dilated(x, k, (1, 1), padding)

    module, xla = compile_module(conv, x, k)
    # Independent count of multiply-adds that touch real input: convolving
    # ones with ones gives, per output element, c * (taps inside the image).
    macs = int(np.asarray(conv(x, k)).sum())
    if padding == "VALID":
        assert macs == n * o * c * kh * kw * (h - kh + 1) * (w - kw + 1)
    assert dot_flops_of(module) == 2 * macs
    assert module_cost(module).total.flops == xla["flops"]


def test_ragged_dot_counts_each_token_once_unlike_xla():
    m, k, n, g = 64, 32, 16, 4
    lhs, rhs = jnp.ones((m, k)), jnp.ones((g, k, n))
    group_sizes = jnp.array([10, 30, 0, 24], jnp.int32)
    # On CPU jax expands ragged_dot into a dense masked matmul before XLA sees
    # it; lowering for TPU keeps the real `ragged-dot` instruction.
    lowered = jax.jit(jax.lax.ragged_dot).trace(lhs, rhs, group_sizes).lower(
        lowering_platforms=("tpu",))
    hlo = lowered.compiler_ir("hlo")
    module = parse_module(hlo.as_serialized_hlo_module_proto())
    assert [i.opcode for i in module.instructions()].count("ragged-dot") == 1
    assert module_cost(module).total.flops == 2 * m * k * n

    xla = xla_client._xla.hlo_module_cost_analysis(jax.devices()[0].client, hlo.get_hlo_module())
    assert xla["flops"] != 2 * m * k * n
    # What compiled.cost_analysis() reports on CPU: every token meets every expert.
    cpu = jax.jit(jax.lax.ragged_dot).lower(lhs, rhs, group_sizes).compile().cost_analysis()
    assert cpu["flops"] >= 2 * m * k * n * g


def test_ragged_dot_with_ragged_contraction():
    m, k, n, g = 64, 32, 16, 4
    module, xla = text_module(f"""HloModule r
ENTRY e {{
  lhs = f32[{m},{k}] parameter(0)
  rhs = f32[{k},{n}] parameter(1)
  gs = s32[{g}] parameter(2)
  ROOT r = f32[{g},{m},{n}] ragged-dot(lhs, rhs, gs), lhs_contracting_dims={{1}},
      rhs_contracting_dims={{0}}, lhs_ragged_dims={{1}}
}}""")
    # The groups split k, so the g output slices together cost one m*k*n product.
    assert module_cost(module).total.flops == 2 * m * k * n
    assert xla["flops"] == 2 * m * k * n * g


def test_fusion_sums_inside_flops_and_counts_only_its_boundary_bytes():
    size = 4096
    x = jnp.ones((size,))

    def f(x, y, z):
        return jnp.exp(x) * y + z

    module, xla = compile_module(f, x, x, x)
    fusions = [i for i in module.entry.instructions if i.opcode == "fusion"]
    assert len(fusions) == 1  # one loop fusion: the test needs XLA to fuse
    cost = module_cost(module).ops[fusions[0].name]
    assert cost.category == "fusion"
    assert (cost.flops, cost.transcendentals) == (2 * size, size)
    # Three inputs read, one output written; the exp and product stay on chip.
    assert (cost.bytes_read, cost.bytes_written) == (3 * 4 * size, 4 * size)
    total = module_cost(module).total
    assert (total.flops, total.transcendentals) == (xla["flops"], xla["transcendentals"])
    assert total.bytes_accessed == xla["bytes accessed"]


def test_fusion_reading_a_slice_and_updating_in_place():
    rows, cols = 1024, 64
    module, xla = text_module(f"""HloModule f
sliced {{
  p0 = f32[{rows},{cols}] parameter(0)
  i = s32[] parameter(1)
  z = s32[] constant(0)
  ds = f32[1,{cols}] dynamic-slice(p0, i, z), dynamic_slice_sizes={{1,{cols}}}
  ROOT n = f32[1,{cols}] negate(ds)
}}
updated {{
  p0 = f32[{rows},{cols}] parameter(0)
  u = f32[1,{cols}] parameter(1)
  i = s32[] parameter(2)
  z = s32[] constant(0)
  ROOT d = f32[{rows},{cols}] dynamic-update-slice(p0, u, i, z)
}}
ENTRY e {{
  p = f32[{rows},{cols}] parameter(0)
  i = s32[] parameter(1)
  row = f32[1,{cols}] fusion(p, i), kind=kLoop, calls=sliced
  ROOT upd = f32[{rows},{cols}] fusion(p, row, i), kind=kLoop, calls=updated
}}""")
    cost = module_cost(module)
    row_bytes = 4 * cols
    assert (cost.ops["row"].bytes_read, cost.ops["row"].bytes_written) == (row_bytes + 4, row_bytes)
    assert (cost.ops["upd"].bytes_read, cost.ops["upd"].bytes_written) == (row_bytes + 4, row_bytes)
    assert cost.total.bytes_accessed == xla["bytes accessed"]


def test_while_loop_multiplies_body_by_known_trip_count():
    trips, m, k = 5, 32, 64

    def loop(x, w):
        return jax.lax.fori_loop(0, trips, lambda i, x: jnp.tanh(x @ w), x)

    module, xla = compile_module(loop, jnp.ones((m, k)), jnp.ones((k, k)))
    cost = module_cost(module)
    (loop_name,) = [i.name for i in module.instructions() if i.opcode == "while"]
    assert cost.trip_counts == {loop_name: trips}
    assert cost.total.flops_by_category["fusion"] >= trips * 2 * m * k * k
    assert cost.total.transcendentals == trips * m * k
    # XLA's cost analysis counts a loop body once, whatever the trip count.
    assert xla["transcendentals"] == m * k
    assert cost.total.complete


def test_collectives_are_flagged_with_payload_bytes():
    rows, cols, devices = 8, 16, 4
    shard = 4 * rows * cols
    module, _ = text_module(f"""HloModule c, replica_count={devices}
add {{
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}}
wrapped {{
  q = f32[{rows},{cols}] parameter(0)
  ROOT g = f32[{devices * rows},{cols}] all-gather(q), replica_groups={{{{0,1,2,3}}}}, dimensions={{0}}
}}
ENTRY e {{
  p = f32[{rows},{cols}] parameter(0)
  ar = f32[{rows},{cols}] all-reduce(p), replica_groups={{{{0,1,2,3}}}}, to_apply=add
  ag = f32[{devices * rows},{cols}] all-gather(ar), replica_groups={{{{0,1,2,3}}}}, dimensions={{0}}
  rs = f32[{rows},{cols}] reduce-scatter(ag), replica_groups={{{{0,1,2,3}}}}, dimensions={{0}}, to_apply=add
  a2a = f32[{rows},{cols}] all-to-all(rs), replica_groups={{{{0,1,2,3}}}}, dimensions={{0}}
  cp = f32[{rows},{cols}] collective-permute(a2a), source_target_pairs={{{{0,1}},{{1,2}},{{2,3}},{{3,0}}}}
  start = ((f32[{rows},{cols}]), f32[{devices * rows},{cols}]) async-start(cp), calls=wrapped
  ROOT done = f32[{devices * rows},{cols}] async-done(start), calls=wrapped
}}""")
    cost = module_cost(module)
    expected = {"ar": shard, "ag": devices * shard, "rs": devices * shard, "a2a": shard,
                "cp": shard, "start": devices * shard}
    for name, payload in expected.items():
        assert cost.ops[name].category == "collective", name
        assert cost.ops[name].collective_bytes == payload, name
    assert categorize_instruction(module, module.instruction("done")) == "collective"
    assert cost.ops["done"].collective_bytes == 0  # counted once, at the start
    # The reductions add one value per element they combine.
    assert cost.ops["ar"].flops == rows * cols
    assert cost.ops["rs"].flops == devices * rows * cols
    assert cost.total.collective_bytes == sum(expected.values())


def test_custom_calls_recognised_by_target():
    m, k, n = 64, 32, 16
    module, _ = text_module(f"""HloModule cc
ENTRY e {{
  a = f32[{m},{k}] parameter(0)
  b = f32[{k},{n}] parameter(1)
  gemm = (f32[{m},{n}], s8[1024]) custom-call(a, b), custom_call_target="__cublas$gemm",
      backend_config={{"gemm_backend_config":{{"dot_dimension_numbers":{{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"],"lhs_batch_dimensions":[],"rhs_batch_dimensions":[]}}}}}}
  kernel = f32[{m},{n}] custom-call(a, b), custom_call_target="tpu_custom_call",
      backend_config={{"custom_call_config":{{"body":"x","cost_estimate":{{"flops":1234,"transcendentals":5,"bytes_accessed":9}}}}}}
  ROOT mystery = f32[{m},{n}] custom-call(kernel), custom_call_target="my_op"
}}""")
    gemm, kernel, mystery = (instruction_cost(module, n) for n in ("gemm", "kernel", "mystery"))
    assert (gemm.category, gemm.flops) == ("dot", 2 * m * k * n)
    assert (kernel.category, kernel.flops, kernel.transcendentals) == ("custom_call", 1234, 5)
    assert mystery.category == "custom_call" and not mystery.complete
    assert not module_cost(module).total.complete


@pytest.mark.parametrize("opcode,target,category", [
    ("fusion", "", "fusion"),
    ("dot", "", "dot"),
    ("convolution", "", "dot"),
    ("ragged-dot", "", "dot"),
    ("custom-call", "__cublas$lt$matmul", "dot"),
    ("custom-call", "__cudnn$convForward", "dot"),
    ("custom-call", "tpu_custom_call", "custom_call"),
    ("custom-call", "MoveToHost", "copy"),
    ("all-reduce", "", "collective"),
    ("all-gather-start", "", "collective"),
    ("reduce-scatter", "", "collective"),
    ("all-to-all", "", "collective"),
    ("collective-permute-done", "", "collective"),
    ("copy", "", "copy"),
    ("transpose", "", "copy"),
    ("dynamic-update-slice", "", "copy"),
    ("add", "", "elementwise"),
    ("tanh", "", "elementwise"),
    ("convert", "", "elementwise"),
    ("reduce", "", "reduction"),
    ("reduce-window", "", "reduction"),
    ("while", "", "control_flow"),
    ("conditional", "", "control_flow"),
    ("parameter", "", "other"),
    ("get-tuple-element", "", "other"),
])
def test_categorize(opcode, target, category):
    assert category in CATEGORIES
    assert categorize(opcode, target) == category


@pytest.mark.parametrize("op,flops,trans", [
    ("add", 1, 0), ("multiply", 1, 0), ("select", 1, 0), ("exponential", 0, 1),
    ("tanh", 0, 1), ("rsqrt", 0, 1), ("power", 0, 1), ("negate", 1, 0),
])
def test_elementwise_flops_match_xla(op, flops, trans):
    rows, cols = 8, 16
    unary = op in ("exponential", "tanh", "rsqrt", "negate")
    if op == "select":
        body = "c = pred[8,16] parameter(2)\n  ROOT r = f32[8,16] select(c, p0, p1)"
    else:
        args = "p0" if unary else "p0, p1"
        body = f"ROOT r = f32[{rows},{cols}] {op}({args})"
    module, xla = text_module(f"""HloModule t
ENTRY e {{
  p0 = f32[{rows},{cols}] parameter(0)
  p1 = f32[{rows},{cols}] parameter(1)
  {body}
}}""")
    total = module_cost(module).total
    assert (total.flops, total.transcendentals) == (flops * rows * cols, trans * rows * cols)
    assert total.flops == xla.get("flops", 0)
    assert total.transcendentals == xla.get("transcendentals", 0)
    assert total.bytes_accessed == xla["bytes accessed"]


def test_reduce_flops_match_xla():
    rows, cols = 8, 16
    module, xla = text_module(f"""HloModule t
add {{
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}}
ENTRY e {{
  p0 = f32[{rows},{cols}] parameter(0)
  z = f32[] constant(0)
  ROOT r = f32[{rows}] reduce(p0, z), dimensions={{1}}, to_apply=add
}}""")
    total = module_cost(module).total
    assert total.flops == rows * (cols - 1) == xla["flops"]
    assert total.bytes_accessed == xla["bytes accessed"]


# --- The C model's input handling (xdiag/analysis/_hlocost.c) ----------------


@pytest.fixture(scope="module")
def train_step_raw() -> bytes:
    def loss(w, x):
        return jnp.mean(jnp.tanh(x @ w["a"]) @ w["b"])

    w = {"a": jnp.ones((32, 64)), "b": jnp.ones((64, 8))}
    compiled = jax.jit(jax.grad(loss)).lower(w, jnp.ones((16, 32))).compile()
    return compiled.runtime_executable().hlo_modules()[0].as_serialized_hlo_module_proto()


def _columns_equal(a, b) -> bool:
    return (a.names == b.names and a.total == b.total and a.trip_counts == b.trip_counts
            and all(np.array_equal(getattr(a, f), getattr(b, f))
                    for f in ("flops", "transcendentals", "bytes_read", "bytes_written",
                              "collective_bytes", "category", "fused_category", "complete")))


def test_wrapped_and_bare_module_bytes_cost_the_same(train_step_raw):
    wrapped = hlo_pb2.HloProto()
    wrapped.hlo_module.ParseFromString(train_step_raw)
    bare, inner = cost_columns(train_step_raw), cost_columns(wrapped.SerializeToString())
    assert len(bare.names) == sum(1 for _ in parse_module(train_step_raw).instructions())
    assert _columns_equal(bare, inner)


def test_ingest_costs_are_the_model_costs(train_step_raw):
    module = parse_module(train_step_raw)
    mc, plain = module_cost(module), hlo_costs.module_costs(train_step_raw)
    assert plain["instructions"] == len(mc.ops)
    assert plain["flops"] == mc.total.flops and plain["bytes"] == mc.total.bytes_accessed
    costs = hlo_costs.OpCosts(plain["ops"])
    assert list(costs) == list(mc.ops)
    # Inside a fusion: in a computation the parser marks as fused (by the proto's own
    # fusion flag), whose cost its fusion instruction carries.
    fused = {i.name for comp in module.computations if comp.is_fusion for i in comp.instructions}
    assert fused
    for name, c in mc.ops.items():
        # A fusion around a collective is filed as the collective.
        shown = "collective" if c.fused_category == "collective" else c.category
        assert costs[name] == hlo_costs.OpCostInfo(c.flops, c.bytes_accessed, shown,
                                              c.fused_category, name in fused)


@pytest.mark.parametrize("data,reason", [
    (b"", "no computations"),
    # the wire errors are worded once, for both C parsers (core/wire.h)
    (b"\x00\x01garbage", "invalid field tag at byte 0"),
    (b"\x1a\x10short", "length runs past the end of its message at byte 1"),
])
def test_bad_bytes_raise_invalid_profile_with_the_reason(data, reason):
    with pytest.raises(InvalidProfile, match=reason):
        cost_columns(data)


def test_truncated_and_corrupted_modules_fail_cleanly(train_step_raw):
    """Every cut and byte flip either costs (it still parses) or raises InvalidProfile."""
    rng = np.random.default_rng(7)
    raw = train_step_raw
    cases = [raw[:n] for n in rng.integers(1, len(raw), 60)]
    for _ in range(60):
        flipped = bytearray(raw)
        for at in rng.integers(0, len(raw), 4):
            flipped[at] = int(rng.integers(0, 256))
        cases.append(bytes(flipped))
    failed = 0
    for data in cases:
        try:
            cols = cost_columns(data)
        except InvalidProfile:
            failed += 1
            continue
        assert len(cols.names) == len(cols.flops) == len(cols.category)
    assert failed > 0  # the cuts do land inside fields


def test_bad_dimension_numbers_and_self_calls_are_errors(train_step_raw):
    proto = hlo_pb2.HloModuleProto.FromString(train_step_raw)
    dot = next(i for c in proto.computations for i in c.instructions if i.opcode == "dot")
    dot.dot_dimension_numbers.lhs_contracting_dimensions[:] = [-9]
    with pytest.raises(InvalidProfile, match="dimension index out of range"):
        cost_columns(proto.SerializeToString())

    proto = hlo_pb2.HloModuleProto.FromString(train_step_raw)
    fused = next(c for c in proto.computations if c.is_fusion_computation)
    inner = next(i for i in fused.instructions if i.opcode != "parameter")
    inner.opcode = "fusion"
    inner.called_computation_ids[:] = [fused.id]
    with pytest.raises(InvalidProfile, match="depends on itself"):
        cost_columns(proto.SerializeToString())
