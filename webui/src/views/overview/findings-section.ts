// The Overview's findings: the diagnosis' ranked list, each with its cost per
// step, confidence, evidence with units, what to try and deep links (timeline
// window on the host/device, op profile filtered, roofline point, scope).

import type { Diagnosis, Finding, NotAvailable } from "../../api/wire";
import { confidenceWord, deepLinks, formatEvidence, rankFindings } from "../../lib/findings";
import { formatNs, formatPct } from "../../lib/format";
import type { ViewState } from "../../lib/viewstate";
import { h, withCode } from "../dom";
import { emptyState } from "../states";

/** Findings shown before "show N more". */
const SHOWN = 6;

export function findingsSection(d: Diagnosis | NotAvailable, href: (v: Partial<ViewState>) => string, profileId = "PROFILE"): HTMLElement {
  const el = h("section", { class: "findings", "data-testid": "findings", "aria-labelledby": "findings-h" });
  if (!d.available) {
    el.append(h("h3", { id: "findings-h" }, "Findings"));
    el.append(emptyState(`Diagnosis ${d.reason}.`, `Run \`xdiag ingest ${profileId}\` again to compute it.`));
    el.dataset.available = "0";
    return el;
  }
  el.dataset.available = "1";
  const fs = rankFindings(d.findings);
  const steps = d.summary.steps;
  const stepNs = d.summary.step_ns;
  // Costs are shares of the mean step period (step plus the idle gap after it); a profile
  // ingested before the period was stored falls back on the median step.
  const periodNs = d.summary.period_ns ?? stepNs;
  // The heading and its one-line summary share a row (the median step, MFU and the
  // host/device count are in the Overview's headline above).
  el.append(h("div", { class: "findings-head" },
    h("h3", { id: "findings-h" }, "Findings"),
    h("span", { class: "muted small", "data-testid": "findings-summary", title: stepNs !== null ? `Median step ${formatNs(stepNs)} over ${steps} step${steps === 1 ? "" : "s"}` : undefined },
      fs.length
        ? `${fs.length} finding${fs.length === 1 ? "" : "s"}, ranked by the time each is estimated to cost per step`
        : "No problem found",
      ` · ${d.rules.length} rules checked`)));
  if (!fs.length) {
    el.append(h("p", { class: "finding-none", "data-testid": "findings-none" },
      "None of the rules fired: no straggler, input stall, exposed communication, memory-bound hot op, recompilation, dispatch overhead or host callback above its threshold."));
  }
  const list = h("ol", { class: "finding-list" });
  let causeAbove = false;
  fs.forEach((f, i) => {
    const card = findingCard(f, i + 1, periodNs, href, causeAbove);
    if (!f.summary) causeAbove = true;
    if (i >= SHOWN) card.hidden = true;
    list.append(card);
  });
  el.append(list);
  if (fs.length > SHOWN) {
    const more = h("button", { class: "btn small", type: "button" }, `Show ${fs.length - SHOWN} more`);
    more.addEventListener("click", () => {
      for (const c of list.children) (c as HTMLElement).hidden = false;
      more.remove();
    });
    el.append(more);
  }
  el.append(rulesTable(d));
  return el;
}

