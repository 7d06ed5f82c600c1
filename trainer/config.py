"""Config as data: one typed, frozen dataclass; presets; YAML and flag overrides.

Precedence: preset defaults < YAML file (`--config`) < flags. Every field is a
flag (`d_model` -> `--d-model`); booleans take `--x/--no-x`; tuples take
comma-separated values. This module never imports JAX (train.py must set
XLA_FLAGS first).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

import yaml


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs; see trainer/README.md for what each group does."""

    # Run.
    job: str = "xdiag-demo"  # job name the xdiag agent registers
    seed: int = 0
    steps: int = 30  # 0: run until killed
    sleep_ms: int = 0  # pause between steps (demo pacing)
    block_steps: bool = False  # wait for each step inside its annotation (synchronous loop)
    log_every: int = 1
    metrics_file: str = ""  # JSON lines of per-step metrics, if set
    xdiag_server: str = ""  # start the xdiag agent against this URL, if set
    profiler_port: int = 0  # 0: any free port
    # Model.
    vocab_size: int = 256
    d_model: int = 64
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 4
    head_dim: int = 16
    mlp_dim: int = 256  # hidden size of the dense FFN layers
    num_dense_layers: int = 1  # the first k layers use a dense FFN
    num_experts: int = 8
    num_experts_per_tok: int = 2
    moe_mlp_dim: int = 64  # hidden size of each expert
    num_shared_experts: int = 1  # shared FFN hidden = this x moe_mlp_dim; 0: none
    router_renormalize: bool = True  # weights = softmax over the chosen k logits
    lb_loss_weight: float = 0.01
    rope_theta: float = 10_000.0
    dtype: str = "float32"  # activation/compute dtype; params stay float32
    gmm_impl: str = "pallas"  # "pallas" | "ragged_dot" | "auto" (pallas on GPU)
    gmm_tile_m: int = 128
    gmm_tile_k: int = 64
    gmm_tile_n: int = 128
    gmm_num_warps: int = 8  # GPU launch shape of the kernel (ignored in interpret mode)
    gmm_num_stages: int = 3
    # Data: each step reads global_batch sequences of seq_len + 1 tokens.
    seq_len: int = 64
    global_batch: int = 16
    data_sources: tuple[str, ...] = ("markov", "copy", "count")  # or "file:PATH"
    data_weights: tuple[float, ...] = (0.7, 0.2, 0.1)
    # Optimizer and schedule: warmup -> constant -> anneal.
    learning_rate: float = 1e-2
    warmup_steps: int = 5
    constant_steps: int = 15
    anneal_steps: int = 10
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    adam_b1: float = 0.9
    adam_b2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip_norm: float = 1.0
    # Mesh: axis sizes; -1 fills the remaining devices (at most one axis).
    mesh_data: int = -1
    mesh_fsdp: int = 2
    mesh_expert: int = 2
    mesh_tensor: int = 1
    # A jax.profiler trace of steps [trace_first_step, +trace_num_steps) written to
    # trace_dir (a log dir `xdiag upload` and xprof read); disabled when empty.
    trace_dir: str = ""
    trace_first_step: int = 5
    trace_num_steps: int = 3
    # Checkpoints (Orbax); disabled when checkpoint_dir is empty.
    checkpoint_dir: str = ""
    checkpoint_every: int = 10
    keep_checkpoints: int = 3

    @property
    def mesh_shape(self) -> dict[str, int]:
        return {"data": self.mesh_data, "fsdp": self.mesh_fsdp,
                "expert": self.mesh_expert, "tensor": self.mesh_tensor}

    @property
    def num_moe_layers(self) -> int:
        return max(0, self.num_layers - self.num_dense_layers) if self.num_experts else 0


