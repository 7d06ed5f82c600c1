// The Op profile's GPU kernel table, dependency-free: sorting, filtering and the
// text of each cell (launch shape, shared memory, tensor cores, the summary line).

import { formatBytes, formatCount, formatNs, formatPct } from "./format";

/** What this module reads of a kernel row (the API's KernelRow). */
export interface KernelLike {
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
}

export type KernelSortKey = "name" | "op" | "launches" | "total_ns" | "avg_ns" | "min_ns" | "max_ns" | "registers_per_thread" | "shared" | "occupancy_pct";

/** Static plus dynamic shared memory per block (null when neither is known). */
export function sharedBytes(k: KernelLike): number | null {
  if (k.static_shared_bytes == null && k.dynamic_shared_bytes == null) return null;
  return (k.static_shared_bytes ?? 0) + (k.dynamic_shared_bytes ?? 0);
}

/** A grid or block as "x×y×z", dropping trailing 1s ("256×11", "128"); "–" when unknown. */
export function formatDims(d: readonly number[] | null | undefined): string {
  if (!d || !d.length) return "–";
  const dims = [...d];
  while (dims.length > 1 && dims[dims.length - 1] === 1) dims.pop();
  return dims.map((v) => formatCount(v)).join("×");
}

export function tensorCoreLabel(v: boolean | null): string {
  return v === true ? "yes" : v === false ? "no" : "unknown";
}

function sortValue(k: KernelLike, key: KernelSortKey): number | string {
  if (key === "name") return k.name;
  if (key === "op") return k.op ?? "";
  if (key === "shared") return sharedBytes(k) ?? -1;
  return k[key] ?? -1;
}

/** Rows sorted by `key` (ties: longer total first, then name), a new array. */
export function sortKernels<K extends KernelLike>(rows: readonly K[], key: KernelSortKey, desc: boolean): K[] {
  const sign = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const c = typeof x === "string" || typeof y === "string" ? String(x).localeCompare(String(y)) : x - y;
    return c * sign || b.total_ns - a.total_ns || a.name.localeCompare(b.name);
  });
}

/** Rows whose kernel or op name holds every word of `q` (case-insensitive). */
export function filterKernels<K extends KernelLike>(rows: readonly K[], q: string): K[] {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...rows];
  return rows.filter((k) => {
    const text = `${k.name} ${k.op ?? ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/** The cells of one row, as shown (the table's order). */
export function kernelCells(k: KernelLike, totalNs: number): string[] {
  const shared = sharedBytes(k);
  return [
    formatPct(totalNs > 0 ? k.total_ns / totalNs : null),
    formatNs(k.total_ns),
    formatCount(k.launches),
    formatNs(k.avg_ns),
    formatNs(k.min_ns),
    formatNs(k.max_ns),
    formatDims(k.grid),
    formatDims(k.block),
    k.registers_per_thread == null ? "–" : formatCount(k.registers_per_thread),
    shared == null ? "–" : formatBytes(shared),
    k.occupancy_pct == null ? "–" : `${Number(k.occupancy_pct.toFixed(2))} %`,
    tensorCoreLabel(k.tensor_core),
  ];
}

export interface SummaryLike {
  kernels: number;
  launches: number;
  total_ns: number;
  tensor_core_ns: number;
  tensor_core_unknown_ns: number;
}

/** "201 kernels · 2,133 launches · 152.7 ms in kernels · tensor cores 21.0 % (unknown 37.4 %)". */
export function kernelSummary(s: SummaryLike): string {
  const share = (ns: number) => formatPct(s.total_ns > 0 ? ns / s.total_ns : null);
  return `${formatCount(s.kernels)} kernels · ${formatCount(s.launches)} launches · ${formatNs(s.total_ns)} in kernels · ` +
    `on tensor cores (by name) ${share(s.tensor_core_ns)}, unknown ${share(s.tensor_core_unknown_ns)}`;
}
