// Loading, error and empty states that say what is happening and what to do.

import { ApiError } from "../api/client";
import { h, withCode } from "./dom";

export function loading(what: string): HTMLElement {
  return h("div", { class: "state state-loading", role: "status", "aria-live": "polite", "data-testid": "loading" },
    h("span", { class: "spinner", "aria-hidden": "true" }), ` Loading ${what}…`);
}

export function errorState(e: unknown, retry?: () => void): HTMLElement {
  const err = e instanceof ApiError ? e : null;
  const title = err ? `${err.status ? `${err.status} ` : ""}${err.code}` : "Something went wrong";
  const detail = err ? err.detail : e instanceof Error ? e.message : String(e);
  const hint = err?.hint ?? "Reload the page; if it persists, check the server log.";
  return h("div", { class: "state state-error", role: "alert", "data-testid": "error" },
    h("strong", null, title),
    h("p", null, ...withCode(detail)),
    hint ? h("p", { class: "hint" }, ...withCode(hint)) : null,
    retry ? h("button", { class: "btn", onclick: retry }, "Retry") : null,
  );
}

export function emptyState(text: string, hint?: string): HTMLElement {
  return h("div", { class: "state state-empty", "data-testid": "empty" },
    h("p", null, ...withCode(text)), hint ? h("p", { class: "hint" }, ...withCode(hint)) : null);
}

/** Small transient message at the bottom of the window. */
export function toast(text: string, kind: "info" | "error" = "info"): void {
  let host = document.getElementById("toasts");
  if (!host) {
    host = h("div", { id: "toasts", "aria-live": "polite" });
    document.body.appendChild(host);
  }
  const t = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  host.appendChild(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 3500);
}
