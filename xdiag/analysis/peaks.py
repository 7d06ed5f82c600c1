"""Peak compute and memory bandwidth of a device, and where the numbers came from.

Order of preference: the device capability stats in the xplane; a table by
device kind (vendor figures: dense bf16 FLOP/s and HBM bandwidth); on CPU the
host peaks the agent measured when the job started; for uploads with none of
these, the service's host peaks (configured, or measured on the service host by
the pipeline), passed in as data and labelled as such.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# device kind substring -> (FLOP/s, bytes/s)
TABLE: list[tuple[str, float, float]] = [
    ("h200", 989e12, 4.8e12),
    ("h100", 989e12, 3.35e12),
    ("a100", 312e12, 2.039e12),
    ("tpu v4", 275e12, 1.2e12),
    ("tpu v5 lite", 197e12, 0.819e12),
    ("tpu v5e", 197e12, 0.819e12),
    ("tpu v5p", 459e12, 2.765e12),
    ("tpu v5", 459e12, 2.765e12),
    ("tpu v6", 918e12, 1.64e12),
]

# GPU interconnect per device and direction (vendor figures): what a collective's payload
# can cross per second.
INTERCONNECT: list[tuple[str, float, str]] = [
    ("h200", 450e9, "NVLink 4, 450 GB/s per direction"),
    ("h100", 450e9, "NVLink 4, 450 GB/s per direction"),
    ("a100", 300e9, "NVLink 3, 300 GB/s per direction"),
]
# GPU L2 cache (vendor figures): an op whose data was just written by the one before it
# and fits here runs above the HBM roof.
L2_BYTES: list[tuple[str, int]] = [("h200", 50 * 2**20), ("h100", 50 * 2**20),
                                   ("a100", 40 * 2**20)]



@dataclasses.dataclass(frozen=True)
class HostPeaks:
    """Host peaks that are not the job's own: `values` as an agent measures them
    (matmul_gflops, memcpy_gbps, optionally cache_gbps and llc_bytes), `source` in words."""

    values: dict[str, float]
    source: str


def _with_links(out: dict[str, Any], host: dict[str, Any] | None = None) -> dict[str, Any]:
    """Adds the interconnect peak and, for CPU hosts, the cache figures the roofline's
    physics checks use."""
    kind = str(out.get("device_kind", "")).lower().replace("-", " ")
    if kind.startswith("cpu") or host is not None:
        # Collectives between the simulated devices of one host are memory copies.
        out.setdefault("interconnect_bytes_per_s", out["bytes_per_s"])
        out.setdefault("interconnect_source", "host memory bandwidth (collectives between the "
                                              "CPU devices of one host are memory copies)")
        if host and host.get("cache_gbps"):
            out["cache_bytes_per_s"] = float(host["cache_gbps"]) * 1e9
        if host and host.get("llc_bytes"):
            out["llc_bytes"] = int(host["llc_bytes"])
        return out
    for key, bw, source in INTERCONNECT:
        if key in kind:
            out.setdefault("interconnect_bytes_per_s", bw)
            out.setdefault("interconnect_source", f"vendor table ({source})")
            break
    for key, size in L2_BYTES:
        if key in kind:
            out.setdefault("l2_bytes", size)
            break
    return out


def table_lookup(device_kind: str) -> tuple[float, float] | None:
    kind = device_kind.lower().replace("-", " ")
    for key, flops, bw in TABLE:
        if key in kind:
            return flops, bw
    return None


def _agent_peaks(agent_peaks: dict[str, Any] | None) -> bool:
    return bool(agent_peaks and agent_peaks.get("matmul_gflops")
                and agent_peaks.get("memcpy_gbps"))


def needs_host_peaks(device_kind: str, plane_peaks: dict[str, float] | None,
                     agent_peaks: dict[str, Any] | None) -> bool:
    """Whether `resolve` falls back to the service's host peaks for this profile."""
    return not (plane_peaks and plane_peaks.get("flops_per_s") and plane_peaks.get(
        "bytes_per_s")) and table_lookup(device_kind) is None and not _agent_peaks(agent_peaks)


def resolve(device_kind: str, plane_peaks: dict[str, float] | None,
            agent_peaks: dict[str, Any] | None,
            host_peaks: HostPeaks | None = None) -> dict[str, Any]:
    """Peaks for the roofline as {flops_per_s, bytes_per_s, source, device_kind}.

    `host_peaks`: the last resort, needed exactly when `needs_host_peaks` says so.
    """
    out: dict[str, Any] = {"device_kind": device_kind}
    if plane_peaks and plane_peaks.get("flops_per_s") and plane_peaks.get("bytes_per_s"):
        return _with_links({**out, **plane_peaks, "source": "xplane device capabilities"})
    hit = table_lookup(device_kind)
    if hit:
        if plane_peaks and plane_peaks.get("bytes_per_s"):  # GPU: CUPTI reports bandwidth
            return _with_links({
                **out, "flops_per_s": hit[0], "bytes_per_s": plane_peaks["bytes_per_s"],
                "source": f"vendor table ({device_kind}); memory bandwidth from the "
                          "xplane device capabilities"})
        return _with_links({**out, "flops_per_s": hit[0], "bytes_per_s": hit[1],
                            "source": f"vendor table ({device_kind})"})
    if agent_peaks and _agent_peaks(agent_peaks):
        return _with_links({**out, "flops_per_s": float(agent_peaks["matmul_gflops"]) * 1e9,
                            "bytes_per_s": float(agent_peaks["memcpy_gbps"]) * 1e9,
                            "source": "measured on the job's host by the agent"}, agent_peaks)
    if host_peaks is None:
        raise ValueError(f"no peaks for device kind {device_kind!r}: the caller passes the "
                         "service's host peaks when needs_host_peaks() says so")
    values = host_peaks.values
    return _with_links({**out, "flops_per_s": float(values["matmul_gflops"]) * 1e9,
                        "bytes_per_s": float(values["memcpy_gbps"]) * 1e9,
                        "source": host_peaks.source}, values)
