// The Share button's popover: choose an expiry, create a link for the current
// view (POST /api/v1/shares) and copy it.

import type { ApiClient } from "../api/client";
import { formatDateTime } from "../lib/format";
import { viewToWire, type ViewState } from "../lib/viewstate";
import { h, replace } from "./dom";
import { errorState } from "./states";

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission / insecure context): the old way.
    const ta = h("textarea", { style: "position:fixed;opacity:0" }, text);
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

/** What the service says a link grants (`grants` of the share-creation answer). */
export interface ShareGrants {
  read_only: boolean;
  profile_only: boolean;
  access_control: boolean;
  summary: string;
}

/**
 * The dialog's promise, in the service's own words: read-only and this profile only where
 * the service checks access, and a plain warning where it does not (auth none), since the
 * link then restricts nothing.
 */
export function grantsNote(grants: unknown, expiresAt: number | string): HTMLElement {
  const g = grants as Partial<ShareGrants> | undefined;
  const expires = `Expires ${formatDateTime(expiresAt)}.`;
  if (g && g.access_control === false) {
    return h("p", { class: "warn small", role: "note", "data-testid": "share-grants" },
      `${g.summary ?? "This service has no access control: the link restricts nothing."} ${expires}`);
  }
  const summary = g?.summary ?? "Read-only, this profile only.";
  return h("p", { class: "muted small", "data-testid": "share-grants" }, `${summary} ${expires}`);
}

export function shareButton(api: ApiClient, profileId: string, view: () => ViewState): HTMLElement {
  const pop = h("div", { class: "popover", hidden: true, role: "dialog", "aria-label": "Share this view", "data-testid": "share-dialog" });
  const btn = h("button", { class: "btn primary", "data-testid": "share-button", "aria-haspopup": "dialog", "aria-expanded": "false" }, "Share");
  const close = () => {
    pop.hidden = true;
    btn.setAttribute("aria-expanded", "false");
  };
  const open = () => {
    const expires = h("select", { class: "input", "aria-label": "Link expires in", "data-testid": "share-expires" },
      h("option", { value: "1d" }, "1 day"), h("option", { value: "7d", selected: true }, "7 days"), h("option", { value: "30d" }, "30 days"));
    const result = h("div", { class: "share-result" });
    const create = h("button", { class: "btn primary", "data-testid": "share-create" }, "Create link");
    create.addEventListener("click", async () => {
      create.disabled = true;
      replace(result, "creating…");
      try {
        const r = await api.createShare({ profile_id: profileId, view: viewToWire(view()), expires_in: expires.value });
        const url = new URL(r.url, location.origin).toString();
        const input = h("input", { class: "input", readonly: true, value: url, "data-testid": "share-link", "aria-label": "Share link" });
        const copied = await copyText(url);
        replace(result,
          h("div", { class: "row" }, input,
            h("button", { class: "btn", "data-testid": "share-copy", onclick: async () => { await copyText(url); copyBtnNote.textContent = "copied"; } }, "Copy")),
          grantsNote(r.grants, r.expires_at));
        const copyBtnNote = h("span", { class: "muted small", "data-testid": "share-copied" }, copied ? "Link copied to the clipboard." : "Copy the link above.");
        result.append(copyBtnNote);
        input.select();
      } catch (e) {
        replace(result, errorState(e));
      } finally {
        create.disabled = false;
      }
    });
    replace(pop,
      h("h3", null, "Share this view"),
      h("p", { class: "muted small" }, "The link opens this profile at the current tab, time window and selection."),
      h("div", { class: "row" }, h("label", null, "Expires in ", expires), create),
      result);
    pop.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    create.focus();
  };
  btn.addEventListener("click", () => (pop.hidden ? open() : close()));
  pop.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      close();
      btn.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!pop.hidden && !pop.contains(e.target as Node) && e.target !== btn) close();
  });
  return h("span", { class: "share" }, btn, pop);
}
