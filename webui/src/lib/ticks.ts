// Time-axis ticks at "nice" steps (1, 2, 5 x 10^k ns) whose labels stay short
// and distinct at every zoom level.
//
// Labels are positions in one unit for the whole axis (the one that suits the
// window: "122.02 ms", "122.04 ms") with the decimals the step needs. When that
// takes more than MAX_DIGITS digits (a 2 µs window 1.02 s in would read
// "1.0204962 s"), the ticks are offsets from an origin shown once in the axis
// caption: "1.020 49 s +" then "+6.2 µs", "+6.4 µs". The origin is a multiple
// of a power of ten at least the span, so it stays put while the view pans
// within it and the offsets stay under twice that power.

import { decimalsFor, formatTime, positionUnit, type TimeUnit } from "./format";

export interface Tick {
  t_ns: number;
  label: string;
}

export interface TimeTicks {
  step_ns: number;
  ticks: Tick[];
  /** Labels are offsets from this position (ns), or absolute positions when null. */
  origin_ns: number | null;
  /** What the labels are measured from, for the corner of the axis. */
  caption: string;
}

/** Most digits an absolute tick label may have before the axis switches to offsets. */
export const MAX_DIGITS = 6;

const UNITS: TimeUnit[] = [
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
  [1, "ns"],
];

/** Smallest nice step (1/2/5 x 10^k, >= 1 ns) not below `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 1)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** The largest unit in which the step needs at most one decimal. */
export function tickUnit(step_ns: number): TimeUnit {
  for (const u of UNITS) if (step_ns >= u[0] / 10) return u;
  return [1, "ns"];
}

/** Label of a tick in `unit` (by default the step's): as many decimals as the step needs. */
export function tickLabel(t_ns: number, step_ns: number, unit: TimeUnit = tickUnit(step_ns)): string {
  return `${(t_ns / unit[0]).toFixed(decimalsFor(step_ns, unit))} ${unit[1]}`;
}

/** Digits of a label's number ("122.04 ms" -> 5). */
function digits(label: string): number {
  return (label.split(" ")[0]!.replace(/^-?0\.0*/, "").match(/\d/g) ?? []).length;
}

/** Ticks for [t0, t1] drawn into width_px, at least minSpacing_px apart. */
export function timeTicks(t0_ns: number, t1_ns: number, width_px: number, minSpacing_px = 90): TimeTicks {
  const span = t1_ns - t0_ns;
  if (!(span > 0) || !(width_px > 0)) return { step_ns: 1, ticks: [], origin_ns: null, caption: "" };
  const step = niceStep((span * minSpacing_px) / width_px);
  const times: number[] = [];
  for (let i = Math.ceil(t0_ns / step); i * step <= t1_ns && times.length < 1000; i++) times.push(i * step);
  const unit = positionUnit(Math.max(Math.abs(t0_ns), Math.abs(t1_ns)));
  const absolute = times.map((t) => tickLabel(t, step, unit));
  if (absolute.every((l) => digits(l) <= MAX_DIGITS)) {
    return { step_ns: step, ticks: times.map((t, i) => ({ t_ns: t, label: absolute[i]! })), origin_ns: null, caption: "time from start" };
  }
  const p = Math.pow(10, Math.ceil(Math.log10(span) - 1e-9));
  const origin = Math.floor(t0_ns / p) * p;
  return {
    step_ns: step,
    ticks: times.map((t) => ({ t_ns: t, label: `+${tickLabel(t - origin, step)}` })),
    origin_ns: origin,
    caption: `${formatTime(origin, p)} +`,
  };
}
