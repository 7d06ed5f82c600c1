import { describe, expect, it } from "vitest";
import { diffPath, parseRoute, profilesPath } from "./route";

describe("routes", () => {
  it("parses every page", () => {
    expect(parseRoute("/", "?q=x&run=r")).toEqual({ page: "profiles", q: "x", run: "r", job: "", status: "" });
    expect(parseRoute("/jobs", "")).toEqual({ page: "jobs" });
    expect(parseRoute("/jobs/", "")).toEqual({ page: "jobs" });
    expect(parseRoute("/diff", "?a=1&b=2")).toEqual({ page: "diff", a: "1", b: "2" });
    expect(parseRoute("/p/run~s%201", "?tab=trace&t0=1&t1=2")).toEqual({ page: "profile", id: "run~s 1", view: { tab: "trace", t0: 1, t1: 2 } });
    expect(parseRoute("/s/abc", "")).toEqual({ page: "share", token: "abc", view: { tab: "overview" }, hasView: false });
    expect(parseRoute("/s/abc", "?tab=hlo")).toMatchObject({ page: "share", hasView: true, view: { tab: "hlo" } });
    expect(parseRoute("/nope", "")).toEqual({ page: "notfound", path: "/nope" });
  });

  it("builds list and diff paths", () => {
    expect(profilesPath({ q: "a", job: "j" })).toBe("/?q=a&job=j");
    expect(profilesPath({})).toBe("/");
    expect(diffPath("a~1", "b~2")).toBe("/diff?a=a%7E1&b=b%7E2");
  });
});
