"""Parsing HloModuleProto / HloProto bytes into the module model, and HLO text."""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import pytest
from jaxlib import _hlo

from xdiag.analysis.hlo import format_module, parse_module
from xdiag.analysis.hlo.proto import hlo_pb2
from xdiag.core.errors import InvalidProfile, NotFound
from xdiag.serving.hlo import hlo_text

BATCH, D_IN, HIDDEN = 8, 32, 16


def _mlp(x, w, b):
    return jnp.tanh(x @ w + b).sum(axis=1)


@pytest.fixture(scope="module")
def compiled():
    args = (jnp.ones((BATCH, D_IN), jnp.float32), jnp.ones((D_IN, HIDDEN), jnp.bfloat16),
            jnp.ones((HIDDEN,), jnp.float32))
    return jax.jit(_mlp).lower(*args).compile().runtime_executable().hlo_modules()[0]


@pytest.fixture(scope="module")
def raw(compiled) -> bytes:
    return compiled.as_serialized_hlo_module_proto()


@pytest.fixture(scope="module")
def module(raw):
    return parse_module(raw)


def _defined_names(text: str) -> list[str]:
    return re.findall(r"^\s*(?:ROOT )?%?([\w.\-]+) = ", text, flags=re.M)


def test_instructions_match_jaxlib(module, compiled):
    text = compiled.to_string()
    ours = [i.name for i in module.instructions()]
    assert sorted(ours) == sorted(_defined_names(text))
    assert len(set(ours)) == len(ours)
    assert module.name == compiled.name
    assert {c.name for c in module.computations} == {
        c.name for c in compiled.computations()}


def test_entry_parameters_have_the_argument_shapes(module):
    params = module.entry.parameters()
    assert [(p.shape.dtype, p.shape.dims) for p in params] == [
        ("f32", (BATCH, D_IN)), ("bf16", (D_IN, HIDDEN)), ("f32", (HIDDEN,))]
    assert [p.shape.byte_size for p in params] == [4 * BATCH * D_IN, 2 * D_IN * HIDDEN,
                                                   4 * HIDDEN]
    assert str(params[1].shape) == f"bf16[{D_IN},{HIDDEN}]"
    assert module.entry.root.shape.dims == (BATCH,)


def test_operands_and_users_are_inverse(module):
    for comp in module.computations:
        for instr in comp.instructions:
            for op in module.operands(instr):
                assert op.computation == comp.name
                assert instr in module.users(op)
            for user in module.users(instr):
                assert instr in module.operands(user)


def test_fusions_point_at_fused_computations(module):
    fusions = [i for i in module.instructions() if i.opcode == "fusion"]
    assert fusions
    for f in fusions:
        fused = module.fused_computation(f)
        assert fused is not None and fused.is_fusion
        assert len(fused.parameters()) == len(f.operand_ids)
        assert module.caller(fused) == f
        assert f.fusion_kind.startswith("k")


def test_metadata_names_the_jax_op_and_this_file(module):
    dots = [i for i in module.instructions() if i.opcode == "dot"]
    assert dots and all("dot_general" in d.op_name for d in dots)
    assert all(d.source.startswith(__file__ + ":") for d in dots)
    line = int(dots[0].source.rsplit(":", 1)[1])
    with open(__file__) as f:
        assert "x @ w" in f.read().splitlines()[line - 1]


def test_lookup_by_name_and_clear_error(module):
    root = module.entry.root
    assert module.instruction(root.name) is root
    assert module.computation(module.entry.name) is module.entry
    assert module.computation(module.entry.id) is module.entry
    with pytest.raises(NotFound, match="did you mean") as err:
        module.instruction(root.name + "x")
    assert err.value.status == 404
    with pytest.raises(NotFound):
        module.computation("no-such-computation")


def test_hlo_proto_wrapper_is_accepted(raw, module):
    wrapped = hlo_pb2.HloProto()
    wrapped.hlo_module.ParseFromString(raw)
    again = parse_module(wrapped.SerializeToString())
    assert [i.name for i in again.instructions()] == [i.name for i in module.instructions()]
    assert again.entry.name == module.entry.name
    # Re-serialized module bytes keep the fields our subset does not declare,
    # so jaxlib prints exactly the same module.
    assert hlo_text(again) == hlo_text(module)


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage", b"\n\x05hello"])
def test_bad_bytes_raise_invalid_profile(data):
    with pytest.raises(InvalidProfile):
        parse_module(data)


def test_hlo_text_from_jaxlib(module, compiled):
    text = hlo_text(module)
    # Same as printing the compiled module, bar the header's compile options
    # (module config, which the proto does not carry).
    assert text.split("\n", 1)[1] == compiled.to_string().split("\n", 1)[1]
    assert "metadata=" not in hlo_text(module, metadata=False)


def test_fallback_printer_when_jaxlib_cannot_parse(module):
    broken = dataclasses.replace(module, raw=b"\xff not a proto")
    text = hlo_text(broken)
    assert text == format_module(module)
    assert sorted(_defined_names(text)) == sorted(i.name for i in module.instructions())
    assert f"ENTRY %{module.entry.name} " in text
    for comp in module.computations:
        assert f"ROOT %{comp.root.name} = " in text


def test_printed_text_round_trips_through_xla_parser():
    def f(x, w):
        y = jax.lax.fori_loop(0, 3, lambda i, y: jnp.tanh(y @ w), x)
        return y.sum(axis=1), 0.5 * y

    args = jnp.ones((BATCH, D_IN)), jnp.ones((D_IN, D_IN))
    hlo = jax.jit(f).lower(*args).compile().runtime_executable().hlo_modules()[0]
    module = parse_module(hlo.as_serialized_hlo_module_proto())
    assert {"while", "fusion", "constant", "tuple"} <= {i.opcode for i in module.instructions()}
    # Our printer writes XLA's syntax (while, fusions, constants, metadata), so
    # XLA's parser reads it back into the same instructions.
    again = parse_module(
        _hlo.hlo_module_from_text(format_module(module)).as_serialized_hlo_module_proto())
    assert [(i.name, i.opcode, str(i.shape), i.literal) for i in again.instructions()] == [
        (i.name, i.opcode, str(i.shape), i.literal) for i in module.instructions()]
    assert [i.op_name for i in again.instructions()] == [i.op_name for i in module.instructions()]


def test_every_instruction_field_is_set_and_shapes_are_shared(module):
    """Instructions are built without the dataclass __init__ and shapes are memoised:
    every field must still be there, and equal shapes must be the same object."""
    from xdiag.analysis.hlo.module import Instruction

    names = [f.name for f in dataclasses.fields(Instruction)]
    seen = {}
    for instr in module.instructions():
        assert set(names) <= set(vars(instr)), instr.name
        seen.setdefault(instr.shape, instr.shape)
        assert seen[instr.shape] is instr.shape
