import { describe, expect, it } from "vitest";
import { normalizeView, parseViewState, profilePath, sameView, serializeViewState, viewToWire } from "./viewstate";

describe("URL view state codec", () => {
  it("round-trips every field", () => {
    const v = { tab: "trace" as const, t0: 1000, t1: 250_000, sel: 42, q: "fusion 1", module: "jit_step", op: "dot.3" };
    const s = serializeViewState(v);
    expect(s).toBe("tab=trace&t0=1000&t1=250000&sel=42&q=fusion+1&module=jit_step&op=dot.3");
    expect(parseViewState(s)).toEqual(v);
  });

  it("is canonical: defaults omitted, times rounded, key order fixed", () => {
    expect(serializeViewState({ tab: "overview" })).toBe("");
    expect(serializeViewState({ op: "x", tab: "hlo", module: "m" } as never)).toBe("tab=hlo&module=m&op=x");
    expect(serializeViewState({ tab: "trace", t0: 1.4, t1: 9.6 })).toBe("tab=trace&t0=1&t1=10");
    expect(sameView(parseViewState("op=x&tab=hlo&module=m"), parseViewState("tab=hlo&module=m&op=x"))).toBe(true);
  });

  it("drops bad values instead of failing", () => {
    expect(parseViewState("tab=nope&t0=abc&t1=5&sel=-3&q=")).toEqual({ tab: "overview" });
    expect(parseViewState("t0=10")).toEqual({ tab: "overview" });
    expect(parseViewState("sel=1.5")).toEqual({ tab: "overview" });
    expect(parseViewState("t0=500&t1=100")).toEqual({ tab: "overview", t0: 100, t1: 500 });
  });

  it("carries a finding's deep link: host, device and op filter", () => {
    const v = { tab: "trace" as const, t0: 5, t1: 9, host: "worker-1", dev: 3 };
    expect(serializeViewState(v)).toBe("tab=trace&t0=5&t1=9&host=worker-1&dev=3");
    expect(parseViewState(serializeViewState(v))).toEqual(v);
    expect(parseViewState("tab=ops&filter=all-gather")).toEqual({ tab: "ops", filter: "all-gather" });
    expect(serializeViewState({ tab: "overview", scope: "train_step/layer_3/moe" })).toBe("scope=train_step%2Flayer_3%2Fmoe");
    expect(parseViewState("scope=train_step%2Fmoe")).toEqual({ tab: "overview", scope: "train_step/moe" });
    expect(parseViewState("host=&dev=-1&filter=")).toEqual({ tab: "overview" });
    expect(parseViewState("dev=0")).toEqual({ tab: "overview", dev: 0 });
    expect(viewToWire({ tab: "trace", host: "h", dev: 0 })).toEqual({ tab: "trace", host: "h", dev: 0 });
  });

  it("builds share views and profile links", () => {
    expect(viewToWire({ tab: "roofline", module: "m", op: "o" })).toEqual({ tab: "roofline", module: "m", op: "o" });
    expect(normalizeView({ tab: "trace", t0: 5, t1: 10, sel: 3 })).toEqual({ tab: "trace", t0: 5, t1: 10, sel: 3 });
    expect(profilePath("run~sess 1", { tab: "ops" })).toBe("/p/run~sess%201?tab=ops");
    expect(profilePath("r~s")).toBe("/p/r~s");
  });
});
