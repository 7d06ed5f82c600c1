// The profile page: header (id, status, hosts, Share), tabs Overview / Trace
// / Op profile / Roofline / Memory / HLO, and the view state that lives in the URL.
// Panels are created on first use and kept, so switching tabs is instant and
// the timeline keeps its place.

import type { ApiClient } from "../api/client";
import type { Profile, Session } from "../api/wire";
import { formatBytes, formatCount, formatDateTime, formatNs } from "../lib/format";
import { serializeViewState, TABS, type Tab, type ViewState } from "../lib/viewstate";
import type { Router } from "../state/router";
import type { Store } from "../state/store";
import type { Theme } from "../state/theme";
import { h, replace } from "./dom";
import { HloPanel } from "./hlo-panel";
import { MemoryPanel } from "./memory-panel";
import { OpsPanel } from "./ops-panel";
import { OverviewPanel } from "./overview-panel";
import type { Panel, PanelContext } from "./panel";
import { RooflinePanel } from "./roofline-panel";
import { shareButton } from "./share-dialog";
import { errorState, loading } from "./states";
import { TracePanel } from "./trace/trace-panel";

export const TAB_LABELS: Record<Tab, string> = {
  overview: "Overview",
  trace: "Trace",
  ops: "Op profile",
  roofline: "Roofline",
  memory: "Memory",
  hlo: "HLO",
};

/** Between long polls (each held by the server until something changed or 10 s passed). */
const FOLLOW_GAP_MS = 50;

export interface PageDeps {
  api: ApiClient;
  router: Router;
  session: Session;
  theme: Store<Theme>;
}

export class ProfilePage {
  readonly el = h("div", { class: "page profile-page" });
  private profile: Profile | null = null;
  private view: ViewState;
  private panels = new Map<Tab, Panel>();
  private tabButtons = new Map<Tab, HTMLButtonElement>();
  private readonly panelHost = h("div", { class: "panels" });
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly aborter = new AbortController();
  private destroyed = false;
  /** Ingesting with the timeline ready: only the trace is shown. */
  private early = false;
  /** While early: how many hosts the trace was opened on (a pod slice's grow). */
  private earlyHosts = 0;
  private readonly onKey = (e: KeyboardEvent) => this.key(e);

  /**
   * @param basePath "/p/<id>" normally, "/s/<token>" for a shared view: the
   *   URL the view state is written under.
   */
  constructor(
    private readonly deps: PageDeps,
    readonly id: string,
    private readonly basePath: string,
    view: ViewState,
    private readonly readOnly: boolean,
  ) {
    this.view = view;
    document.addEventListener("keydown", this.onKey);
    void this.load();
  }

  destroy(): void {
    this.destroyed = true;
    document.removeEventListener("keydown", this.onKey);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.aborter.abort();
    for (const p of this.panels.values()) p.destroy();
  }

  /** The URL changed under us (back/forward, a link inside the page). */
  setRouteView(v: ViewState): void {
    this.view = v;
    if (this.profile) this.applyView();
  }

  private href(v: Partial<ViewState>): string {
    const q = serializeViewState({ tab: "overview", ...v } as ViewState);
    return `${this.basePath}${q ? `?${q}` : ""}`;
  }

  /** While the profile ingests, ask again at once: the server holds the answer until the
   *  timeline opens or the ingest ends (long poll), so neither waits on a poll interval. */
  private follow(wait: "timeline" | "host" | "ready"): void {
    this.pollTimer = setTimeout(() => void this.load(wait), FOLLOW_GAP_MS);
  }

