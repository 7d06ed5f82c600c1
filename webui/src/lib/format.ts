// Human formatting of the quantities xdiag shows. Conventions:
//   durations  ns -> "ns", "µs", "ms", "s" (3 significant digits)
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

export function formatNs(ns: number | null | undefined): string {
  if (!isNum(ns)) return DASH;
  const a = Math.abs(ns);
  if (a < 1e3) return `${sig(ns)} ns`;
  if (a < 1e6) return `${sig(ns / 1e3)} µs`;
  if (a < 1e9) return `${sig(ns / 1e6)} ms`;
  if (a < 600e9) return `${sig(ns / 1e9)} s`;
  return `${sig(ns / 60e9)} min`;
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
