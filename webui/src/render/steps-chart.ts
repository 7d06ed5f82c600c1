// Stacked bar chart of step times (compute / collective / host / idle), one
// bar per step, on a canvas. Bars are hit-tested for hover and click.

import type { Step } from "../api/wire";
import { formatNs } from "../lib/format";
import { niceStep } from "../lib/ticks";

export const STEP_PARTS = [
  { key: "compute_ns", label: "compute", color: "#1a73e8" },
  { key: "collective_ns", label: "collective", color: "#e8710a" },
  { key: "host_ns", label: "host", color: "#9334e6" },
  { key: "idle_ns", label: "idle", color: "#9aa0a6" },
] as const;

/**
 * The stacked heights of one step's bar, in STEP_PARTS order. The server's
 * parts may overlap: `idle_ns` is the step minus the devices' busy time, and
 * `host_ns` is host-thread time that runs while the devices are busy or idle,
 * so compute + collective + host + idle can exceed the step. Stacked as is,
 * the bar would be taller than the step (and the axis). The excess is taken
 * from idle first (the devices idle while the host works), then from host, so
 * the bar is never taller than the step itself.
 */
export function stepStack(s: Step): number[] {
  const v = STEP_PARTS.map((p) => Math.max(0, (s[p.key] as number) || 0));
  let excess = v.reduce((a, b) => a + b, 0) - Math.max(0, s.dur_ns);
  for (const i of [3, 2, 1, 0]) {
    if (excess <= 0) break;
    const take = Math.min(v[i]!, excess);
    v[i]! -= take;
    excess -= take;
  }
  return v;
}

export interface StepsGeometry {
  left: number;
  top: number;
  plotW: number;
  plotH: number;
  barW: number;
  maxNs: number;
}

export function stepsGeometry(steps: Step[], width: number, height: number): StepsGeometry {
  const left = 64;
  const top = 10;
  const plotW = Math.max(10, width - left - 10);
  const plotH = Math.max(10, height - top - 26);
  const maxRaw = Math.max(1, ...steps.map((s) => s.dur_ns));
  const maxNs = niceStep(maxRaw / 4) * Math.ceil(maxRaw / niceStep(maxRaw / 4));
  const barW = steps.length ? plotW / steps.length : plotW;
  return { left, top, plotW, plotH, barW, maxNs };
}

export function stepAt(steps: Step[], g: StepsGeometry, x: number): number {
  if (x < g.left || x > g.left + g.plotW) return -1;
  const i = Math.floor((x - g.left) / g.barW);
  return i >= 0 && i < steps.length ? i : -1;
}

export function drawSteps(
  ctx: CanvasRenderingContext2D,
  steps: Step[],
  width: number,
  height: number,
  c: { bg: string; fg: string; muted: string; grid: string },
  hover: number,
): StepsGeometry {
  const g = stepsGeometry(steps, width, height);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  const tick = g.maxNs / 4;
  for (let i = 0; i <= 4; i++) {
    const v = tick * i;
    const y = g.top + g.plotH - (v / g.maxNs) * g.plotH;
    ctx.fillStyle = c.grid;
    ctx.fillRect(g.left, Math.round(y), g.plotW, 1);
    ctx.fillStyle = c.muted;
    ctx.textAlign = "right";
    ctx.fillText(formatNs(v), g.left - 6, y);
  }
  ctx.textAlign = "left";
  const gap = g.barW > 6 ? 2 : 0;
  steps.forEach((s, i) => {
    const x = g.left + i * g.barW;
    let y = g.top + g.plotH;
    let accounted = 0;
    const stack = stepStack(s);
    // A step the capture cut off is drawn faint: its time is only what was captured.
    ctx.globalAlpha = s.complete === false ? 0.35 : 1;
    for (let j = 0; j < STEP_PARTS.length; j++) {
      const part = STEP_PARTS[j]!;
      const v = stack[j]!;
      accounted += v;
      const h = (v / g.maxNs) * g.plotH;
      ctx.fillStyle = part.color;
      ctx.fillRect(x + gap / 2, y - h, Math.max(1, g.barW - gap), h);
      y -= h;
    }
    const rest = s.dur_ns - accounted;
    if (rest > 0) {
      const h = (rest / g.maxNs) * g.plotH;
      ctx.fillStyle = c.grid;
      ctx.fillRect(x + gap / 2, y - h, Math.max(1, g.barW - gap), h);
    }
    ctx.globalAlpha = 1;
    if (i === hover) {
      ctx.strokeStyle = c.fg;
      ctx.lineWidth = 1.5;
      const h = (s.dur_ns / g.maxNs) * g.plotH;
      ctx.strokeRect(x + gap / 2, g.top + g.plotH - h, Math.max(1, g.barW - gap), h);
    }
  });
  ctx.fillStyle = c.muted;
  ctx.textAlign = "center";
  const every = Math.max(1, Math.ceil(40 / g.barW));
  steps.forEach((s, i) => {
    if (i % every) return;
    ctx.fillText(String(s.step), g.left + (i + 0.5) * g.barW, g.top + g.plotH + 12);
  });
  ctx.textAlign = "left";
  return g;
}
