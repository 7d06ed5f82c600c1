// Human formatting of the quantities xdiag shows. Conventions:
//   durations  ns -> "ns", "µs", "ms", "s" (3 significant digits unless asked)
//   positions  ns from the profile's start, with as many decimals as the
//              resolution asked for (a 1.53 µs op at 122 ms: "122.004 310 ms"),
//              decimals grouped by three with a narrow no-break space
//   sizes      bytes -> binary units (KiB, MiB, GiB)
//   rates      FLOP/s and B/s -> decimal units (GFLOP/s, GB/s), as hardware
//              peaks are quoted
//   shares     fractions 0..1 -> percent

const DASH = "–";

function sig(v: number, digits = 3): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(Math.max(0, digits - 2));
  return v.toFixed(Math.max(0, digits - 1));
}

function isNum(v: number | null | undefined): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** A duration with `digits` significant digits (3 by default). */
export function formatNs(ns: number | null | undefined, digits = 3): string {
  if (!isNum(ns)) return DASH;
  const a = Math.abs(ns);
  if (a < 1e3) return `${sig(ns, digits)} ns`;
  if (a < 1e6) return `${sig(ns / 1e3, digits)} µs`;
  if (a < 1e9) return `${sig(ns / 1e6, digits)} ms`;
  if (a < 600e9) return `${sig(ns / 1e9, digits)} s`;
  return `${sig(ns / 60e9, digits)} min`;
}

/** A signed duration (a difference): "+1.50 µs", "-3.20 ms", "0 ns". */
export function formatDeltaNs(ns: number | null | undefined): string {
  if (!isNum(ns)) return DASH;
  return `${ns > 0 ? "+" : ""}${formatNs(ns)}`;
}

/** Separates groups of three decimals: narrow, and never a line break. */
export const DIGIT_GAP = "\u202f";

export type TimeUnit = readonly [divisor: number, name: string];

const POSITION_UNITS: readonly TimeUnit[] = [[1e9, "s"], [1e6, "ms"], [1e3, "µs"], [1, "ns"]];

/** The unit a position (or the largest of several) reads best in: s from 1 s, ms from 1 ms, ... */
export function positionUnit(t_ns: number): TimeUnit {
  const a = Math.abs(t_ns);
  for (const u of POSITION_UNITS) if (a >= u[0]) return u;
  return [1, "ns"];
}

/** The largest power of ten (>= 1 ns) not above span / parts: the step to show a span in. */
export function timeResolution(span_ns: number, parts = 1000): number {
  const r = Math.abs(span_ns) / parts;
  return r >= 10 ? Math.pow(10, Math.floor(Math.log10(r) + 1e-9)) : 1;
}

/** Decimals a value in `unit` needs so that `resolution_ns` is its last digit. */
export function decimalsFor(resolution_ns: number, unit: TimeUnit): number {
  const r = Math.max(1, resolution_ns) / unit[0];
  return r >= 1 ? 0 : Math.min(9, Math.ceil(-Math.log10(r) - 1e-9));
}

/** "122.00431" -> "122.004 31": decimals in groups of three. */
export function groupDecimals(s: string): string {
  const dot = s.indexOf(".");
  if (dot < 0) return s;
  const frac = s.slice(dot + 1).replace(/(\d{3})(?=\d)/g, `$1${DIGIT_GAP}`);
  return `${s.slice(0, dot)}.${frac}`;
}

/**
 * A position on the time axis (ns from the profile's start), to `resolution_ns`
 * (1 ns: every digit), in `unit` (by default the one that suits `t_ns`):
 * formatTime(122_004_310, 1) = "122.004 310 ms", formatTime(122_004_310, 10) = "122.004 31 ms".
 */
export function formatTime(t_ns: number | null | undefined, resolution_ns = 1, unit?: TimeUnit): string {
  if (!isNum(t_ns)) return DASH;
  const u = unit ?? positionUnit(t_ns);
  return `${groupDecimals((t_ns / u[0]).toFixed(decimalsFor(resolution_ns, u)))} ${u[1]}`;
}

/**
 * A window [t0, t1] as "start – end unit (span)", both ends in one unit with the
 * decimals that tell them apart: "1.020 496 20 – 1.020 498 22 s (2.02 µs)".
 */
export function formatWindow(t0_ns: number, t1_ns: number): string {
  if (!isNum(t0_ns) || !isNum(t1_ns)) return DASH;
  const u = positionUnit(Math.max(Math.abs(t0_ns), Math.abs(t1_ns)));
  const res = timeResolution(t1_ns - t0_ns, 100);
  const num = (t: number) => groupDecimals((t / u[0]).toFixed(decimalsFor(res, u)));
  return `${num(t0_ns)} – ${num(t1_ns)} ${u[1]} (${formatNs(t1_ns - t0_ns)})`;
}

/**
 * Start, end and duration of one event, each end to the resolution that keeps
 * four significant digits of the duration (never coarser than needed to tell
 * start from end): a 1.53 µs op at 122 ms -> "122.004 310 ms" / "122.005 840 ms".
 */
export function formatEventTimes(start_ns: number, dur_ns: number): { start: string; end: string; dur: string } {
  const res = timeResolution(dur_ns, 1000);
  const u = positionUnit(start_ns + dur_ns);
  return { start: formatTime(start_ns, res, u), end: formatTime(start_ns + dur_ns, res, u), dur: formatNs(dur_ns, 4) };
}

const BIN = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(bytes: number | null | undefined): string {
  if (!isNum(bytes)) return DASH;
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < BIN.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${sig(v)} ${BIN[i]}`;
}

const DEC = ["", "K", "M", "G", "T", "P", "E"];

function decimal(v: number, unit: string): string {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1000 && i < DEC.length - 1) {
    x /= 1000;
    i++;
  }
  return `${sig(x)} ${DEC[i]}${unit}`;
}

export function formatFlops(flops: number | null | undefined): string {
  return isNum(flops) ? decimal(flops, "FLOP") : DASH;
}

export function formatFlopsPerS(v: number | null | undefined): string {
  return isNum(v) ? decimal(v, "FLOP/s") : DASH;
}

export function formatBytesPerS(v: number | null | undefined): string {
  return isNum(v) ? decimal(v, "B/s") : DASH;
}

/** Operational intensity, FLOP per byte. */
export function formatOi(v: number | null | undefined): string {
  return isNum(v) ? `${sig(v)} FLOP/B` : DASH;
}

/** A fraction 0..1 as a percentage. */
export function formatPct(share: number | null | undefined, digits = 1): string {
  if (!isNum(share)) return DASH;
  const p = share * 100;
  if (p !== 0 && Math.abs(p) < Math.pow(10, -digits)) return `<${Math.pow(10, -digits)}%`;
  return `${p.toFixed(digits)}%`;
}

/** A signed percentage (already in percent units), e.g. a diff. */
export function formatDeltaPct(pct: number | null | undefined): string {
  if (!isNum(pct)) return DASH;
  return `${pct > 0 ? "+" : ""}${pct.toFixed(1)}%`;
}

export function formatCount(n: number | null | undefined): string {
  if (!isNum(n)) return DASH;
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Seconds ago, from Unix seconds. */
export function formatAgo(unixSeconds: number | null | undefined, nowMs = Date.now()): string {
  if (!isNum(unixSeconds)) return DASH;
  const s = Math.max(0, nowMs / 1000 - unixSeconds);
  if (s < 1) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Unix seconds (or an ISO string) as a local date-time "YYYY-MM-DD HH:MM:SS". */
export function formatDateTime(t: number | string | null | undefined): string {
  if (t === null || t === undefined || t === "") return DASH;
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
