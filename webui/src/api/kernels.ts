// Wire types of GET /api/v1/profiles/<id>/kernels (docs/api.md, "kernels"): GPU kernel
// statistics, stock xprof's kernel_stats. Kept beside wire.ts; types only.

import type { KernelLike } from "../lib/kernels";

/** One kernel and launch shape, merged over hosts: the fields the kernel table reads
 * (lib/kernels.ts `KernelLike`: name, launches, times, grid, block, registers, shared
 * memory, occupancy %, tensor cores by name, the instruction that launched it most) and: */
export interface KernelRow extends KernelLike {
  module: string | null;
  /** How many instructions launched it. */
  ops: number;
  hosts: string[];
}

export interface KernelSummary {
  kernels: number;
  launches: number;
  total_ns: number;
  tensor_core_ns: number;
  tensor_core_unknown_ns: number;
}

export interface KernelsResponse {
  available: boolean;
  reason: string | null;
  partial?: { missing_hosts: string[]; reason: string } | null;
  summary: KernelSummary | null;
  total: number;
  kernels: KernelRow[];
}
