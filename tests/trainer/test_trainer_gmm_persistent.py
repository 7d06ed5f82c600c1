"""gmm.py's persistent schedule (Tiling.persistent): P programs taking the (row tile,
column tile) work items in turn give ragged_dot's values and gradients, for every
group layout of test_trainer_gmm (ragged, empty groups, one group holding every token,
fewer rows than M), with P not dividing the work (remainders), and P = 1 (one program
does everything; forward only, to spare a compile). Interpreted on CPU, compiled on GPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer import gmm

M, K, N = 64, 24, 40  # 4 row tiles x 3 column tiles of 16: 12 work items
INTERPRET = None
GROUPS = {
    "ragged": [3, 0, 20, 0, 9, 32],
    "empty_first_and_last": [0, 10, 30, 24, 0, 0],
    "one_group_holds_all": [0, 0, 64, 0, 0, 0],
    "fewer_rows_than_m": [5, 7, 0, 3, 0, 1],
    "all_empty": [0, 0, 0, 0, 0, 0],
}
PROGRAMS = (5, 1)


@pytest.fixture(autouse=True)
def _full_float32_matmuls():
    with jax.default_matmul_precision("highest"):
        yield


def _loss(f):
    return lambda x, w, s, d: jnp.sum(f(x, w, s) * d)


_ref = jax.jit(jax.value_and_grad(_loss(gmm.gmm_ragged_dot), argnums=(0, 1)))
_ours = jax.jit(jax.value_and_grad(_loss(
    lambda x, w, s: gmm.gmm_pallas(x, w, s, gmm.Tiling(16, 16, 16, persistent=5), INTERPRET)),
    argnums=(0, 1)))
_fwd = {p: jax.jit(lambda x, w, s, p=p: gmm.gmm_pallas(
    x, w, s, gmm.Tiling(16, 16, 16, persistent=p), INTERPRET)) for p in PROGRAMS}


def _close(a, b):
    b = np.asarray(b, np.float32)
    np.testing.assert_allclose(np.asarray(a, np.float32), b, rtol=1e-5,
                               atol=1e-5 * max(float(np.abs(b).max(initial=0.0)), 1.0))


def _case(name: str, programs: int, grads: bool = True) -> None:
    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.standard_normal((M, K)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((6, K, N)), jnp.float32)
    d = jnp.asarray(rng.standard_normal((M, N)), jnp.float32)
    sizes = jnp.asarray(GROUPS[name], jnp.int32)
    out = _fwd[programs](x, w, sizes)
    _close(out, gmm.gmm_ragged_dot(x, w, sizes))
    assert np.all(np.asarray(out)[int(sizes.sum()):] == 0), "rows past the last group: zeros"
    if not grads:
        return
    (val, (dx, dw)), (rval, (rdx, rdw)) = _ours(x, w, sizes, d), _ref(x, w, sizes, d)
    _close(val, rval)
    _close(dx, rdx)
    _close(dw, rdw)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_persistent_schedule_matches_ragged_dot(name: str) -> None:
    _case(name, 5)  # 12 work items over 5 programs: 3, 3, 2, 2, 2


def test_one_program_does_all_the_work() -> None:
    _case("ragged", 1, grads=False)
