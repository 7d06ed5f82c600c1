import { describe, expect, it } from "vitest";
import type { SearchResponse } from "../api/wire";
import { SearchCursor } from "./search";

// A fake search endpoint over 5 matches, 2 per page, keyed by after_ns.
const ALL = [10, 20, 30, 40, 50].map((t, i) => ({ id: i + 1, name: `dot.${i}`, track: 0, start_ns: t, dur_ns: 1 }));
function pager(calls: (number | null)[] = []) {
  return async (_q: string, after: number | null): Promise<SearchResponse> => {
    calls.push(after);
    const rest = ALL.filter((m) => after === null || m.start_ns > after);
    const page = rest.slice(0, 2);
    return { q: "dot", total: ALL.length, matches: page, next_after_ns: rest.length > 2 ? page.at(-1)!.start_ns : null };
  };
}

describe("SearchCursor", () => {
  it("steps through every match across pages and wraps", async () => {
    const calls: (number | null)[] = [];
    const c = new SearchCursor(pager(calls));
    expect((await c.start("dot"))!.id).toBe(1);
    expect(c.label()).toBe("1 of 5");
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await c.next())!.id);
    expect(ids).toEqual([2, 3, 4, 5, 1]);
    expect(calls).toEqual([null, 20, 40]);
    expect(c.complete).toBe(true);
  });

  it("prev wraps to the last match only once all are loaded", async () => {
    const c = new SearchCursor(pager());
    await c.start("dot");
    expect(c.prev()!.id).toBe(1);
    await c.next();
    await c.next();
    await c.next();
    await c.next();
    expect(c.current!.id).toBe(5);
    await c.next();
    expect(c.prev()!.id).toBe(5);
  });

  it("reports no matches and ignores an empty query", async () => {
    const c = new SearchCursor(async () => ({ q: "zz", total: 0, matches: [], next_after_ns: null }));
    expect(await c.start("zz")).toBeNull();
    expect(c.label()).toBe("no matches");
    expect(await c.next()).toBeNull();
    expect(await c.start("")).toBeNull();
    expect(c.label()).toBe("");
  });

  it("a newer search wins over a slower older one", async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const c = new SearchCursor(async (q) => {
      if (q === "old") await slow;
      return { q, total: 1, matches: [{ id: q === "old" ? 1 : 2, name: q, track: 0, start_ns: 0, dur_ns: 1 }], next_after_ns: null };
    });
    const first = c.start("old");
    await c.start("new");
    release();
    expect(await first).toBeNull();
    expect(c.current!.id).toBe(2);
  });

  it("jumps to a listed match and loads more pages without moving", async () => {
    const c = new SearchCursor(pager());
    await c.start("dot");
    expect(c.matches.length).toBe(2);
    expect(await c.more()).toBe(2);
    expect(c.current!.id).toBe(1);
    expect(c.goTo(3)!.id).toBe(4);
    expect(c.label()).toBe("4 of 5");
    expect(c.goTo(9)).toBeNull();
    expect(await c.more()).toBe(1);
    expect(await c.more()).toBe(0);
    expect(c.complete).toBe(true);
  });

  it("keeps a match's named scope when the server sends one", async () => {
    const c = new SearchCursor(async () => ({
      q: "experts", total: 1, next_after_ns: null,
      matches: [{ id: 7, name: "fusion.3", track: 0, start_ns: 5, dur_ns: 2, scope: "train_step/moe/experts" }],
    }));
    expect((await c.start("experts"))!.scope).toBe("train_step/moe/experts");
  });
});
