// The application shell: header (navigation, theme toggle, help, user),
// session handling (sign-in, read-only share sessions) and routing of pages.

import { ApiClient, ApiError } from "../api/client";
import type { Session } from "../api/wire";
import { normalizeView } from "../lib/viewstate";
import type { Route } from "../state/route";
import { Router } from "../state/router";
import { ThemeController } from "../state/theme";
import { DiffPage } from "./diff-page";
import { h, replace } from "./dom";
import { helpOverlay } from "./help";
import { JobsPage } from "./jobs-page";
import { ProfilePage } from "./profile-page";
import { ProfilesPage } from "./profiles-page";
import { signinPage } from "./signin-page";
import { emptyState, errorState, loading } from "./states";

interface Page {
  el: HTMLElement;
  destroy?(): void;
}

export class App {
  private readonly api = new ApiClient();
  private readonly router = new Router();
  private readonly theme = new ThemeController();
  private readonly help = helpOverlay();
  private readonly main = h("main", { id: "main", tabindex: -1 });
  private readonly nav = h("nav", { class: "nav", "aria-label": "Main" });
  private readonly user = h("span", { class: "user" });
  private session: Session | null = null;
  private page: Page | null = null;
  private pageKey = "";
  private gPending = false;

  constructor(root: HTMLElement) {
    const themeBtn = h("button", { class: "btn icon", "data-testid": "theme-toggle", "aria-label": "Toggle light/dark theme", title: "Theme" });
    const syncThemeBtn = () => {
      const t = this.theme.theme.get();
      const p = this.theme.pref.get();
      themeBtn.textContent = t === "dark" ? "☾" : "☀";
      themeBtn.title = `Theme: ${t}${p === "auto" ? " (from the system)" : ""} — click to switch`;
    };
    this.theme.theme.subscribe(syncThemeBtn);
    this.theme.pref.subscribe(syncThemeBtn);
    syncThemeBtn();
    themeBtn.addEventListener("click", () => this.theme.toggle());
    const helpBtn = h("button", { class: "btn icon", "data-testid": "help-button", "aria-label": "Keyboard shortcuts (?)", title: "Keyboard shortcuts (?)", onclick: () => this.help.toggle() }, "?");
    root.append(
      h("a", { class: "skip", href: "#main" }, "Skip to content"),
      h("header", { class: "topbar" },
        h("a", { class: "logo", href: "/", "aria-label": "xdiag home" }, "xdiag"),
        this.nav, h("span", { class: "spacer" }), this.user, themeBtn, helpBtn),
      this.main, this.help.el);
    this.api.onUnauthorized = () => {
      if (this.session && !this.session.read_only && this.pageKey !== "signin") this.showSignin();
    };
    document.addEventListener("keydown", (e) => this.globalKey(e));
    this.router.route.subscribe((r) => this.render(r));
    void this.boot();
  }

