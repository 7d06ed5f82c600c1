"""Grouped matrix multiply (GMM): our Pallas kernel and the `ragged_dot` reference.

Rows of `lhs_MxK` are sorted by group: group g owns rows
[starts_G[g], ends_G[g]) where ends_G = cumsum(group_sizes_G). Group g is
multiplied by `rhs_GxKxN[g]`. Rows past sum(group_sizes_G) produce zeros, as
in `jax.lax.ragged_dot`.

Kernel design (learned from the public megablox idea, written here from
scratch and shaped for the Triton/interpret backends):

* `gmm`: one program per (row tile i, column tile j). A row tile may straddle
  several groups, so the program loops over exactly the groups that overlap
  it (range precomputed in plain JAX by `_tile_group_range`); for each group
  it zeroes the lhs rows outside the group and accumulates lhs @ rhs[g] into
  ONE float32 accumulator (a second per-group accumulator would double the
  registers a GPU program holds and spill).
* `tgmm` (weight gradient): one program per (group g, K tile, N tile); it
  loops over the row tiles group g touches and accumulates lhs^T @ dout with
  rows outside the group masked. Empty groups run no iterations: zeros.
* Masking only where needed: tiles wholly inside a group feed their loads to
  the dot untouched (GPU: a load -> matrix-unit pipeline with no register
  round trip); only the at most two straddling tiles per group are masked.
* The custom VJP: d_lhs = gmm(dout, rhs, transposed) and d_rhs = tgmm(lhs, dout).
* Persistent schedule (`Tiling.persistent = P`, forward and dx): P programs instead of
  one per (row tile, column tile); the (tile, column) work items are numbered row tile
  major and program p takes items p, p + P, ... At any moment the running programs
  hold P consecutive items: a few row tiles, all their columns, hence the weights of
  the one or two groups those rows belong to, which stay in L2 (the group ranges of
  each tile are computed outside the kernel, as before). Tiles past the last group's
  rows only write zeros: no fully-masked tile does any multiply.

All refs are whole arrays indexed with `pl.ds`, so only (tile x tile) values
are ever loaded; every tile size must be a power of two >= 16 on GPU (Triton's
dot). float32 operands are multiplied in full float32 (Triton would otherwise
use TF32 and lose three decimal digits); bf16 operands accumulate in float32.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

try:
    from jax.experimental.pallas.triton import CompilerParams as _TritonParams
except ImportError:  # a JAX that moved it: the Triton defaults (4 warps, 3 stages) apply
    _TritonParams = None


_SHARED_MEMORY_BUDGET = 160 * 1024  # pipelined tiles per program; the rest: epilogue


@dataclasses.dataclass(frozen=True)
class Tiling:
    """Tile sizes (rows, contraction, columns; powers of two on GPU) and GPU launch shape."""

    tm: int = 128
    tk: int = 64
    tn: int = 128
    num_warps: int = 8  # threads per program / 32 (GPU only)
    num_stages: int = 3  # software-pipelining depth of the K loop (GPU only)
    persistent: int = 0  # programs of the forward/dx kernel; 0: one per output tile

    def fitted(self, m: int, k: int, n: int) -> Tiling:
        """The same tiling with each tile shrunk to the smallest power of two >= its dim."""
        return dataclasses.replace(self, tm=_fit(self.tm, m), tk=_fit(self.tk, k),
                                   tn=_fit(self.tn, n))

    def compiler_params(self, stage_bytes: int):
        """Triton launch parameters; fewer stages when `stage_bytes` per stage would
        overflow shared memory (about 227 KB per program on Hopper)."""
        if _TritonParams is None:
            return None
        stages = max(1, min(self.num_stages, _SHARED_MEMORY_BUDGET // stage_bytes))
        return _TritonParams(num_warps=self.num_warps, num_stages=stages)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _pad_to(x: jax.Array, axis: int, size: int) -> jax.Array:
    extra = size - x.shape[axis]
    if extra == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    return jnp.pad(x, widths)


def _group_bounds(group_sizes_G: jax.Array) -> tuple[jax.Array, jax.Array]:
    ends_G = jnp.cumsum(group_sizes_G.astype(jnp.int32))
    return ends_G - group_sizes_G.astype(jnp.int32), ends_G


def _tile_group_range(starts_G, ends_G, num_tiles: int, tm: int):
    """For each row tile, the half-open range of groups that overlap it."""
    row0_T = jnp.arange(num_tiles, dtype=jnp.int32) * tm
    lo_T = jnp.searchsorted(ends_G, row0_T, side="right").astype(jnp.int32)
    hi_T = jnp.searchsorted(starts_G, row0_T + tm, side="left").astype(jnp.int32)
    return lo_T, jnp.maximum(hi_T, lo_T)


def _dot(a, b, contract_a: int, contract_b: int):
    dims = (((contract_a,), (contract_b,)), ((), ()))
    exact = jax.lax.Precision.HIGHEST if a.dtype == jnp.float32 else None
    return jax.lax.dot_general(a, b, dims, precision=exact, preferred_element_type=jnp.float32)


def _gmm_kernel(lo_ref, hi_ref, starts_ref, ends_ref, x_ref, w_ref, o_ref, *,
                tiling: Tiling, num_k: int, transpose_rhs: bool, num_tiles: int,
                num_cols: int):
    if not tiling.persistent:
        _gmm_tile(pl.program_id(0), pl.program_id(1), lo_ref, hi_ref, starts_ref, ends_ref,
                  x_ref, w_ref, o_ref, tiling=tiling, num_k=num_k, transpose_rhs=transpose_rhs)
        return
    p, programs = pl.program_id(0), tiling.persistent
    items = num_tiles * num_cols

    def item(n, carry):
        w = p + n * programs  # row tile major: the programs running together share rows
        _gmm_tile(w // num_cols, w % num_cols, lo_ref, hi_ref, starts_ref, ends_ref, x_ref,
                  w_ref, o_ref, tiling=tiling, num_k=num_k, transpose_rhs=transpose_rhs)
        return carry

    jax.lax.fori_loop(0, (items - p + programs - 1) // programs, item, 0)


def _gmm_tile(i, j, lo_ref, hi_ref, starts_ref, ends_ref, x_ref, w_ref, o_ref, *,
              tiling: Tiling, num_k: int, transpose_rhs: bool):
    """One output tile (row tile i, column tile j) of the grouped matmul."""
    tm, tk, tn = tiling.tm, tiling.tk, tiling.tn
    row0 = i * tm
    rows_M = row0 + jax.lax.broadcasted_iota(jnp.int32, (tm, 1), 0)

    def k_loop(g, acc_MxN, masked):
        in_group_M = (rows_M >= starts_ref[g]) & (rows_M < ends_ref[g])

        def k_body(kk, acc_MxN):
            x = x_ref[pl.ds(row0, tm), pl.ds(kk * tk, tk)]
            if masked:
                x = jnp.where(in_group_M, x, jnp.zeros_like(x))
            if transpose_rhs:  # rhs is [G, N, K]
                w = w_ref[g, pl.ds(j * tn, tn), pl.ds(kk * tk, tk)]
                return acc_MxN + _dot(x, w, 1, 1)
            w = w_ref[g, pl.ds(kk * tk, tk), pl.ds(j * tn, tn)]
            return acc_MxN + _dot(x, w, 1, 0)

        return jax.lax.fori_loop(0, num_k, k_body, acc_MxN)

    def group_body(g, acc_MxN):
        # Most tiles lie inside one group: their loads feed the dot unmasked, which
        # keeps the GPU's load -> matrix-unit pipeline free of register round trips.
        whole = (starts_ref[g] <= row0) & (ends_ref[g] >= row0 + tm)
        return jax.lax.cond(whole, functools.partial(k_loop, masked=False),
                            functools.partial(k_loop, masked=True), g, acc_MxN)

    acc = jax.lax.fori_loop(lo_ref[i], hi_ref[i], group_body, jnp.zeros((tm, tn), jnp.float32))
    o_ref[pl.ds(row0, tm), pl.ds(j * tn, tn)] = acc.astype(o_ref.dtype)


def _tgmm_kernel(starts_ref, ends_ref, x_ref, dy_ref, o_ref, *, tiling: Tiling):
    tm, tk, tn = tiling.tm, tiling.tk, tiling.tn
    g, kt, nt = pl.program_id(0), pl.program_id(1), pl.program_id(2)
    start, end = starts_ref[g], ends_ref[g]
    first = start // tm
    last = jnp.where(end > start, (end + tm - 1) // tm, first)  # empty group: no work

    def m_body(mt, acc_KxN, masked):
        x = x_ref[pl.ds(mt * tm, tm), pl.ds(kt * tk, tk)]
        if masked:
            rows_M = mt * tm + jax.lax.broadcasted_iota(jnp.int32, (tm, 1), 0)
            x = jnp.where((rows_M >= start) & (rows_M < end), x, jnp.zeros_like(x))
        dy = dy_ref[pl.ds(mt * tm, tm), pl.ds(nt * tn, tn)]
        return acc_KxN + _dot(x, dy, 0, 0)

    # Row tiles [a, b) lie wholly inside the group and need no mask; at most one
    # tile on each side, [first, a) and [b, last), holds rows of other groups.
    a = jnp.minimum((start + tm - 1) // tm, last)
    b = jnp.maximum(jnp.minimum(end // tm, last), a)
    masked = functools.partial(m_body, masked=True)
    acc = jnp.zeros((tk, tn), jnp.float32)
    acc = jax.lax.fori_loop(first, a, masked, acc)
    acc = jax.lax.fori_loop(a, b, functools.partial(m_body, masked=False), acc)
    acc = jax.lax.fori_loop(b, last, masked, acc)
    o_ref[g, pl.ds(kt * tk, tk), pl.ds(nt * tn, tn)] = acc.astype(o_ref.dtype)


def _fit(tile: int, dim: int) -> int:
    """Shrink a tile to the smallest power of two >= dim (16 at least: Triton's dot)."""
    return min(tile, max(16, pl.next_power_of_2(dim)))


def gmm_pallas_fwd(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling: Tiling = Tiling(),
                   transpose_rhs: bool = False, interpret: bool | None = None):
    """Grouped matmul with our Pallas kernel (no autodiff rule; see `gmm`).

    Args:
      lhs_MxK: rows sorted by group.
      rhs_GxKxN: one matrix per group ([G, N, K] when `transpose_rhs`).
      group_sizes_G: int32 rows per group; may sum to less than M.
      tiling: tile sizes.
      transpose_rhs: multiply by rhs[g].T instead of rhs[g].
      interpret: run the kernel in the Pallas interpreter (default: off GPU).

    Returns:
      out_MxN in lhs's dtype.
    """
    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    m, k = lhs_MxK.shape
    n = rhs_GxKxN.shape[1] if transpose_rhs else rhs_GxKxN.shape[2]
    t = tiling.fitted(m, k, n)
    mp, kp, np_ = _round_up(m, t.tm), _round_up(k, t.tk), _round_up(n, t.tn)
    x = _pad_to(_pad_to(lhs_MxK, 0, mp), 1, kp)
    w = _pad_to(_pad_to(rhs_GxKxN, 2 if transpose_rhs else 1, kp), 1 if transpose_rhs else 2, np_)
    starts_G, ends_G = _group_bounds(group_sizes_G)
    lo_T, hi_T = _tile_group_range(starts_G, ends_G, mp // t.tm, t.tm)
    num_tiles, num_cols = mp // t.tm, np_ // t.tn
    if t.persistent:
        t = dataclasses.replace(t, persistent=min(t.persistent, num_tiles * num_cols))
    kernel = functools.partial(_gmm_kernel, tiling=t, num_k=kp // t.tk,
                               transpose_rhs=transpose_rhs, num_tiles=num_tiles,
                               num_cols=num_cols)
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((mp, np_), lhs_MxK.dtype),
        grid=(t.persistent,) if t.persistent else (num_tiles, num_cols),
        interpret=interpret,
        compiler_params=t.compiler_params((t.tm * t.tk + t.tk * t.tn) * x.dtype.itemsize),
        name="gmm",
        cost_estimate=pl.CostEstimate(
            flops=2 * m * k * n, transcendentals=0,
            bytes_accessed=(x.size + w.size + mp * np_) * x.dtype.itemsize),
    )(lo_T, hi_T, starts_G, ends_G, x, w)
    return out[:m, :n]


def tgmm_pallas(lhs_MxK, dout_MxN, group_sizes_G, tiling: Tiling = Tiling(),
                interpret: bool | None = None):
    """Transposed grouped matmul: out_GxKxN[g] = lhs[rows_g].T @ dout[rows_g]."""
    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    (m, k), n, g = lhs_MxK.shape, dout_MxN.shape[1], group_sizes_G.shape[0]
    t = tiling.fitted(m, k, n)
    mp, kp, np_ = _round_up(m, t.tm), _round_up(k, t.tk), _round_up(n, t.tn)
    x = _pad_to(_pad_to(lhs_MxK, 0, mp), 1, kp)
    dy = _pad_to(_pad_to(dout_MxN, 0, mp), 1, np_)
    starts_G, ends_G = _group_bounds(group_sizes_G)
    out = pl.pallas_call(
        functools.partial(_tgmm_kernel, tiling=t),
        out_shape=jax.ShapeDtypeStruct((g, kp, np_), lhs_MxK.dtype),
        grid=(g, kp // t.tk, np_ // t.tn),
        interpret=interpret,
        compiler_params=t.compiler_params((t.tm * t.tk + t.tm * t.tn) * x.dtype.itemsize),
        name="tgmm",
        cost_estimate=pl.CostEstimate(
            flops=2 * m * k * n, transcendentals=0,
            bytes_accessed=(x.size + dy.size + g * kp * np_) * x.dtype.itemsize),
    )(starts_G, ends_G, x, dy)
    return out[:, :k, :n]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def gmm_pallas(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling: Tiling = Tiling(),
               interpret: bool | None = None):
    """Differentiable grouped matmul on our Pallas kernels."""
    return gmm_pallas_fwd(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling, False, interpret)


def _gmm_pallas_fwd_rule(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling, interpret):
    out = gmm_pallas_fwd(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling, False, interpret)
    return out, (lhs_MxK, rhs_GxKxN, group_sizes_G)


def _gmm_pallas_bwd_rule(tiling, interpret, residuals, dout_MxN):
    lhs_MxK, rhs_GxKxN, group_sizes_G = residuals
    dout_MxN = dout_MxN.astype(lhs_MxK.dtype)
    dlhs_MxK = gmm_pallas_fwd(dout_MxN, rhs_GxKxN, group_sizes_G, tiling, True, interpret)
    drhs_GxKxN = tgmm_pallas(lhs_MxK, dout_MxN, group_sizes_G, tiling, interpret)
    return dlhs_MxK, drhs_GxKxN.astype(rhs_GxKxN.dtype), None


gmm_pallas.defvjp(_gmm_pallas_fwd_rule, _gmm_pallas_bwd_rule)


def gmm_ragged_dot(lhs_MxK, rhs_GxKxN, group_sizes_G):
    """The reference: XLA's ragged_dot (differentiable)."""
    return jax.lax.ragged_dot(lhs_MxK, rhs_GxKxN, group_sizes_G.astype(jnp.int32),
                              preferred_element_type=lhs_MxK.dtype)


def resolve_impl(impl: str) -> str:
    """Map "auto" to "pallas" on GPU and "ragged_dot" elsewhere."""
    if impl == "auto":
        return "pallas" if jax.default_backend() == "gpu" else "ragged_dot"
    if impl not in ("pallas", "ragged_dot"):
        raise ValueError(f"gmm_impl must be 'pallas', 'ragged_dot' or 'auto', got {impl!r}")
    return impl


def gmm(lhs_MxK, rhs_GxKxN, group_sizes_G, impl: str = "ragged_dot",
        tiling: Tiling = Tiling()):
    """Grouped matmul through the chosen implementation ("pallas" | "ragged_dot" | "auto")."""
    if resolve_impl(impl) == "pallas":
        return gmm_pallas(lhs_MxK, rhs_GxKxN, group_sizes_G, tiling, None)
    return gmm_ragged_dot(lhs_MxK, rhs_GxKxN, group_sizes_G)