function findingCard(f: Finding, rank: number, periodNs: number | null, href: (v: Partial<ViewState>) => string, causeAbove: boolean): HTMLElement {
  const conf = confidenceWord(f.confidence);
  const share = f.cost_share ?? (periodNs ? Math.min(1, f.cost_ns_per_step / periodNs) : null);
  const cost = f.rule === "memory_capacity" && !f.cost_ns_per_step
    ? h("span", { class: "finding-cost", title: "A risk, not time: ranked last" }, "risk")
    : h("span", { class: "finding-cost", "data-testid": "finding-cost", title: "Estimated time this costs per step (the ranking key)" },
      `≈ ${formatNs(f.cost_ns_per_step)} / step`, shareNote(share, periodNs));
  const links = deepLinks(f.links);
  // A roofline link that names no op (low MFU with no single culprit) still opens the roofline.
  if (f.links?.roofline && !f.links.roofline.module && !links.some((l) => l.kind === "roofline")) {
    links.push({ kind: "roofline", label: "Roofline", title: "Open the roofline: every op against the compute and bandwidth roofs", view: { tab: "roofline" } });
  }
  return h("li", {
    class: `finding sev-${f.severity}${f.summary ? " finding-summary" : ""}`, "data-testid": "finding",
    "data-rule": f.rule, "data-finding-id": f.id,
  },
    h("div", { class: "finding-head" },
      h("span", { class: "finding-rank", "aria-label": `rank ${rank}` }, String(rank)),
      h("span", { class: `tag sev sev-${f.severity}`, title: "Severity, from the cost's share of the step period" }, f.severity),
      h("strong", { class: "finding-title", "data-testid": "finding-title" }, f.title),
      h("span", { class: "spacer" }),
      cost,
      h("span", { class: `finding-conf conf-${conf}`, title: `Confidence ${f.confidence.toFixed(2)} (0–1): how sure the rule is of the cause` }, `confidence ${conf}`)),
    // A roll-up repeats its dominant cause's cost; say so only where that cause is a finding above.
    f.summary && causeAbove ? h("div", { class: "muted small" }, "A roll-up: its cost is the dominant cause's, listed above.") : null,
    h("div", { class: "finding-body" },
      f.evidence.length ? h("div", null, h("div", { class: "finding-sub" }, "Evidence"),
        h("ul", { class: "finding-evidence", "data-testid": "finding-evidence" }, ...f.evidence.map((e) => h("li", null, formatEvidence(e))))) : null,
      f.what_to_try.length ? h("div", null, h("div", { class: "finding-sub" }, "What to try"),
        h("ul", { class: "finding-try" }, ...f.what_to_try.map((t) => h("li", null, ...withCode(t))))) : null),
    links.length ? h("div", { class: "finding-links" }, ...links.map((l) =>
      h("a", { class: "btn small", href: href(l.view), title: l.title, "data-testid": "finding-link", "data-kind": l.kind }, `${l.label} →`))) : null);
}

/** The cost's share of the step period (the API's cost_share: the mean step plus the idle
 *  gap after it, at most 100%: a step cannot lose more than it lasts; an estimate that
 *  reaches it is said so rather than shown as "116% of the step"). */
function shareNote(share: number | null, periodNs: number | null): HTMLElement | null {
  if (share === null) return null;
  const of = `the mean step period${periodNs !== null ? ` (${formatNs(periodNs)}, step plus the idle gap before the next)` : ""}`;
  if (share < 1) return h("span", { class: "muted", title: `${formatPct(share, 1)} of ${of}` }, ` (${formatPct(share, 0)} of the step period)`);
  return h("span", { class: "muted", title: `The estimate is as long as ${of} or longer: capped at 100%` },
    " (the whole step period)");
}

function rulesTable(d: Diagnosis): HTMLElement {
  const skipped = new Map((d.skipped ?? []).map((s) => [s.rule, s.reason]));
  const thr = (t: Record<string, number | string | boolean>) => Object.entries(t).map(([k, v]) => `${k.replace(/(^|_)(ns|us)(?=_|$)/g, "").replace(/^_|_$/g, "").replace(/_/g, " ")} ${thresholdValue(k, v)}`).join(" · ");
  return h("details", { class: "rules", "data-testid": "findings-rules" },
    h("summary", null, `Rules and thresholds (${d.rules.filter((r) => r.fired).length} of ${d.rules.length} fired)`),
    h("table", { class: "table" },
      h("thead", null, h("tr", null, h("th", null, "Rule"), h("th", null, "Fired"), h("th", null, "Thresholds"))),
      h("tbody", null, ...d.rules.map((r) => h("tr", null,
        h("td", { title: r.rule }, r.title),
        h("td", null, r.fired ? "yes" : skipped.has(r.rule) ? h("span", { class: "muted", title: skipped.get(r.rule) }, "skipped") : "no"),
        h("td", { class: "small muted" }, thr(r.thresholds)))))));
}

/** A threshold's value in its unit, from the key's suffix (`_ns`, `_us`, share/fraction). */
export function thresholdValue(key: string, v: number | string | boolean): string {
  if (typeof v !== "number") return String(v);
  if (/(^|_)ns(_|$)/.test(key)) return formatNs(v);
  if (/(^|_)us(_|$)/.test(key)) return formatNs(v * 1e3);
  if (/share|frac|mfu|hfu|ratio|pct_of|utili/.test(key) && v <= 1) return formatPct(v, 0);
  return String(v);
}