PRESETS: dict[str, dict[str, Any]] = {
    # The demo: steps in well under a second on 8 simulated CPU devices.
    "demo": {},
    # Tests: smallest model that still exercises every code path.
    "tiny": dict(d_model=32, num_layers=2, num_heads=2, num_kv_heads=2, head_dim=16,
                 mlp_dim=64, moe_mlp_dim=32, vocab_size=64, seq_len=16, global_batch=8,
                 num_experts=4, num_experts_per_tok=2, gmm_tile_m=32, gmm_tile_k=32,
                 gmm_tile_n=32, learning_rate=1e-2, warmup_steps=2, constant_steps=20,
                 anneal_steps=8),
    # One GPU: a 4-layer, 16-expert top-2 bf16 model whose expert matmuls are
    # the size of bench/gmm.py's (16k tokens x 1024 -> 1408).
    "gpu_small": dict(vocab_size=32_000, d_model=1024, num_layers=4, num_heads=8,
                      num_kv_heads=8, head_dim=128, mlp_dim=4096, num_dense_layers=1,
                      num_experts=16, num_experts_per_tok=2, moe_mlp_dim=1408,
                      num_shared_experts=1, seq_len=1024, global_batch=16,
                      learning_rate=3e-4, dtype="bfloat16", gmm_impl="auto", mesh_data=-1,
                      mesh_fsdp=1, mesh_expert=1),
    # Shape of a 64-expert / top-8 upcycled model (7B dense base, fine-grained
    # experts of 1408, two shared experts): built abstractly, never trained here.
    "moe_64x8": dict(vocab_size=32_000, d_model=4096, num_layers=32, num_heads=32,
                     num_kv_heads=8, head_dim=128, mlp_dim=11_008, num_dense_layers=1,
                     num_experts=64, num_experts_per_tok=8, moe_mlp_dim=1408,
                     num_shared_experts=2, seq_len=4096, global_batch=256,
                     dtype="bfloat16", gmm_impl="auto", mesh_data=-1, mesh_fsdp=1,
                     mesh_expert=1),
}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def _coerce(name: str, value: Any) -> Any:
    """Convert a YAML/flag value to the declared type of field `name`."""
    kind = _field_types()[name]
    try:
        return _convert(kind, value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot use {value!r} ({exc})") from None


def _convert(kind: Any, value: Any) -> Any:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(item(v.strip() if isinstance(v, str) else v) for v in items)
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError("expected a boolean")
        return value.lower() in ("true", "1", "yes")
    return kind(value)


def make(preset: str = "demo", yaml_path: str | None = None, **overrides: Any) -> Config:
    """Build a Config from a preset, an optional YAML file and keyword overrides.

    Args:
      preset: a key of PRESETS.
      yaml_path: a YAML mapping of field -> value.
      **overrides: field -> value, applied last.

    Returns:
      The validated Config.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset])
    if yaml_path:
        with open(yaml_path) as f:
            values.update(yaml.safe_load(f) or {})
    values.update(overrides)
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown config fields {unknown}")
    cfg = Config(**{k: _coerce(k, v) for k, v in values.items()})
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Raise ValueError with a hint when fields contradict each other."""
    if len(cfg.data_sources) != len(cfg.data_weights):
        raise ValueError("data_sources and data_weights must have the same length")
    if cfg.num_experts and not 0 < cfg.num_experts_per_tok <= cfg.num_experts:
        raise ValueError("num_experts_per_tok must be in [1, num_experts]")
    if cfg.num_heads % cfg.num_kv_heads:
        raise ValueError("num_heads must be a multiple of num_kv_heads")
    if sum(v == -1 for v in cfg.mesh_shape.values()) > 1:
        raise ValueError("at most one mesh axis may be -1")
    if cfg.steps < 0:
        raise ValueError("steps must be >= 0 (0 runs until killed)")


def parser() -> argparse.ArgumentParser:
    """An argparse parser with one flag per Config field plus the run flags."""
    p = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    p.add_argument("--config", dest="yaml_path", help="YAML file of field: value")
    p.add_argument("--resume", action="store_true", help="restore the latest checkpoint")
    p.add_argument("--forever", action="store_true", help="same as --steps 0")
    p.add_argument("--print-params", action="store_true",
                   help="build the model abstractly, print parameter counts, exit")
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        kind = _field_types()[f.name]
        if kind is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None)
        else:
            p.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
                           help=f"default: {f.default}")
    return p


def from_args(argv: Sequence[str] | None = None) -> tuple[Config, argparse.Namespace]:
    """Parse flags into (Config, the raw namespace for run flags like --resume)."""
    p = parser()
    args = p.parse_args(argv)
    names = {f.name for f in dataclasses.fields(Config)}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.forever:
        overrides["steps"] = 0
    try:
        return make(args.preset, args.yaml_path, **overrides), args
    except ValueError as exc:
        p.error(str(exc))  # exits 2 with the usage line and the reason
