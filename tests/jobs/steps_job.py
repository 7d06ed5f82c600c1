"""Counts training steps while the agent talks (or fails to talk) to the service.

Usage: steps_job.py SERVER JOB SECONDS  -> prints "STEPS <n>" and exits cleanly.
"""

import sys
import time

import jax.numpy as jnp

import xdiag.agent

server, job, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
agent = xdiag.agent.start(server=server, job=job, heartbeat_s=0.5,
                          peaks={"matmul_gflops": 1.0, "memcpy_gbps": 1.0})
x = jnp.ones((64, 64))
steps = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    x = jnp.tanh(x @ x).block_until_ready()
    steps += 1
print(f"STEPS {steps} REGISTERED {agent.registered}", flush=True)
