// Parsing of the web UI routes (docs/api.md, "Web UI routes"):
//   /                  profiles list
//   /p/<id>?tab=...    profile page
//   /jobs              jobs and capture
//   /diff?a=&b=        diff of two profiles
//   /s/<token>         shared view (read-only)

import { parseViewState, type ViewState } from "../lib/viewstate";

export type Route =
  | { page: "profiles"; q: string; run: string; job: string; status: string }
  | { page: "profile"; id: string; view: ViewState }
  | { page: "jobs" }
  | { page: "diff"; a: string; b: string }
  | { page: "share"; token: string; view: ViewState; hasView: boolean }
  | { page: "notfound"; path: string };

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseRoute(pathname: string, search: string): Route {
  const p = new URLSearchParams(search);
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/profiles") {
    return { page: "profiles", q: p.get("q") ?? "", run: p.get("run") ?? "", job: p.get("job") ?? "", status: p.get("status") ?? "" };
  }
  if (path === "/jobs") return { page: "jobs" };
  if (path === "/diff") return { page: "diff", a: p.get("a") ?? "", b: p.get("b") ?? "" };
  let m = /^\/p\/([^/]+)$/.exec(path);
  if (m) return { page: "profile", id: decode(m[1]!), view: parseViewState(p) };
  m = /^\/s\/([^/]+)$/.exec(path);
  if (m) {
    const hasView = ["tab", "t0", "t1", "sel", "q", "module", "op"].some((k) => p.has(k));
    return { page: "share", token: decode(m[1]!), view: parseViewState(p), hasView };
  }
  return { page: "notfound", path: pathname };
}

export function profilesPath(f: { q?: string; run?: string; job?: string; status?: string }): string {
  const p = new URLSearchParams();
  for (const k of ["q", "run", "job", "status"] as const) if (f[k]) p.set(k, f[k]!);
  const s = p.toString();
  return s ? `/?${s}` : "/";
}

export function diffPath(a: string, b: string): string {
  const p = new URLSearchParams();
  if (a) p.set("a", a);
  if (b) p.set("b", b);
  const s = p.toString();
  return s ? `/diff?${s}` : "/diff";
}
