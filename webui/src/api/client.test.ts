import { describe, expect, it } from "vitest";
import { ApiClient, ApiError, buildQuery } from "./client";

function fakeFetch(responder: (url: string, init: RequestInit) => Response) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = async (url: string, init?: RequestInit) => {
    calls.push({ url, init: init ?? {} });
    return responder(url, init ?? {});
  };
  return { fn, calls };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("ApiClient", () => {
  it("sends the CSRF token on mutating requests only", async () => {
    const f = fakeFetch(() => json({ id: "x", url: "/s/t", token: "t", expires_at: 1 }, 201));
    const api = new ApiClient(f.fn);
    api.csrfToken = "tok123";
    await api.profiles();
    await api.createShare({ profile_id: "r~s", view: { tab: "trace" }, expires_in: "7d" });
    await api.deleteProfile("r~s").catch(() => undefined);
    const h = (i: number) => new Headers(f.calls[i]!.init.headers);
    expect(h(0).get("X-CSRF-Token")).toBeNull();
    expect(h(1).get("X-CSRF-Token")).toBe("tok123");
    expect(f.calls[1]!.init.method).toBe("POST");
    expect(JSON.parse(String(f.calls[1]!.init.body))).toEqual({ profile_id: "r~s", view: { tab: "trace" }, expires_in: "7d" });
    expect(h(2).get("X-CSRF-Token")).toBe("tok123");
    expect(f.calls[2]!.url).toBe("/api/v1/profiles/r~s");
  });

  it("turns the JSON error shape into an ApiError with a hint", async () => {
    const f = fakeFetch(() => json({ error: "not_found", detail: "no profile r~x" }, 404));
    const api = new ApiClient(f.fn);
    const err = await api.profile("r~x").catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(404);
    expect(err.code).toBe("not_found");
    expect(err.detail).toBe("no profile r~x");
    expect(err.hint).toMatch(/does not exist/);
  });

  it("long-polls a profile only when asked to wait", async () => {
    const f = fakeFetch(() => json({ id: "r~s", status: "ingesting", timeline_ready: false }));
    const api = new ApiClient(f.fn);
    await api.profile("r~s");
    await api.profile("r~s", undefined, "timeline");
    await api.profile("r~s", undefined, "ready", 3);
    expect(f.calls.map((c) => c.url)).toEqual([
      "/api/v1/profiles/r~s",
      "/api/v1/profiles/r~s?wait=timeline&timeout=10",
      "/api/v1/profiles/r~s?wait=ready&timeout=3",
    ]);
  });

  it("follows a capture by long polls that name the state last seen", async () => {
    const f = fakeFetch(() => json({ id: "c1", state: "saving", hosts: [] }));
    const api = new ApiClient(f.fn);
    await api.capture("c1");
    await api.capture("c1", undefined, { state: "capturing" });
    expect(f.calls.map((c) => c.url)).toEqual([
      "/api/v1/captures/c1",
      "/api/v1/captures/c1?wait=done&state=capturing&timeout=25",
    ]);
  });

  it("reports a network failure as status 0 and calls onUnauthorized on 401", async () => {
    const api = new ApiClient(async () => {
      throw new TypeError("Failed to fetch");
    });
    const err = await api.jobs().catch((e) => e);
    expect(err.status).toBe(0);
    let called = 0;
    const api2 = new ApiClient(async () => json({ error: "unauthorized", detail: "sign in" }, 401));
    api2.onUnauthorized = () => called++;
    await api2.jobs().catch(() => undefined);
    expect(called).toBe(1);
  });

  it("asks for the timeline window with integer bounds and track ids", async () => {
    const f = fakeFetch(() => json({ version: 1, start_ns: 0, end_ns: 10, width: 4, bucket_ns: 1, tracks: [], slices: [] }));
    const api = new ApiClient(f.fn);
    const d = await api.timeline("r~s", { start_ns: 1.7, end_ns: 9.2, width: 800.4, tracks: [1, 2] });
    expect(f.calls[0]!.url).toBe("/api/v1/profiles/r~s/timeline?start_ns=1&end_ns=10&width=800&tracks=1%2C2");
    expect(d.count).toBe(0);
  });

  it("escapes path segments and builds queries without empty values", async () => {
    expect(buildQuery({ q: "a b", run: "", after_ns: null, limit: 100 })).toBe("?q=a+b&limit=100");
    expect(buildQuery({})).toBe("");
    const f = fakeFetch(() => json({ module: "m", text: "", op: null, graph: null, dot: null }));
    await new ApiClient(f.fn).hloModule("r~s", "jit_train/step", "fusion.1");
    expect(f.calls[0]!.url).toBe("/api/v1/profiles/r~s/hlo/jit_train%2Fstep?op=fusion.1&hops=2");
  });
});

describe("share links", () => {
  it("reads the token from /s/<token> paths only", async () => {
    const { shareTokenFromPath } = await import("./client");
    expect(shareTokenFromPath("/s/xds_abc-DEF_1")).toBe("xds_abc-DEF_1");
    expect(shareTokenFromPath("/s/xds_abc/extra")).toBe("xds_abc");
    expect(shareTokenFromPath("/p/run~s")).toBeNull();
    expect(shareTokenFromPath("/")).toBeNull();
  });
});
