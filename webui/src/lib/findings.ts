// A diagnosis finding as the Overview shows it: its evidence in words with
// units, its confidence, and its deep links turned into view states (the
// timeline at a representative window on the right host and device, the op
// profile filtered, the roofline point, the framework scope). Pure: the
// shapes are structural (the API's Finding fits them).

import { formatBytes, formatCount, formatFlops, formatFlopsPerS, formatBytesPerS, formatNs, formatPct } from "./format";
import type { ViewState } from "./viewstate";

export interface EvidenceLike {
  label: string;
  value: number | string | null;
  unit?: string | null;
  of?: number | null;
}

export interface LinksLike {
  timeline?: { host: string | null; track?: number | null; device: number | null; start_ns: number | null; end_ns: number | null; step?: number | null } | null;
  hosts_steps?: { host: string | null } | null;
  ops?: { module: string | null; op: string | null; q: string | null; category: string | null; host?: string | null } | null;
  roofline?: { module: string | null; op: string | null; program_id?: number | null } | null;
  framework?: { path: string | null } | null;
}

/**
 * The units a diagnosis rule's evidence carries (xdiag/analysis/diagnosis/rules.py UNITS;
 * a Python test checks that list is within this one). Each formats as a person reads it.
 */
export const EVIDENCE_UNITS = [
  "ns", "fraction", "FLOP/byte", "B/s", "bytes", "steps", "calls", "ops", "compilations", "kernels", "",
] as const;

/** "ns per step", "ms/step": a unit per step (or per call, per device...). */
const PER = /^(.+?)\s*(?:\/|\bper\s+)\s*(step|call|device|host|op|kernel)s?$/;

/** A number with its unit as a person reads it: "41.0 ms", "1.20 GiB", "8 of 8 steps", "31.0%", "43.1 ms per step". */
export function formatValue(value: number | string | null | undefined, unit?: string | null, of?: number | null): string {
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return unit ? `${value} ${unit}` : value;
  const u = (unit ?? "").trim();
  const per = PER.exec(u);
  if (per) return `${formatValue(value, per[1], of)} per ${per[2]}`;
  switch (u) {
    case "ns": return formatNs(value);
    case "us": case "µs": return formatNs(value * 1e3);
    case "ms": return formatNs(value * 1e6);
    case "s": return formatNs(value * 1e9);
    case "bytes": case "B": return formatBytes(value);
    case "FLOP": case "FLOPs": case "flops": return formatFlops(value);
    case "FLOP/s": return formatFlopsPerS(value);
    case "B/s": case "bytes/s": return formatBytesPerS(value);
    case "share": case "fraction": case "ratio": return formatPct(value);
    case "%": case "pct": case "percent": return `${value.toFixed(1)}%`;
    case "FLOP/B": case "FLOP/byte": return `${num(value)} FLOP/B`;
    case "": return of !== null && of !== undefined ? `${num(value)} of ${num(of)}` : num(value);
    default: return of !== null && of !== undefined ? `${num(value)} of ${num(of)} ${u}` : `${num(value)} ${value === 1 ? SINGULAR[u] ?? u : u}`;
  }
}

/** A count unit for one: "1 compilation", not "1 compilations". */
const SINGULAR: Record<string, string> = { steps: "step", calls: "call", ops: "op", compilations: "compilation", kernels: "kernel" };

