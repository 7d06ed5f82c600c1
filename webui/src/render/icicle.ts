// An icicle chart (a flame graph hanging down): the root spans the width, each
// child a slice of its parent's width proportional to its value, one row per
// depth. Zooming to a node makes it span the width with its ancestors drawn
// full-width above it. Pure layout and hit-test (tested), plus a draw that gets
// a context, the rects and colours as strings.

export interface IcicleNode {
  name: string;
  /** The node's inclusive value (time, ns): the width it takes. */
  value: number;
  children?: IcicleNode[];
}

export interface IcicleRect<T extends IcicleNode = IcicleNode> {
  node: T;
  /** Names from the root to the node. */
  path: string[];
  depth: number;
  x: number;
  w: number;
  y: number;
  /** An ancestor of the focused node (drawn full width, faded). */
  ancestor: boolean;
}

export interface IcicleOptions {
  width: number;
  rowH: number;
  /** Nodes narrower than this (px) are not laid out, nor their children. */
  minW?: number;
  /** Deepest depth laid out (the root is 0). */
  maxDepth?: number;
}

/** The node at `path` (names from the root's children down), or null. */
export function nodeAt<T extends IcicleNode>(root: T, path: readonly string[]): T | null {
  let n: T = root;
  for (const name of path) {
    const c = (n.children as T[] | undefined)?.find((x) => x.name === name);
    if (!c) return null;
    n = c;
  }
  return n;
}

/**
 * Rects of the icicle, root first (depth 0), then breadth by breadth. With a
 * `focus` path the focused node spans the width and its ancestors are drawn
 * full width above it; siblings of the focus are not drawn.
 */
export function icicleLayout<T extends IcicleNode>(root: T, opts: IcicleOptions, focus: readonly string[] = []): IcicleRect<T>[] {
  const minW = opts.minW ?? 1;
  const maxDepth = opts.maxDepth ?? 64;
  const out: IcicleRect<T>[] = [];
  // The focus chain: root, then each node of the path that exists.
  const chain: T[] = [root];
  for (const name of focus) {
    const c = (chain[chain.length - 1]!.children as T[] | undefined)?.find((x) => x.name === name);
    if (!c) break;
    chain.push(c);
  }
  const path: string[] = [];
  chain.forEach((n, d) => {
    if (d > 0) path.push(n.name);
    out.push({ node: n, path: [...path], depth: d, x: 0, w: opts.width, y: d * opts.rowH, ancestor: d < chain.length - 1 });
  });
  const top = chain[chain.length - 1]!;
  const walk = (n: T, p: string[], depth: number, x: number, w: number) => {
    const kids = (n.children as T[] | undefined) ?? [];
    if (!kids.length || depth + 1 > maxDepth) return;
    const total = Math.max(n.value, kids.reduce((s, k) => s + Math.max(0, k.value), 0));
    if (!(total > 0)) return;
    let cx = x;
    for (const k of kids) {
      const kw = (Math.max(0, k.value) / total) * w;
      if (kw >= minW) {
        const kp = [...p, k.name];
        out.push({ node: k, path: kp, depth: depth + 1, x: cx, w: kw, y: (depth + 1) * opts.rowH, ancestor: false });
        walk(k, kp, depth + 1, cx, kw);
      }
      cx += kw;
    }
  };
  walk(top, [...path], chain.length - 1, 0, opts.width);
  return out;
}

/** Height the rects need, px. */
export function icicleHeight(rects: readonly IcicleRect[], rowH: number): number {
  let d = 0;
  for (const r of rects) if (r.depth > d) d = r.depth;
  return (d + 1) * rowH;
}

/** The rect under (x, y), or -1. Children are laid out after parents, so the last hit is the deepest. */
export function icicleHit(rects: readonly IcicleRect[], rowH: number, x: number, y: number): number {
  const depth = Math.floor(y / rowH);
  for (let i = rects.length - 1; i >= 0; i--) {
    const r = rects[i]!;
    if (r.depth === depth && x >= r.x && x < r.x + r.w) return i;
  }
  return -1;
}

/** The label that fits `w` px at ~6.5 px a character: the whole name, an ellipsised one, or "". */
export function fitLabel(text: string, w: number, charW = 6.5): string {
  const n = Math.floor((w - 6) / charW);
  if (n >= text.length) return text;
  if (n < 3) return "";
  return `${text.slice(0, n - 1)}…`;
}

export interface IcicleColors {
  fg: string;
  bg: string;
  /** Fill for a rect (the node's name, its depth). */
  fill: (r: IcicleRect) => string;
  textOn: (r: IcicleRect) => string;
  selected: string;
}

export function drawIcicle(
  ctx: CanvasRenderingContext2D,
  rects: readonly IcicleRect[],
  width: number,
  height: number,
  rowH: number,
  c: IcicleColors,
  hover: number,
  selected: string | null,
): void {
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  rects.forEach((r, i) => {
    ctx.globalAlpha = r.ancestor ? 0.55 : 1;
    ctx.fillStyle = c.fill(r);
    ctx.fillRect(r.x + 0.5, r.y + 0.5, Math.max(0.5, r.w - 1), rowH - 1);
    ctx.globalAlpha = 1;
    const label = fitLabel(r.node.name, r.w);
    if (label) {
      ctx.fillStyle = c.textOn(r);
      ctx.fillText(label, r.x + 4, r.y + rowH / 2);
    }
    const isSel = selected !== null && r.path.join("\u0000") === selected;
    if (i === hover || isSel) {
      ctx.strokeStyle = isSel ? c.selected : c.fg;
      ctx.lineWidth = isSel ? 2 : 1;
      ctx.strokeRect(r.x + 1, r.y + 1, Math.max(1, r.w - 2), rowH - 2);
    }
  });
}
