// The Overview's one-line headline above the findings: the numbers an ML
// engineer reads first (median step time, MFU), so the findings can lead the
// page while the full summary strip sits lower down.

import type { Diagnosis, NotAvailable, StepsResponse } from "../../api/wire";
import { formatCount, formatNs, formatPct } from "../../lib/format";

export interface HeadlineItem {
  key: "step" | "p90" | "steps" | "mfu" | "hfu" | "hosts";
  label: string;
  value: string;
  title?: string;
  /** A value that cannot be right as shown (MFU above 100%): drawn as a warning. */
  warn?: boolean;
}

/** What an MFU/HFU above 100% means: the peak it is measured against is too low. */
export const OVER_PEAK = "Above 100%: the peak FLOP/s this is measured against is too low. Without peaks recorded with the profile, a CPU's peak is measured on the xdiag service host, which reads low when that host is busy; record the peak with the capture.";

const STEP_DEF = "A step runs from when its host side began (its StepTraceAnnotation) and the devices had finished earlier work, to when its last device op ended.";

/** The headline's items, from the steps' summary and the diagnosis' (either may be missing). */
export function headlineItems(steps: StepsResponse["summary"] | null, diag: Diagnosis | NotAvailable | null): HeadlineItem[] {
  const ds = diag && diag.available ? diag.summary : null;
  const out: HeadlineItem[] = [];
  const median = steps?.p50_ns ?? ds?.step_ns ?? null;
  if (median !== null && median !== undefined) out.push({ key: "step", label: "Median step", value: formatNs(median), title: STEP_DEF });
  if (steps?.p90_ns !== null && steps?.p90_ns !== undefined) out.push({ key: "p90", label: "p90", value: formatNs(steps.p90_ns), title: "90th percentile of the complete steps' times" });
  const n = steps ? steps.complete ?? steps.count : ds?.steps;
  if (n !== undefined && n !== null) {
    const cut = steps?.incomplete ?? 0;
    out.push({ key: "steps", label: "Steps", value: formatCount(n) + (cut ? ` (+${cut} cut off)` : ""),
      title: cut ? `${cut} step(s) whose device work the capture cut off are left out of the statistics` : "Complete steps in the capture" });
  }
  const mfu = steps?.mfu ?? ds?.mfu ?? null;
  if (mfu !== null && mfu !== undefined) {
    out.push({ key: "mfu", label: "MFU", value: formatPct(mfu), warn: mfu > 1,
      title: `Model FLOPs utilisation: ${steps?.mfu_source ?? "FLOPs"} over the peak FLOP/s of the devices` + (mfu > 1 ? `\n${OVER_PEAK}` : "") });
  }
  if (steps?.hfu !== null && steps?.hfu !== undefined) {
    out.push({ key: "hfu", label: "HFU", value: formatPct(steps.hfu), warn: steps.hfu > 1,
      title: "Hardware FLOPs utilisation: the FLOPs of the ops that ran (HLO cost model) over the same peak" + (steps.hfu > 1 ? `\n${OVER_PEAK}` : "") });
  }
  if (ds) {
    const plural = (k: number, w: string) => `${formatCount(k)} ${w}${k === 1 ? "" : "s"}`;
    out.push({ key: "hosts", label: "", value: `${plural(ds.hosts, "host")}, ${plural(ds.devices, "device")}` });
  }
  return out;
}
