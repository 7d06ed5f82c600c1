// Sign-in for token auth: POST /api/v1/auth/login sets an HttpOnly cookie.

import type { ApiClient } from "../api/client";
import { h, replace } from "./dom";
import { errorState } from "./states";

export function signinPage(api: ApiClient, onSignedIn: () => void): HTMLElement {
  const token = h("input", { type: "password", class: "input wide", autocomplete: "current-password", required: true, "aria-label": "API token", placeholder: "xdiag API token", "data-testid": "signin-token" });
  const msg = h("div", { "aria-live": "polite" });
  const submit = h("button", { class: "btn primary", type: "submit", "data-testid": "signin-submit" }, "Sign in");
  const form = h("form", { class: "signin", "data-testid": "signin-form" },
    h("h1", null, "Sign in to xdiag"),
    h("p", { class: "muted" }, "This server uses API tokens. Ask an admin for one (", h("code", null, "xdiag token create --role viewer"), ") and paste it here. It is exchanged for a session cookie and not stored by the page."),
    h("label", null, "Token", token), submit, msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(msg);
    try {
      await api.login(token.value.trim());
      token.value = "";
      onSignedIn();
    } catch (err) {
      replace(msg, errorState(err));
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => token.focus());
  return h("div", { class: "page signin-page" }, form);
}
