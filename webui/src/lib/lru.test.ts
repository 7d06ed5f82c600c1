import { describe, expect, it } from "vitest";
import { LruCache } from "./lru";

describe("LruCache", () => {
  it("evicts the least recently used entry", () => {
    const c = new LruCache<string, number>(2);
    c.set("a", 1).set("b", 2);
    expect(c.get("a")).toBe(1); // a is now newest
    c.set("c", 3);
    expect(c.has("b")).toBe(false);
    expect(c.keys()).toEqual(["a", "c"]);
  });

  it("peek does not refresh recency; overwrite does", () => {
    const c = new LruCache<string, number>(2);
    c.set("a", 1).set("b", 2);
    c.peek("a");
    c.set("c", 3);
    expect(c.has("a")).toBe(false);
    c.set("b", 20);
    c.set("d", 4);
    expect(c.keys()).toEqual(["b", "d"]);
    expect(c.get("b")).toBe(20);
  });

  it("bounds total weight but keeps the newest entry", () => {
    const c = new LruCache<string, string>(10, 10, (v) => v.length);
    c.set("a", "xxxx").set("b", "yyyy");
    expect(c.weight).toBe(8);
    c.set("c", "zzzz");
    expect(c.keys()).toEqual(["b", "c"]);
    c.set("big", "x".repeat(50));
    expect(c.keys()).toEqual(["big"]);
    expect(c.delete("big")).toBe(true);
    expect(c.weight).toBe(0);
    expect(() => new LruCache(0)).toThrow();
  });
});
