// The Memory tab's data shaping, dependency-free: which program to show, the
// picker's labels, "what fills the peak" rows, buffer filtering and the
// timeline window around an op's occurrence.

import { formatBytes, formatNs, formatPct } from "./format";

export interface ProgramLike {
  id: string;
  name: string;
  ran_ns: number;
  available: boolean;
  peak_heap_bytes?: number | null;
}

/**
 * The program to show: the URL's (`module`, matched by id, then by name),
 * else the server's default (the one that ran the most time), else the one
 * that ran the most, else the first.
 */
export function pickProgram<P extends ProgramLike>(programs: readonly P[], defaultId: string | null | undefined, wanted?: string): P | null {
  if (!programs.length) return null;
  if (wanted) {
    const hit = programs.find((p) => p.id === wanted) ?? programs.find((p) => p.name === wanted);
    if (hit) return hit;
  }
  const d = defaultId ? programs.find((p) => p.id === defaultId) : undefined;
  if (d) return d;
  return [...programs].sort((a, b) => b.ran_ns - a.ran_ns || (b.peak_heap_bytes ?? 0) - (a.peak_heap_bytes ?? 0))[0]!;
}

/** One line of the program picker: id, run time and share, peak. */
export function programLabel(p: ProgramLike, totalRanNs: number): string {
  const ran = p.ran_ns > 0
    ? `ran ${formatNs(p.ran_ns)}${totalRanNs > 0 ? ` (${formatPct(p.ran_ns / totalRanNs)})` : ""}`
    : "did not run in this capture";
  const peak = p.available && p.peak_heap_bytes != null ? ` · peak ${formatBytes(p.peak_heap_bytes)}` : p.available ? "" : " · no buffer assignment";
  return `${p.id} · ${ran}${peak}`;
}

export interface GroupRow {
  key: string;
  bytes: number;
  count: number;
  /** Fraction of the peak. */
  share: number;
  /** The rows folded into "other" (empty for a real group). */
  folded: number;
}

/** Groups largest first, the tail beyond `maxRows - 1` folded into one "other (n groups)" row. */
export function groupRows(groups: readonly { key: string; bytes: number; count: number }[], peakBytes: number, maxRows = 8): GroupRow[] {
  const sorted = [...groups].sort((a, b) => b.bytes - a.bytes);
  const share = (b: number) => (peakBytes > 0 ? b / peakBytes : 0);
  if (sorted.length <= maxRows) return sorted.map((g) => ({ ...g, share: share(g.bytes), folded: 0 }));
  const head = sorted.slice(0, maxRows - 1).map((g) => ({ ...g, share: share(g.bytes), folded: 0 }));
  const tail = sorted.slice(maxRows - 1);
  const bytes = tail.reduce((s, g) => s + g.bytes, 0);
  const count = tail.reduce((s, g) => s + g.count, 0);
  return [...head, { key: `other (${tail.length} groups)`, bytes, count, share: share(bytes), folded: tail.length }];
}

/** "model.py:42" with the full path for a tooltip; "" without a source. */
export function sourceLabel(src: { file: string; line: number } | null | undefined): { short: string; full: string } {
  if (!src || !src.file) return { short: "", full: "" };
  const base = src.file.split(/[\\/]/).pop() || src.file;
  const line = src.line > 0 ? `:${src.line}` : "";
  return { short: `${base}${line}`, full: `${src.file}${line}` };
}

export interface BufferLike {
  instruction: string;
  shape: string;
  category: string;
  scope?: string;
  op_name?: string;
  source?: { file: string; line: number } | null;
}

/** Case-insensitive substring over instruction, shape, category, scope, JAX op name and source. */
export function bufferMatches(b: BufferLike, text: string): boolean {
  const q = text.trim().toLowerCase();
  if (!q) return true;
  const src = sourceLabel(b.source).full;
  return [b.instruction, b.shape, b.category, b.scope ?? "", b.op_name ?? "", src].some((s) => s.toLowerCase().includes(q));
}

/** A group row's filter: buffers of that category or scope. "(no scope)" is the empty scope. */
export function inGroup(b: BufferLike, kind: "category" | "scope", key: string): boolean {
  if (kind === "category") return b.category === key;
  return (b.scope || "(no scope)") === key;
}

/** Headroom in words: "48.7 GiB free of 59.4 GiB (82.0 %)", or why it is unknown. */
export function headroomText(capacityBytes: number | null | undefined, peakBytes: number): string {
  if (!capacityBytes || !(capacityBytes > 0)) return "capacity unknown";
  const free = capacityBytes - peakBytes;
  if (free < 0) return `${formatBytes(-free)} over ${formatBytes(capacityBytes)}`;
  return `${formatBytes(free)} free of ${formatBytes(capacityBytes)} (${formatPct(free / capacityBytes)})`;
}

/** The first search match that is the op itself (the search is a substring match: fusion.3 also finds fusion.31). */
export function exactMatch<M extends { name: string }>(matches: readonly M[], op: string): M | null {
  return matches.find((m) => m.name === op || m.name === `%${op}`) ?? null;
}

/** A trace window that shows an occurrence with room on both sides (at least 2 µs wide). */
export function windowAround(start_ns: number, dur_ns: number): { t0: number; t1: number } {
  const pad = Math.max(1000, 2 * Math.max(0, dur_ns));
  return { t0: Math.max(0, Math.round(start_ns - pad)), t1: Math.round(start_ns + Math.max(0, dur_ns) + pad) };
}

/**
 * Where the peak marker goes: the series' own point that reaches the peak (the
 * line's highest point, nearest `peakPosition` if several), else the server's
 * (`peakPosition`, `peakBytes`) when the drawn series does not reach it.
 * `index` is into the series (-1 when the point is not in it).
 */
export function peakMarker(position: readonly number[], heap: readonly number[], peakPosition: number, peakBytes: number): { position: number; bytes: number; index: number } {
  let best = -1;
  for (let i = 0; i < heap.length; i++) {
    if (heap[i] !== peakBytes) continue;
    if (best < 0 || Math.abs(position[i]! - peakPosition) < Math.abs(position[best]! - peakPosition)) best = i;
  }
  if (best >= 0) return { position: position[best]!, bytes: peakBytes, index: best };
  return { position: peakPosition, bytes: peakBytes, index: position.indexOf(peakPosition) };
}

/** The HLO tab's `module` for a program: its name when no other program has it (the HLO tab lists modules by name), else its id "name(program_id)". */
export function hloModuleKey(p: { id: string; name: string }, programs: readonly { name: string }[]): string {
  return programs.filter((q) => q.name === p.name).length === 1 ? p.name : p.id;
}

/** Whether an instruction runs (and so can be found in the timeline): parameters and constants do not. */
export function runsOnDevice(opcode: string | undefined, category: string): boolean {
  return !(opcode === "parameter" || opcode === "constant" || category === "constant" || (category === "parameter" && !opcode));
}

/** A change of size: "+1.50 GiB", "−512 KiB", "0 B". */
export function formatDeltaBytes(b: number): string {
  if (!b) return "0 B";
  return `${b > 0 ? "+" : "−"}${formatBytes(Math.abs(b))}`;
}