function sig(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Counts as integers with separators; anything fractional with 3 significant digits (with separators from 1000 on). */
function num(v: number): string {
  return Number.isInteger(v) || Math.abs(v) >= 1000 ? formatCount(v) : sig(v);
}

export function formatEvidence(e: EvidenceLike): string {
  return `${e.label}: ${formatValue(e.value, e.unit, e.of)}`;
}

/** Confidence 0..1 in words: "high" from 0.75, "medium" from 0.5, else "low". */
export function confidenceWord(c: number | null | undefined): "high" | "medium" | "low" | "unknown" {
  if (c === null || c === undefined || !Number.isFinite(c)) return "unknown";
  return c >= 0.75 ? "high" : c >= 0.5 ? "medium" : "low";
}

/** The window a timeline link opens: the representative window with 5% of margin on each side. */
export function linkWindow(start_ns: number, end_ns: number): { t0: number; t1: number } {
  const span = Math.max(1, end_ns - start_ns);
  const pad = span * 0.05;
  return { t0: Math.max(0, Math.round(start_ns - pad)), t1: Math.round(end_ns + pad) };
}

export interface DeepLink {
  kind: "timeline" | "hosts" | "ops" | "roofline" | "framework";
  /** The link's text: where it goes. */
  label: string;
  /** A longer description for the tooltip. */
  title: string;
  view: Partial<ViewState>;
}

/** The finding's links as view states of this profile, in a fixed order: timeline, hosts, ops, roofline, framework. */
export function deepLinks(links: LinksLike | null | undefined): DeepLink[] {
  const out: DeepLink[] = [];
  const t = links?.timeline;
  if (t && ((t.start_ns !== null && t.end_ns !== null && t.end_ns > t.start_ns) || t.host)) {
    const view: Partial<ViewState> = { tab: "trace" };
    let where = "";
    if (t.start_ns !== null && t.end_ns !== null && t.end_ns > t.start_ns) {
      Object.assign(view, linkWindow(t.start_ns, t.end_ns));
      where = ` ${formatNs(t.end_ns - t.start_ns)} window`;
    }
    if (t.host) view.host = t.host;
    if (t.host && t.device !== null && t.device !== undefined) view.dev = t.device;
    const on = t.host ? ` on ${t.host}${view.dev !== undefined ? `, device ${view.dev}` : ""}` : "";
    const step = t.step !== null && t.step !== undefined ? ` step ${t.step}` : "";
    out.push({ kind: "timeline", label: `Timeline:${step || " window"}${on}`, title: `Open the trace at a representative${where}${step ? ` (step ${t.step})` : ""}${on}`, view });
  }
  const hs = links?.hosts_steps;
  if (hs && hs.host) {
    out.push({ kind: "hosts", label: `Devices of ${hs.host}`, title: `Show ${hs.host} in the hosts × steps view, with its per-device breakdown`, view: { tab: "overview", host: hs.host } });
  }
  const o = links?.ops;
  if (o && (o.op || o.q || o.category || o.module)) {
    const view: Partial<ViewState> = { tab: "ops" };
    if (o.module && o.op) {
      view.module = o.module;
      view.op = o.op;
    }
    const filter = o.q || o.category || (!o.op ? o.module : null);
    if (filter) view.filter = filter;
    const what = o.op ?? filter ?? "";
    out.push({ kind: "ops", label: `Op profile: ${what}`, title: `Open the op profile${filter ? ` filtered to “${filter}”` : ""}${o.op ? `, ${o.op} selected` : ""}`, view });
  }
  const r = links?.roofline;
  if (r && r.module) {
    const view: Partial<ViewState> = { tab: "roofline", module: r.module };
    if (r.op) view.op = r.op;
    out.push({ kind: "roofline", label: `Roofline: ${r.op ?? r.module}`, title: `Show ${r.op ?? r.module} on the roofline`, view });
  }
  const f = links?.framework;
  if (f && f.path) {
    out.push({ kind: "framework", label: `Scope: ${f.path}`, title: `Show the JAX scope ${f.path} in the framework view`, view: { tab: "overview", scope: f.path } });
  }
  return out;
}

/** Findings in the order to show: cost per step descending, roll-ups (summary) after what they roll up. */
export function rankFindings<T extends { cost_ns_per_step: number; summary?: boolean }>(fs: readonly T[]): T[] {
  return [...fs].sort((a, b) => (b.cost_ns_per_step || 0) - (a.cost_ns_per_step || 0) || Number(!!a.summary) - Number(!!b.summary));
}
