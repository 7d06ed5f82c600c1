import { describe, expect, it } from "vitest";
import { fitLabel, icicleHeight, icicleHit, icicleLayout, nodeAt, type IcicleNode } from "./icicle";

const tree: IcicleNode = {
  name: "all", value: 100, children: [
    { name: "train_step", value: 80, children: [
      { name: "layer_0", value: 40, children: [{ name: "moe", value: 30, children: [{ name: "router", value: 5 }, { name: "experts", value: 25 }] }] },
      { name: "layer_1", value: 39.9 },
      { name: "tiny", value: 0.05 },
    ] },
    { name: "optimizer", value: 20 },
  ],
};

describe("icicle layout", () => {
  it("gives each child its share of the parent's width, one row per depth", () => {
    const r = icicleLayout(tree, { width: 1000, rowH: 20 });
    const by = (n: string) => r.find((x) => x.node.name === n)!;
    expect(by("all")).toMatchObject({ x: 0, w: 1000, depth: 0, y: 0 });
    expect(by("train_step")).toMatchObject({ x: 0, w: 800, depth: 1, y: 20 });
    expect(by("optimizer")).toMatchObject({ x: 800, w: 200, depth: 1 });
    expect(by("layer_1").x).toBeCloseTo(400);
    expect(by("experts").w).toBeCloseTo(250);
    expect(by("experts").x).toBeCloseTo(50);
    expect(by("experts").path).toEqual(["train_step", "layer_0", "moe", "experts"]);
    // Narrower than minW (1 px): left out.
    expect(r.find((x) => x.node.name === "tiny")).toBeUndefined();
    expect(icicleHeight(r, 20)).toBe(5 * 20);
  });

  it("zooms: the focused node spans the width, ancestors above it, siblings gone", () => {
    const r = icicleLayout(tree, { width: 1000, rowH: 20 }, ["train_step", "layer_0"]);
    const by = (n: string) => r.find((x) => x.node.name === n);
    expect(by("all")).toMatchObject({ w: 1000, ancestor: true });
    expect(by("train_step")).toMatchObject({ w: 1000, ancestor: true, depth: 1 });
    expect(by("layer_0")).toMatchObject({ w: 1000, ancestor: false, depth: 2 });
    expect(by("moe")!.w).toBeCloseTo(750); // layer_0 has 10 of its own
    expect(by("experts")!.w).toBeCloseTo(1000 * 25 / 40);
    expect(by("optimizer")).toBeUndefined();
    expect(by("layer_1")).toBeUndefined();
    // A path that no longer exists stops at the last node that does.
    expect(icicleLayout(tree, { width: 10, rowH: 20 }, ["nope"])[0]!.ancestor).toBe(false);
  });

  it("children whose values exceed the parent are scaled to fit it", () => {
    const r = icicleLayout({ name: "r", value: 10, children: [{ name: "a", value: 10 }, { name: "b", value: 10 }] }, { width: 100, rowH: 10 });
    expect(r.map((x) => x.w)).toEqual([100, 50, 50]);
  });

  it("hit-tests the deepest rect under a point, finds nodes by path, fits labels", () => {
    const r = icicleLayout(tree, { width: 1000, rowH: 20 });
    expect(r[icicleHit(r, 20, 100, 85)]!.node.name).toBe("experts");
    expect(r[icicleHit(r, 20, 900, 25)]!.node.name).toBe("optimizer");
    expect(icicleHit(r, 20, 900, 85)).toBe(-1);
    expect(nodeAt(tree, ["train_step", "layer_0", "moe"])!.value).toBe(30);
    expect(nodeAt(tree, ["x"])).toBeNull();
    expect(fitLabel("experts", 200)).toBe("experts");
    expect(fitLabel("experts_and_more", 50)).toBe("experts…".slice(0, 5) + "…");
    expect(fitLabel("experts", 20)).toBe("");
  });
});
