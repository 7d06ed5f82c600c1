// Time-axis ticks at "nice" steps (1, 2, 5 x 10^k ns) with labels in the
// unit that suits the step.

export interface Tick {
  t_ns: number;
  label: string;
}

const UNITS: [number, string][] = [
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
export function tickUnit(step_ns: number): [number, string] {
  for (const u of UNITS) if (step_ns >= u[0] / 10) return u;
  return [1, "ns"];
}

/** Label of a tick: as many decimals as the step needs in its unit. */
export function tickLabel(t_ns: number, step_ns: number): string {
  const [div, unit] = tickUnit(step_ns);
  const stepInUnit = step_ns / div;
  const decimals = stepInUnit >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(stepInUnit) - 1e-9));
  const v = t_ns / div;
  return `${v.toFixed(decimals)} ${unit}`;
}

/** Ticks for [t0, t1] drawn into width_px, at least minSpacing_px apart. */
export function timeTicks(t0_ns: number, t1_ns: number, width_px: number, minSpacing_px = 90): { step_ns: number; ticks: Tick[] } {
  const span = t1_ns - t0_ns;
  if (!(span > 0) || !(width_px > 0)) return { step_ns: 1, ticks: [] };
  const step = niceStep((span * minSpacing_px) / width_px);
  const firstIndex = Math.ceil(t0_ns / step);
  const ticks: Tick[] = [];
  for (let i = firstIndex; i * step <= t1_ns && ticks.length < 1000; i++) {
    const t = i * step;
    ticks.push({ t_ns: t, label: tickLabel(t, step) });
  }
  return { step_ns: step, ticks };
}
