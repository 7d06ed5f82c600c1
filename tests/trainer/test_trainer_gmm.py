"""gmm.py: our Pallas grouped matmul against jax.lax.ragged_dot.

The kernel runs compiled on a GPU and in the Pallas interpreter elsewhere
(INTERPRET = None). Every test runs with float32 matmuls at full precision so
that XLA's reference is not TF32 on GPU either.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer import gmm

M, K, N = 64, 24, 40  # not multiples of the tile: exercises padding
TILING = gmm.Tiling(16, 16, 16)
RTOL = 1e-5  # float32; only the accumulation order differs from ragged_dot
INTERPRET = None  # compiled on GPU, interpreted elsewhere
GROUPS = {
    "ragged": [3, 0, 20, 0, 9, 32],
    "empty_first_and_last": [0, 10, 30, 24, 0, 0],
    "one_group_holds_all": [0, 0, 64, 0, 0, 0],
    "first_holds_all": [64, 0, 0, 0, 0, 0],
    "last_holds_all": [0, 0, 0, 0, 0, 64],
    "fewer_rows_than_m": [5, 7, 0, 3, 0, 1],
    "all_empty": [0, 0, 0, 0, 0, 0],
}


@pytest.fixture(autouse=True)
def _full_float32_matmuls():
    with jax.default_matmul_precision("highest"):
        yield


def _inputs(dtype=jnp.float32, seed=0):
    rng = np.random.default_rng(seed)
    lhs = jnp.asarray(rng.standard_normal((M, K)), dtype)
    rhs = jnp.asarray(rng.standard_normal((len(GROUPS["ragged"]), K, N)), dtype)
    dout = jnp.asarray(rng.standard_normal((M, N)), dtype)
    return lhs, rhs, dout


def _close(actual, expected, rtol=RTOL):
    expected = np.asarray(expected, np.float32)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(np.asarray(actual, np.float32), expected, rtol=rtol,
                               atol=rtol * scale)


def _loss(impl):
    def f(lhs, rhs, sizes, dout):
        if impl == "pallas":
            out = gmm.gmm_pallas(lhs, rhs, sizes, TILING, INTERPRET)
        else:
            out = gmm.gmm_ragged_dot(lhs, rhs, sizes)
        return jnp.sum(out * dout)
    return f


# Jitted once per shape; the group sizes are data, so every case reuses the compile.
_forward = {
    "pallas": jax.jit(lambda x, w, s: gmm.gmm_pallas(x, w, s, TILING, INTERPRET)),
    "ragged_dot": jax.jit(gmm.gmm_ragged_dot),
}
_grads = {impl: jax.jit(jax.grad(_loss(impl), argnums=(0, 1))) for impl in _forward}


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_forward_matches_ragged_dot(name):
    lhs, rhs, _ = _inputs()
    sizes = jnp.asarray(GROUPS[name], jnp.int32)
    out = _forward["pallas"](lhs, rhs, sizes)
    _close(out, _forward["ragged_dot"](lhs, rhs, sizes))
    total = int(sizes.sum())
    assert np.all(np.asarray(out[total:]) == 0), "rows past the last group must be zero"


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_gradients_match_ragged_dot(name):
    lhs, rhs, dout = _inputs(seed=1)
    sizes = jnp.asarray(GROUPS[name], jnp.int32)
    dlhs, drhs = _grads["pallas"](lhs, rhs, sizes, dout)
    ref_dlhs, ref_drhs = _grads["ragged_dot"](lhs, rhs, sizes, dout)
    _close(dlhs, ref_dlhs)
    _close(drhs, ref_drhs)
    empty = np.asarray(sizes) == 0
    assert np.all(np.asarray(drhs)[empty] == 0), "empty groups get a zero weight gradient"


def test_eager_custom_vjp_matches_jit():
    lhs, rhs, dout = _inputs(seed=5)
    sizes = jnp.asarray(GROUPS["ragged"], jnp.int32)
    eager = jax.grad(_loss("pallas"), argnums=(0, 1))(lhs, rhs, sizes, dout)
    for a, b in zip(eager, _grads["ragged_dot"](lhs, rhs, sizes, dout), strict=True):
        _close(a, b)


def test_jit_and_dispatch_agree():
    lhs, rhs, _ = _inputs(seed=2)
    sizes = jnp.asarray(GROUPS["ragged"], jnp.int32)
    jitted = jax.jit(lambda x, w, s: gmm.gmm(x, w, s, impl="pallas", tiling=TILING))
    _close(jitted(lhs, rhs, sizes), gmm.gmm(lhs, rhs, sizes, impl="ragged_dot"))


def test_bfloat16_inputs_accumulate_in_float32():
    lhs, rhs, _ = _inputs(jnp.bfloat16, seed=3)
    sizes = jnp.asarray(GROUPS["ragged"], jnp.int32)
    out = gmm.gmm_pallas(lhs, rhs, sizes, TILING, INTERPRET)
    assert out.dtype == jnp.bfloat16
    ref = gmm.gmm_ragged_dot(lhs.astype(jnp.float32), rhs.astype(jnp.float32), sizes)
    _close(out, ref, rtol=2e-2)  # one bf16 rounding of the f32 accumulator


def test_transposed_rhs_and_tgmm_match_per_group_math():
    lhs, rhs, dout = _inputs(seed=4)
    sizes = np.asarray(GROUPS["ragged"])
    ends = np.cumsum(sizes)
    starts = ends - sizes
    jsizes = jnp.asarray(sizes, jnp.int32)
    out_t = gmm.gmm_pallas_fwd(dout, rhs, jsizes, TILING, transpose_rhs=True, interpret=INTERPRET)
    w_grad = gmm.tgmm_pallas(lhs, dout, jsizes, TILING, interpret=INTERPRET)
    for g, (a, b) in enumerate(zip(starts, ends, strict=True)):
        _close(out_t[a:b], np.asarray(dout[a:b]) @ np.asarray(rhs[g]).T)
        _close(w_grad[g], np.asarray(lhs[a:b]).T @ np.asarray(dout[a:b]))


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match="gmm_impl"):
        gmm.resolve_impl("cutlass")
    assert gmm.resolve_impl("auto") in ("pallas", "ragged_dot")


def test_default_tiling_at_a_larger_size():
    """The tiling the trainer uses (128 x 64 x 128), straddling tiles and a padded K."""
    rng = np.random.default_rng(7)
    m, k, n, groups = 300, 192, 160, 8
    lhs = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    rhs = jnp.asarray(rng.standard_normal((groups, k, n)), jnp.float32)
    dout = jnp.asarray(rng.standard_normal((m, n)), jnp.float32)
    sizes = jnp.asarray(rng.multinomial(m - 20, np.full(groups, 1 / groups)), jnp.int32)

    def loss(impl):
        def f(x, w):
            if impl == "pallas":
                return jnp.sum(gmm.gmm_pallas(x, w, sizes, gmm.Tiling(), INTERPRET) * dout)
            return jnp.sum(gmm.gmm_ragged_dot(x, w, sizes) * dout)
        return f

    out = gmm.gmm_pallas(lhs, rhs, sizes, gmm.Tiling(), INTERPRET)
    _close(out, gmm.gmm_ragged_dot(lhs, rhs, sizes))
    for a, b in zip(jax.grad(loss("pallas"), argnums=(0, 1))(lhs, rhs),
                    jax.grad(loss("ragged_dot"), argnums=(0, 1))(lhs, rhs), strict=True):
        _close(a, b)
