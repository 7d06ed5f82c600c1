// The op profile's hierarchy: program (HLO module) -> category -> op, with
// totals aggregated bottom-up. Pure data in, tree out.

export interface OpLike {
  module: string;
  program_id: number | string | null;
  op: string;
  category: string;
  occurrences: number;
  total_ns: number;
  avg_ns: number;
  share: number;
  flops: number | null;
  bytes: number | null;
  flops_per_s: number | null;
  bytes_per_s: number | null;
  bound_by: string | null;
}

export type OpNodeKind = "program" | "category" | "op";

export interface OpNode<T extends OpLike = OpLike> {
  kind: OpNodeKind;
  /** Unique path key, e.g. "m\u0000cat\u0000op". */
  key: string;
  label: string;
  module: string;
  total_ns: number;
  share: number;
  occurrences: number;
  flops: number | null;
  bytes: number | null;
  flops_per_s: number | null;
  bytes_per_s: number | null;
  bound_by: string | null;
  children: OpNode<T>[];
  op?: T;
}

export type OpSortKey = "total_ns" | "share" | "occurrences" | "flops_per_s" | "bytes_per_s" | "label";

function addOpt(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a + b;
}

function node<T extends OpLike>(kind: OpNodeKind, key: string, label: string, module: string): OpNode<T> {
  return {
    kind, key, label, module, total_ns: 0, share: 0, occurrences: 0, flops: null, bytes: null,
    flops_per_s: null, bytes_per_s: null, bound_by: null, children: [],
  };
}

function finish<T extends OpLike>(n: OpNode<T>): void {
  if (n.kind === "op") return;
  for (const c of n.children) finish(c);
  const secs = n.total_ns / 1e9;
  n.flops_per_s = n.flops !== null && secs > 0 ? n.flops / secs : null;
  n.bytes_per_s = n.bytes !== null && secs > 0 ? n.bytes / secs : null;
  // A group is "bound by" what most of its time is bound by.
  const byBound = new Map<string, number>();
  for (const c of n.children) if (c.bound_by) byBound.set(c.bound_by, (byBound.get(c.bound_by) ?? 0) + c.total_ns);
  let best: string | null = null;
  let bestNs = -1;
  for (const [k, v] of byBound) if (v > bestNs) [best, bestNs] = [k, v];
  n.bound_by = best;
}

const SEP = "\u0000";

export function buildOpTree<T extends OpLike>(ops: readonly T[]): OpNode<T>[] {
  const programs = new Map<string, OpNode<T>>();
  for (const op of ops) {
    let prog = programs.get(op.module);
    if (!prog) {
      prog = node<T>("program", op.module, op.module, op.module);
      programs.set(op.module, prog);
    }
    const catKey = op.module + SEP + (op.category || "other");
    let cat = prog.children.find((c) => c.key === catKey);
    if (!cat) {
      cat = node<T>("category", catKey, op.category || "other", op.module);
      prog.children.push(cat);
    }
    const leaf: OpNode<T> = {
      ...node<T>("op", catKey + SEP + op.op, op.op, op.module),
      total_ns: op.total_ns,
      share: op.share,
      occurrences: op.occurrences,
      flops: op.flops,
      bytes: op.bytes,
      flops_per_s: op.flops_per_s,
      bytes_per_s: op.bytes_per_s,
      bound_by: op.bound_by,
      op,
    };
    cat.children.push(leaf);
    for (const n of [prog, cat]) {
      n.total_ns += op.total_ns;
      n.share += op.share;
      n.occurrences += op.occurrences;
      n.flops = addOpt(n.flops, op.flops);
      n.bytes = addOpt(n.bytes, op.bytes);
    }
  }
  const roots = [...programs.values()];
  for (const r of roots) finish(r);
  return sortOpTree(roots, "total_ns", true);
}

function cmp<T extends OpLike>(key: OpSortKey): (a: OpNode<T>, b: OpNode<T>) => number {
  if (key === "label") return (a, b) => a.label.localeCompare(b.label);
  return (a, b) => ((a[key] as number | null) ?? -Infinity) - ((b[key] as number | null) ?? -Infinity);
}

/** Sort every level of the tree (a new tree; the input is not changed). */
export function sortOpTree<T extends OpLike>(nodes: OpNode<T>[], key: OpSortKey, desc: boolean): OpNode<T>[] {
  const c = cmp<T>(key);
  const sorted = [...nodes].sort((a, b) => (desc ? -c(a, b) : c(a, b)) || a.key.localeCompare(b.key));
  return sorted.map((n) => (n.children.length ? { ...n, children: sortOpTree(n.children, key, desc) } : n));
}

/** Keep ops whose name, category or module contains the filter (and their parents). */
export function filterOpTree<T extends OpLike>(nodes: OpNode<T>[], text: string): OpNode<T>[] {
  const f = text.trim().toLowerCase();
  if (!f) return nodes;
  const out: OpNode<T>[] = [];
  for (const n of nodes) {
    if (n.label.toLowerCase().includes(f)) {
      out.push(n);
      continue;
    }
    const kids = filterOpTree(n.children, text);
    if (kids.length) out.push({ ...n, children: kids });
  }
  return out;
}

/** Flatten to visible rows, honouring the set of expanded keys. */
export function flattenOpTree<T extends OpLike>(
  nodes: OpNode<T>[],
  expanded: ReadonlySet<string>,
  depth = 0,
  out: { node: OpNode<T>; depth: number }[] = [],
): { node: OpNode<T>; depth: number }[] {
  for (const n of nodes) {
    out.push({ node: n, depth });
    if (n.children.length && expanded.has(n.key)) flattenOpTree(n.children, expanded, depth + 1, out);
  }
  return out;
}

/** Keys of the program and category that hold an op (to expand them). */
export function pathKeys(module: string, category: string, op: string): string[] {
  const cat = module + SEP + (category || "other");
  return [module, cat, cat + SEP + op];
}

/** Ops as seen on one device (totals from per_device, shares renormalised). */
export function opsForDevice<T extends OpLike & { per_device?: Record<string, number> }>(ops: T[], device: string): T[] {
  if (device === "") return ops;
  const mapped = ops
    .map((o) => {
      const t = Number(o.per_device?.[device] ?? 0);
      const scale = o.total_ns > 0 ? t / o.total_ns : 0;
      return { ...o, total_ns: t, occurrences: Math.round(o.occurrences * scale), avg_ns: o.avg_ns, flops: o.flops === null ? null : o.flops * scale, bytes: o.bytes === null ? null : o.bytes * scale };
    })
    .filter((o) => o.total_ns > 0);
  const total = mapped.reduce((s, o) => s + o.total_ns, 0);
  return mapped.map((o) => ({ ...o, share: total > 0 ? o.total_ns / total : 0 }));
}

