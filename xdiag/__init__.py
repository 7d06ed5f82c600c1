"""xdiag: self-hosted profiling and diagnostics for JAX/XLA training."""

__version__ = "0.1.0"
