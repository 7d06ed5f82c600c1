// HTTP client for the xdiag API (docs/api.md). One method per endpoint; every
// mutating request carries the CSRF header; every failure becomes an ApiError
// that holds the server's `{"error", "detail"}` and a hint for the user.

import { decodeTimeline, timelineFromJson, type TimelineData } from "./timeline-decode";
import type { KernelsResponse } from "./kernels";
import {
  API_PREFIX,
  TIMELINE_MIME,
  type ApiErrorBody,
  type Capture,
  type CaptureRequest,
  type Diagnosis,
  type DiffResponse,
  type EventDetails,
  type Framework,
  type HloModuleResponse,
  type HloModulesResponse,
  type HostsSteps,
  type Job,
  type MemoryAllocators,
  type MemoryDiff,
  type MemoryProgram,
  type MemorySummary,
  type NotAvailable,
  type OpsResponse,
  type Profile,
  type ProfileQuery,
  type RooflineResponse,
  type SearchResponse,
  type Session,
  type ShareCreated,
  type ShareRequest,
  type StepsResponse,
  type TimelineJson,
  type TimelineQuery,
  type TracksResponse,
} from "./wire";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  constructor(status: number, code: string, detail: string) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  /** What the user can do about it, in one sentence. */
  get hint(): string {
    switch (this.status) {
      case 0:
        return "The xdiag server did not answer: check that `xdiag serve` is running, then retry.";
      case 401:
        return "Sign in with an API token (ask an admin for one: `xdiag token create --role viewer`).";
      case 403:
        return "Your role does not allow this: ask an admin for an editor token.";
      case 404:
        return "It does not exist (any more): go back to the list and pick another.";
      case 410:
        return "This share link has expired: ask its owner for a new one.";
      case 429:
        return "Too many attempts: wait a minute and retry.";
      case 502:
        return "The capture failed on a host: check that the job is running and its agent is live.";
      case 503:
        return "The store is unreachable: check the server's --store and retry.";
      default:
        return this.status >= 500 ? "The server failed: see its log, then retry." : "";
    }
  }
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

type Query = Record<string, string | number | boolean | null | undefined | number[]>;