  private async boot(): Promise<void> {
    replace(this.main, loading("session"));
    try {
      this.session = await this.api.session();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.session = { auth: "token", user: null, role: null, share: null, csrf_token: null, read_only: false };
      } else {
        replace(this.main, errorState(e, () => void this.boot()));
        return;
      }
    }
    this.api.csrfToken = this.session.csrf_token;
    this.renderChrome();
    if (this.needsSignin()) {
      this.showSignin();
      return;
    }
    this.render(this.router.route.get());
  }

  private needsSignin(): boolean {
    const s = this.session!;
    return s.auth === "token" && !s.user && !s.share && !s.read_only;
  }

  private renderChrome(): void {
    const s = this.session!;
    const ro = s.read_only;
    // Signed out (token auth): the other pages would only show the sign-in form again.
    replace(this.nav, ...(ro || this.needsSignin() ? [] : [
      h("a", { href: "/", "data-testid": "nav-profiles" }, "Profiles"),
      h("a", { href: "/jobs", "data-testid": "nav-jobs" }, "Jobs"),
      h("a", { href: "/diff", "data-testid": "nav-diff" }, "Diff"),
    ]));
    const signOut = s.auth === "token" && s.user
      ? h("button", { class: "btn small", "data-testid": "signout", onclick: async () => {
          try {
            await this.api.logout();
          } finally {
            location.assign("/");
          }
        } }, "Sign out")
      : null;
    replace(this.user, ro ? h("span", { class: "tag" }, "read-only") : null,
      s.user ? h("span", { class: "muted small", title: s.role ?? "" }, `${s.user}${s.role ? ` (${s.role})` : ""}`) : null, signOut);
    this.markNav();
  }

  private markNav(): void {
    const path = location.pathname;
    for (const a of this.nav.querySelectorAll("a")) {
      const href = a.getAttribute("href")!;
      const on = href === "/" ? path === "/" || path.startsWith("/p/") : path.startsWith(href);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  private showSignin(): void {
    this.setPage("signin", { el: signinPage(this.api, () => void this.boot()) });
  }

  private setPage(key: string, page: Page): void {
    this.page?.destroy?.();
    this.page = page;
    this.pageKey = key;
    replace(this.main, page.el);
  }

  private render(r: Route): void {
    const s = this.session;
    if (!s || this.needsSignin()) return;
    this.markNav();
    if (s.read_only && s.share && r.page !== "share" && !(r.page === "profile" && r.id === s.share.profile_id)) {
      // A share session sees one profile only.
      this.setPage("ro", { el: h("div", { class: "page" }, emptyState("This is a read-only shared session for one profile.", "Open the shared view below; other pages need a sign-in."),
        h("p", null, h("a", { class: "btn primary", href: `/p/${encodeURIComponent(s.share.profile_id)}` }, "Open the shared profile"))) });
      return;
    }
    switch (r.page) {
      case "profiles":
        document.title = "Profiles · xdiag";
        this.setPage("profiles", new ProfilesPage(this.api, this.router, s, r));
        return;
      case "jobs":
        document.title = "Jobs · xdiag";
        this.setPage("jobs", new JobsPage(this.api, s));
        return;
      case "diff":
        document.title = "Diff · xdiag";
        this.setPage(`diff:${r.a}:${r.b}`, new DiffPage(this.api, this.router, r.a, r.b));
        return;
      case "profile": {
        const key = `profile:${r.id}`;
        if (this.pageKey === key && this.page instanceof ProfilePage) {
          this.page.setRouteView(r.view);
          return;
        }
        this.setPage(key, new ProfilePage({ api: this.api, router: this.router, session: s, theme: this.theme.theme }, r.id, `/p/${encodeURIComponent(r.id)}`, r.view, s.read_only));
        return;
      }
      case "share": {
        if (!s.share) {
          this.setPage("share-bad", { el: h("div", { class: "page" }, errorState(new ApiError(404, "share_not_found", "This share link is unknown, revoked or expired."))) });
          return;
        }
        const view = r.hasView ? r.view : normalizeView((s.share.view ?? {}) as Record<string, unknown>);
        const key = `share:${r.token}`;
        if (this.pageKey === key && this.page instanceof ProfilePage) {
          this.page.setRouteView(view);
          return;
        }
        this.setPage(key, new ProfilePage({ api: this.api, router: this.router, session: s, theme: this.theme.theme },
          s.share.profile_id, `/s/${encodeURIComponent(r.token)}`, view, true));
        return;
      }
      default:
        document.title = "Not found · xdiag";
        this.setPage("404", { el: h("div", { class: "page" }, emptyState(`Nothing at ${r.path}.`, "Go to the profiles list."), h("a", { href: "/" }, "← Profiles")) });
    }
  }

  private globalKey(e: KeyboardEvent): void {
    if (e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.key === "Escape") {
      this.help.close();
      return;
    }
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (e.key === "?") {
      e.preventDefault();
      this.help.toggle();
      return;
    }
    if (this.session?.read_only) return;
    if (this.gPending) {
      this.gPending = false;
      if (e.key === "p") this.router.navigate("/");
      else if (e.key === "j") this.router.navigate("/jobs");
      return;
    }
    if (e.key === "g") {
      this.gPending = true;
      setTimeout(() => (this.gPending = false), 1200);
    }
  }
}