  private async load(wait?: "timeline" | "host" | "ready"): Promise<void> {
    if (!this.early && !wait) replace(this.el, loading("profile"));
    let p: Profile;
    try {
      p = await this.deps.api.profile(this.id, this.aborter.signal, wait);
    } catch (e) {
      if (this.destroyed) return;
      replace(this.el, h("p", null, h("a", { href: "/" }, "← Profiles")), errorState(e, () => void this.load()));
      return;
    }
    if (this.destroyed) return;
    this.profile = p;
    const nHosts = p.hosts.length;
    // A session of several hosts (a pod slice) opens on its first hosts and grows.
    const shown = p.timeline_ready ? nHosts : (p.timeline_hosts ?? 0);
    if (p.status === "ingesting" && shown > 0) {
      // Timeline first: the trace opens while the op and step tables are still built.
      this.follow(shown < nHosts ? "host" : "ready");
      const status = h("div", { class: "state state-loading small", role: "status", "data-testid": "timeline-early" },
        h("span", { class: "spinner", "aria-hidden": "true" }),
        shown < nHosts
          ? ` Timeline of ${shown} of ${nHosts} hosts (${p.hosts_ready ?? shown} ingested); the others join it as they are ingested. The op profile, roofline, steps and HLO follow.`
          : " Timeline ready. The op profile, roofline, steps and HLO are still being computed; the other tabs open when they are.");
      if (this.early && shown === this.earlyHosts) {
        this.el.querySelector("[data-testid=timeline-early]")?.replaceWith(status);
        this.el.querySelector(".page-head")?.replaceWith(this.header(p));
        return;
      }
      if (this.early) this.dropPanels();  // more hosts: the trace reopens on them, same view
      this.early = true;
      this.earlyHosts = shown;
      if (this.view.tab !== "trace") this.setView({ tab: "trace" });
      replace(this.el, this.header(p), status, this.panelHost);
      this.showPanel("trace");
      return;
    }
    if (this.early) {
      // Ready now: rebuild the panels so the trace gets its step markers; the view
      // (window, selection, search) lives in the URL and is kept.
      this.early = false;
      this.dropPanels();
    }
    if (p.status === "ingesting") {
      replace(this.el, this.header(p),
        h("div", { class: "state state-loading", role: "status", "data-testid": "ingesting" },
          h("span", { class: "spinner", "aria-hidden": "true" }),
          ` Ingesting ${formatCount(p.events)} events from ${nHosts} host(s)… this page opens the profile as soon as it is ready.`));
      this.follow(nHosts > 1 ? "host" : "timeline");
      return;
    }
    if (p.status === "failed") {
      replace(this.el, this.header(p),
        errorState(new Error(`Ingest failed: ${p.error ?? "no reason recorded"}`)),
        h("p", { class: "hint" }, "Re-run the ingest with ", h("code", null, `xdiag ingest ${p.id}`),
          " after fixing the cause, or upload the raw files again. The raw data is kept: ",
          ...p.hosts.map((x) => h("a", { href: this.deps.api.rawUrl(p.id, x.host), download: true, "data-external": true }, `${x.host}.xplane.pb `))));
      return;
    }
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Profile views" },
      ...TABS.map((t, i) => {
        const b = h("button", {
          class: "tab", role: "tab", id: `tab-${t}`, "aria-controls": `tabpanel-${t}`, "data-testid": `tab-${t}`,
          title: `${TAB_LABELS[t]} (${i + 1})`,
          onclick: () => this.setView({ tab: t }, true),
        }, TAB_LABELS[t]);
        this.tabButtons.set(t, b);
        return b;
      }));
    tablist.addEventListener("keydown", (e) => {
      const i = TABS.indexOf(this.view.tab);
      let next = -1;
      if (e.key === "ArrowRight") next = (i + 1) % TABS.length;
      else if (e.key === "ArrowLeft") next = (i + TABS.length - 1) % TABS.length;
      else if (e.key === "Home") next = 0;
      else if (e.key === "End") next = TABS.length - 1;
      if (next < 0) return;
      e.preventDefault();
      this.setView({ tab: TABS[next]! }, true);
      this.tabButtons.get(TABS[next]!)!.focus();
    });
    replace(this.el, this.header(p), tablist, this.panelHost);
    this.applyView();
  }

  private dropPanels(): void {
    for (const panel of this.panels.values()) panel.destroy();
    this.panels.clear();
    this.panelHost.replaceChildren();
    this.shownTab = null;
  }

  private header(p: Profile): HTMLElement {
    const share = this.deps.session.share;
    return h("header", { class: "page-head" },
      h("div", null,
        this.readOnly ? null : h("a", { href: "/", class: "muted small" }, "← Profiles"),
        h("h1", { "data-testid": "profile-title", title: p.id }, p.session || p.id),
        h("div", { class: "muted small" },
          `run ${p.run}`, p.job ? ` · job ${p.job}` : "", ` · ${p.hosts.length} host${p.hosts.length === 1 ? "" : "s"}`,
          p.status === "ingesting" && p.hosts_ready !== undefined
            ? h("span", { "data-testid": "hosts-ready" }, ` (${p.hosts_ready} ready)`) : "",
          p.events !== null ? ` · ${formatCount(p.events)} events` : "",
          p.duration_ns !== null ? ` · ${formatNs(p.duration_ns)}` : "",
          ` · ${formatBytes(p.hosts.reduce((s, x) => s + (x.bytes || 0), 0))} raw · ${formatDateTime(p.created_at)}`,
          h("span", { class: `tag tag-${p.status}`, "data-testid": "profile-status" }, p.status))),
      h("span", { class: "spacer" }),
      this.readOnly
        ? h("div", { class: "banner", "data-testid": "readonly-banner" },
            "Shared view · read-only", share?.expires_at ? ` · expires ${formatDateTime(share.expires_at)}` : "")
        : p.status === "ready" && this.deps.session.role !== "viewer"
          ? shareButton(this.deps.api, p.id, () => this.view)
          : null);
  }

  private panelContext(): PanelContext {
    return {
      api: this.deps.api,
      profile: this.profile!,
      readOnly: this.readOnly,
      theme: this.deps.theme,
      view: () => this.view,
      setView: (patch, push) => this.setView(patch, push),
      href: (v) => this.href(v),
    };
  }

  private panel(tab: Tab): Panel {
    let p = this.panels.get(tab);
    if (!p) {
      const ctx = this.panelContext();
      p = tab === "overview" ? new OverviewPanel(ctx)
        : tab === "trace" ? new TracePanel(ctx)
        : tab === "ops" ? new OpsPanel(ctx)
        : tab === "roofline" ? new RooflinePanel(ctx)
        : tab === "memory" ? new MemoryPanel(ctx)
        : new HloPanel(ctx);
      p.el.id = `tabpanel-${tab}`;
      p.el.setAttribute("role", "tabpanel");
      p.el.setAttribute("aria-labelledby", `tab-${tab}`);
      this.panelHost.appendChild(p.el);
      this.panels.set(tab, p);
    }
    return p;
  }

  private shownTab: Tab | null = null;

  private applyView(): void {
    if (this.early) {
      this.showPanel("trace");
      return;
    }
    const tab = this.view.tab;
    for (const [t, b] of this.tabButtons) {
      const on = t === tab;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      b.classList.toggle("active", on);
    }
    this.showPanel(tab);
  }

  private showPanel(tab: Tab): void {
    const active = this.panel(tab);
    if (this.shownTab !== tab) {
      for (const [t, p] of this.panels) {
        if (t === tab) continue;
        if (!p.el.hidden) p.hide();
        p.el.hidden = true;
      }
      active.el.hidden = false;
      this.shownTab = tab;
      active.show();
    }
    active.update(this.view);
    document.title = `${TAB_LABELS[tab]} · ${this.profile?.session || this.id} · xdiag`;
  }

  setView(patch: Partial<ViewState>, push = false): void {
    const next: ViewState = { ...this.view };
    for (const [k, v] of Object.entries(patch) as [keyof ViewState, unknown][]) {
      if (v === undefined || v === null || v === "") delete next[k];
      else (next as unknown as Record<string, unknown>)[k] = v;
    }
    if (!next.tab) next.tab = "overview";
    const q = serializeViewState(next);
    const url = `${this.basePath}${q ? `?${q}` : ""}`;
    const tabChanged = next.tab !== this.view.tab;
    this.view = next;
    this.deps.router.setUrlQuietly(url, push || tabChanged);
    this.applyView();
  }

  private key(e: KeyboardEvent): void {
    if (!this.profile || e.metaKey || e.ctrlKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (document.querySelector(".overlay:not([hidden])")) return;
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= TABS.length && !(this.view.tab === "trace" && e.key === "0")) {
      e.preventDefault();
      this.setView({ tab: TABS[n - 1]! }, true);
    }
  }
}