export function buildQuery(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The share-link token of the page, when it was opened as /s/<token> (sent as X-Xdiag-Share). */
export function shareTokenFromPath(pathname: string): string | null {
  const m = /^\/s\/([^/?#]+)/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : null;
}

export class ApiClient {
  csrfToken: string | null = null;
  /** Set while showing a share link: scopes every API call to the shared profile. */
  shareToken: string | null =
    typeof location !== "undefined" ? shareTokenFromPath(location.pathname) : null;
  /** Called on every 401 so the app can show the sign-in form. */
  onUnauthorized: (() => void) | null = null;
  private readonly fetchFn: FetchLike;

  constructor(fetchFn?: FetchLike) {
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init));
  }

  private async request(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (MUTATING.has(method) && this.csrfToken) headers.set("X-CSRF-Token", this.csrfToken);
    if (this.shareToken) headers.set("X-Xdiag-Share", this.shareToken);
    let res: Response;
    try {
      res = await this.fetchFn(path, { ...init, method, headers, credentials: "same-origin" });
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new ApiError(0, "network", `could not reach the server (${(e as Error).message})`);
    }
    if (!res.ok) {
      let body: Partial<ApiErrorBody> = {};
      try {
        body = await res.json();
      } catch {
        /* not JSON: keep the status line */
      }
      if (res.status === 401 && this.onUnauthorized && !path.endsWith("/auth/login")) this.onUnauthorized();
      throw new ApiError(res.status, body.error ?? `http_${res.status}`, body.detail ?? res.statusText);
    }
    return res;
  }

  private async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const init: RequestInit = { signal: signal ?? null };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const res = await this.request(method, API_PREFIX + path, init);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  // ---------------------------------------------------------- session/auth
  session(): Promise<Session> {
    return this.json("GET", "/session");
  }
  login(token: string): Promise<unknown> {
    return this.json("POST", "/auth/login", { token });
  }
  logout(): Promise<unknown> {
    return this.json("POST", "/auth/logout", {});
  }

  // ---------------------------------------------------------- jobs/captures
  jobs(signal?: AbortSignal): Promise<Job[]> {
    return this.json("GET", "/jobs", undefined, signal);
  }
  startCapture(req: CaptureRequest): Promise<Capture> {
    return this.json("POST", "/captures", req);
  }
  /**
   * With `wait: "done"` and the state last seen, the service answers when the capture's
   * state moves on (or it ends), at most `timeoutS` later: a long poll, not a timer.
   */
  capture(id: string, signal?: AbortSignal, wait?: { state: string; timeoutS?: number }): Promise<Capture> {
    const q = wait ? buildQuery({ wait: "done", state: wait.state, timeout: wait.timeoutS ?? 25 }) : "";
    return this.json("GET", `/captures/${encodeURIComponent(id)}${q}`, undefined, signal);
  }

  // ---------------------------------------------------------- profiles
  profiles(q: ProfileQuery = {}, signal?: AbortSignal): Promise<Profile[]> {
    return this.json("GET", `/profiles${buildQuery({ ...q })}`, undefined, signal);
  }
  /**
   * With `wait`, a profile still ingesting is answered when its timeline opens ("timeline"),
   * one more of its hosts' timeline opens ("host") or its ingest ends ("ready"), at most
   * `timeoutS` seconds later: a long poll.
   */
  profile(id: string, signal?: AbortSignal, wait?: "timeline" | "host" | "ready", timeoutS = 10): Promise<Profile> {
    const q = wait ? buildQuery({ wait, timeout: timeoutS }) : "";
    return this.json("GET", `/profiles/${encodeURIComponent(id)}${q}`, undefined, signal);
  }
  deleteProfile(id: string): Promise<void> {
    return this.json("DELETE", `/profiles/${encodeURIComponent(id)}`);
  }
  async uploadProfile(files: File[], run?: string, session?: string): Promise<Profile> {
    const form = new FormData();
    for (const f of files) form.append("file", f, f.name);
    if (run) form.set("run", run);
    if (session) form.set("session", session);
    const res = await this.request("POST", `${API_PREFIX}/profiles`, { body: form });
    return (await res.json()) as Profile;
  }
  rawUrl(id: string, host: string): string {
    return `${API_PREFIX}/profiles/${encodeURIComponent(id)}/raw/${encodeURIComponent(host)}`;
  }

  private p(id: string, rest: string): string {
    return `/profiles/${encodeURIComponent(id)}/${rest}`;
  }

  // ---------------------------------------------------------- timeline
  tracks(id: string, signal?: AbortSignal): Promise<TracksResponse> {
    return this.json("GET", this.p(id, "tracks"), undefined, signal);
  }

  /**
   * The viewport query; binary by default, `json: true` for the JSON variant.
   * `onArrived` runs when the body is in memory, before decoding.
   */
  async timeline(id: string, q: TimelineQuery, signal?: AbortSignal, json = false, onArrived?: () => void): Promise<TimelineData> {
    const query = buildQuery({
      start_ns: Math.floor(q.start_ns),
      end_ns: Math.ceil(q.end_ns),
      width: Math.round(q.width),
      tracks: q.tracks && q.tracks.length ? q.tracks : undefined,
      format: json ? "json" : undefined,
    });
    const res = await this.request("GET", API_PREFIX + this.p(id, `timeline${query}`), {
      signal: signal ?? null,
      headers: { Accept: json ? "application/json" : TIMELINE_MIME },
    });
    if (json || (res.headers.get("Content-Type") ?? "").includes("json")) {
      const text = await res.text();
      onArrived?.();
      return timelineFromJson(JSON.parse(text) as TimelineJson, text.length);
    }
    const buf = await res.arrayBuffer();
    onArrived?.();
    return decodeTimeline(buf);
  }
  event(id: string, eventId: number, signal?: AbortSignal): Promise<EventDetails> {
    return this.json("GET", this.p(id, `events/${eventId}`), undefined, signal);
  }
  search(id: string, q: string, afterNs?: number | null, limit = 100, signal?: AbortSignal): Promise<SearchResponse> {
    return this.json("GET", this.p(id, `search${buildQuery({ q, after_ns: afterNs ?? undefined, limit })}`), undefined, signal);
  }

  // ---------------------------------------------------------- analyses
  ops(id: string, signal?: AbortSignal): Promise<OpsResponse> {
    return this.json("GET", this.p(id, "ops"), undefined, signal);
  }
  roofline(id: string, signal?: AbortSignal): Promise<RooflineResponse> {
    return this.json("GET", this.p(id, "roofline"), undefined, signal);
  }
  steps(id: string, signal?: AbortSignal): Promise<StepsResponse> {
    return this.json("GET", this.p(id, "steps"), undefined, signal);
  }
  hloModules(id: string, signal?: AbortSignal): Promise<HloModulesResponse> {
    return this.json("GET", this.p(id, "hlo"), undefined, signal);
  }
  hloModule(id: string, module: string, op?: string | null, hops = 2, signal?: AbortSignal): Promise<HloModuleResponse> {
    const q = buildQuery({ op: op ?? undefined, hops });
    return this.json("GET", this.p(id, `hlo/${encodeURIComponent(module)}${q}`), undefined, signal);
  }
  /** Ranked findings (issue 20); `available: false` for a profile ingested before diagnoses existed. */
  diagnosis(id: string, signal?: AbortSignal): Promise<Diagnosis | NotAvailable> {
    return this.json("GET", this.p(id, "diagnosis"), undefined, signal);
  }
  /** Time by JAX named scope, as a tree. */
  framework(id: string, signal?: AbortSignal): Promise<Framework | NotAvailable> {
    return this.json("GET", this.p(id, "framework"), undefined, signal);
  }
  /** Hosts x steps; with `host`, that host's per-device breakdown too. */
  hostsSteps(id: string, host?: string | null, signal?: AbortSignal): Promise<HostsSteps | NotAvailable> {
    return this.json("GET", this.p(id, `hosts_steps${buildQuery({ host: host ?? undefined })}`), undefined, signal);
  }
  /** Memory (issue 19): the programs (picker, default), allocator summary and capacity. */
  memory(id: string, signal?: AbortSignal): Promise<MemorySummary> {
    return this.json("GET", this.p(id, "memory"), undefined, signal);
  }
  /** One program's buffer assignment: heap over program order, buffers at the peak, groups. */
  memoryProgram(id: string, program: string, o: { memorySpace?: number | null; host?: string | null; limit?: number } = {}, signal?: AbortSignal): Promise<MemoryProgram> {
    const q = buildQuery({ memory_space: o.memorySpace ?? undefined, host: o.host ?? undefined, limit: o.limit });
    return this.json("GET", this.p(id, `memory/programs/${encodeURIComponent(program)}${q}`), undefined, signal);
  }
  /** The allocators' bytes over time (memory profile); `available: false` on CPU captures. */
  memoryAllocators(id: string, host?: string | null, signal?: AbortSignal): Promise<MemoryAllocators> {
    return this.json("GET", this.p(id, `memory/allocators${buildQuery({ host: host ?? undefined })}`), undefined, signal);
  }
  /** GPU kernel statistics (xprof's kernel_stats); `available: false` off GPU or for an older ingest. */
  kernels(id: string, o: { q?: string; sort?: string; limit?: number } = {}, signal?: AbortSignal): Promise<KernelsResponse> {
    return this.json("GET", this.p(id, `kernels${buildQuery({ q: o.q || undefined, sort: o.sort, limit: o.limit })}`), undefined, signal);
  }
  /** One program's peak in A and B (matched by name; default: A's default program) and the buffers that changed. */
  memoryDiff(a: string, b: string, program?: string | null, limit?: number, signal?: AbortSignal): Promise<MemoryDiff> {
    return this.json("GET", `/diff/memory${buildQuery({ a, b, program: program ?? undefined, limit })}`, undefined, signal);
  }
  diff(a: string, b: string, signal?: AbortSignal): Promise<DiffResponse> {
    return this.json("GET", `/diff${buildQuery({ a, b })}`, undefined, signal);
  }

  // ---------------------------------------------------------- shares
  createShare(req: ShareRequest): Promise<ShareCreated> {
    return this.json("POST", "/shares", req);
  }
}
