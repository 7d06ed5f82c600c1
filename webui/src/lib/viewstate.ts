// The profile page's view state and its URL codec:
//   /p/<id>?tab=trace&t0=<ns>&t1=<ns>&sel=<event id>&q=<search>&module=<m>&op=<op>
//          &host=<host>&dev=<device id>&filter=<op profile filter>&scope=<a/b/c>
// Parsing is forgiving (bad values are dropped, never thrown); serialising is
// canonical (fixed key order, integers for times) so equal states give equal
// URLs and share links.

export const TABS = ["overview", "trace", "ops", "roofline", "memory", "hlo"] as const;
export type Tab = (typeof TABS)[number];

export interface ViewState {
  tab: Tab;
  /** Visible window, ns from the profile's start. */
  t0?: number;
  t1?: number;
  /** Selected event id. */
  sel?: number;
  /** Search text. */
  q?: string;
  /** HLO module and op (HLO tab, op profile, roofline selection). */
  module?: string;
  op?: string;
  /** The host (and device on it) the trace scrolls to: a finding's deep link. */
  host?: string;
  dev?: number;
  /** The op profile's filter text. */
  filter?: string;
  /** The framework view's focused JAX named scope ("train_step/layer_3/moe"). */
  scope?: string;
}

export const DEFAULT_VIEW: ViewState = { tab: "overview" };

export function isTab(s: unknown): s is Tab {
  return typeof s === "string" && (TABS as readonly string[]).includes(s);
}

function num(s: string | null | undefined | number): number | undefined {
  if (s === null || s === undefined || s === "") return undefined;
  const v = typeof s === "number" ? s : Number(s);
  return Number.isFinite(v) ? v : undefined;
}

function str(s: unknown): string | undefined {
  return typeof s === "string" && s !== "" ? s : undefined;
}

/** Build a valid state from loose input (URL params or a share's stored view). */
export function normalizeView(raw: Record<string, unknown>): ViewState {
  const v: ViewState = { tab: isTab(raw.tab) ? raw.tab : "overview" };
  let t0 = num(raw.t0 as string);
  let t1 = num(raw.t1 as string);
  if (t0 !== undefined && t1 !== undefined) {
    if (t1 < t0) [t0, t1] = [t1, t0];
    if (t1 > t0 && t0 >= 0) {
      v.t0 = Math.round(t0);
      v.t1 = Math.round(t1);
    }
  }
  const sel = num(raw.sel as string);
  if (sel !== undefined && Number.isInteger(sel) && sel >= 0) v.sel = sel;
  const q = str(raw.q);
  if (q !== undefined) v.q = q;
  const module = str(raw.module);
  if (module !== undefined) v.module = module;
  const op = str(raw.op);
  if (op !== undefined) v.op = op;
  const host = str(raw.host);
  if (host !== undefined) v.host = host;
  const dev = num(raw.dev as string);
  if (dev !== undefined && Number.isInteger(dev) && dev >= 0) v.dev = dev;
  const filter = str(raw.filter);
  if (filter !== undefined) v.filter = filter;
  const scope = str(raw.scope);
  if (scope !== undefined) v.scope = scope;
  return v;
}

export function parseViewState(search: string | URLSearchParams): ViewState {
  const p = typeof search === "string" ? new URLSearchParams(search) : search;
  const raw: Record<string, unknown> = {};
  for (const k of ["tab", "t0", "t1", "sel", "q", "module", "op", "host", "dev", "filter", "scope"]) {
    const val = p.get(k);
    if (val !== null) raw[k] = val;
  }
  return normalizeView(raw);
}

/** Canonical query string (without "?"), keys in a fixed order. */
export function serializeViewState(v: ViewState): string {
  const p = new URLSearchParams();
  if (v.tab !== "overview") p.set("tab", v.tab);
  if (v.t0 !== undefined && v.t1 !== undefined) {
    p.set("t0", String(Math.round(v.t0)));
    p.set("t1", String(Math.round(v.t1)));
  }
  if (v.sel !== undefined) p.set("sel", String(v.sel));
  if (v.q) p.set("q", v.q);
  if (v.module) p.set("module", v.module);
  if (v.op) p.set("op", v.op);
  if (v.host) p.set("host", v.host);
  if (v.dev !== undefined) p.set("dev", String(v.dev));
  if (v.filter) p.set("filter", v.filter);
  if (v.scope) p.set("scope", v.scope);
  return p.toString();
}

/** The object sent as a share's `view` (same keys, times as integers). */
export function viewToWire(v: ViewState): Record<string, string | number> {
  const out: Record<string, string | number> = { tab: v.tab };
  if (v.t0 !== undefined && v.t1 !== undefined) {
    out.t0 = Math.round(v.t0);
    out.t1 = Math.round(v.t1);
  }
  if (v.sel !== undefined) out.sel = v.sel;
  if (v.q) out.q = v.q;
  if (v.module) out.module = v.module;
  if (v.op) out.op = v.op;
  if (v.host) out.host = v.host;
  if (v.dev !== undefined) out.dev = v.dev;
  if (v.filter) out.filter = v.filter;
  if (v.scope) out.scope = v.scope;
  return out;
}

export function profilePath(id: string, v: ViewState = DEFAULT_VIEW): string {
  const q = serializeViewState(v);
  return `/p/${encodeURIComponent(id)}${q ? `?${q}` : ""}`;
}

export function sameView(a: ViewState, b: ViewState): boolean {
  return serializeViewState(a) === serializeViewState(b);
}
