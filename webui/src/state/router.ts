// History routing: the Flask app serves index.html for every non-API path,
// so the client owns the path. Same-origin links are intercepted.

import { Store } from "./store";
import { parseRoute, type Route } from "./route";

export type { Route };

export class Router {
  readonly route: Store<Route>;

  constructor() {
    this.route = new Store(parseRoute(location.pathname, location.search));
    window.addEventListener("popstate", () => this.sync());
    document.addEventListener("click", (e) => this.onClick(e));
  }

  private sync(): void {
    this.route.set(parseRoute(location.pathname, location.search));
  }

  /** Go to a path; `replace` rewrites the current history entry. */
  navigate(url: string, replace = false): void {
    const here = location.pathname + location.search;
    if (url === here) return;
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    this.sync();
  }

  /** Change the URL without re-routing (view-state updates inside a page). */
  setUrlQuietly(url: string, push = false): void {
    const here = location.pathname + location.search;
    if (url === here) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
    // Keep the store in step without notifying: same page, new query.
    this.route.setSilently(parseRoute(location.pathname, location.search));
  }

  private onClick(e: MouseEvent): void {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || !(a instanceof HTMLAnchorElement)) return;
    if (a.target && a.target !== "_self") return;
    if (a.hasAttribute("download") || a.dataset.external !== undefined) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/healthz") || url.pathname.startsWith("/metrics")) return;
    e.preventDefault();
    this.navigate(url.pathname + url.search);
  }
}
