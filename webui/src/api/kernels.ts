// Wire types of GET /api/v1/profiles/<id>/kernels (docs/api.md, "kernels"): GPU kernel
// statistics, stock xprof's kernel_stats. Kept beside wire.ts; types only.

/** One kernel and launch shape, merged over hosts. */
export interface KernelRow {
  name: string;
  launches: number;
  total_ns: number;
  avg_ns: number;
  min_ns: number;
  max_ns: number;
  grid: number[] | null;
  block: number[] | null;
  registers_per_thread: number | null;
  static_shared_bytes: number | null;
  dynamic_shared_bytes: number | null;
  /** Theoretical occupancy (CUPTI), percent. */
  occupancy_pct: number | null;
  /** true by the kernel's name, false for ops with no matrix work, null: unknown. */
  tensor_core: boolean | null;
  /** The instruction that launched it most. */
  op: string | null;
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
