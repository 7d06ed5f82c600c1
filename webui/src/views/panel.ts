// The one interface every tab of the profile page implements (overview,
// trace, op profile, roofline, HLO). The page creates a panel on first use,
// shows/hides it, and tells it when the view state changes.

import type { ApiClient } from "../api/client";
import type { Profile } from "../api/wire";
import type { ViewState } from "../lib/viewstate";
import type { Theme } from "../state/theme";
import type { Store } from "../state/store";

export interface PanelContext {
  api: ApiClient;
  profile: Profile;
  readOnly: boolean;
  theme: Store<Theme>;
  /** Current view state of the page. */
  view(): ViewState;
  /** Change the view state (merged); `push` adds a history entry. */
  setView(patch: Partial<ViewState>, push?: boolean): void;
  /** A link to this profile with a given view state. */
  href(v: Partial<ViewState>): string;
}

export interface Panel {
  readonly el: HTMLElement;
  /** The view state changed (from the URL or another panel). */
  update(view: ViewState): void;
  /** The panel became visible (sizes are known now). */
  show(): void;
  hide(): void;
  destroy(): void;
}
