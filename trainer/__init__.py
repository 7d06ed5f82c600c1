"""The instrumented, sharded MoE trainer; see trainer/README.md for the module map.

Importing this package must not import JAX: `python -m trainer.train` sets
XLA_FLAGS (simulated CPU devices) before JAX starts.
"""
