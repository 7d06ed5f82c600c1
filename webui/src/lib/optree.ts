// The op profile's hierarchy: program (HLO module) -> category -> op. Pure data in,
// tree out.
//
// Time has one definition (docs/api.md, `ops`): `self_ns` is an op's own device time
// (nested ops excluded, concurrent ops splitting their overlap) and `share` its part
// of the devices' busy time, so groups sum self time and shares and they add up to
// 100 %. Inclusive time (`total_ns`) is an op's run time: it is shown per op and used
// for rates, never summed over a group (a loop and its body would count twice).

export interface OpLike {
  module: string;
  program_id: number | string | null;
  op: string;
  category: string;
  occurrences: number;
  total_ns: number;
  self_ns: number;
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
  self_ns: number;
  /** Inclusive run time: an op's own; null for groups (it does not add up). */
  total_ns: number | null;
  share: number;
  occurrences: number;
  flops: number | null;
  bytes: number | null;
  /** Run time of the members with a cost: the time the group's rates are over. */
  costed_ns: number;
  flops_per_s: number | null;
  bytes_per_s: number | null;
  bound_by: string | null;
  children: OpNode<T>[];
  op?: T;
}

export type OpSortKey = "self_ns" | "total_ns" | "share" | "occurrences" | "flops_per_s" | "bytes_per_s" | "label";

function addOpt(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a + b;
}

function node<T extends OpLike>(kind: OpNodeKind, key: string, label: string, module: string): OpNode<T> {
  return {
    kind, key, label, module, self_ns: 0, total_ns: null, share: 0, occurrences: 0, flops: null,
    bytes: null, costed_ns: 0, flops_per_s: null, bytes_per_s: null, bound_by: null, children: [],
  };
}

function finish<T extends OpLike>(n: OpNode<T>): void {
  if (n.kind === "op") return;
  for (const c of n.children) finish(c);
  const secs = n.costed_ns / 1e9;
  n.flops_per_s = n.flops !== null && secs > 0 ? n.flops / secs : null;
  n.bytes_per_s = n.bytes !== null && secs > 0 ? n.bytes / secs : null;
  // A group is "bound by" what most of its time is bound by.
  const byBound = new Map<string, number>();
  for (const c of n.children) if (c.bound_by) byBound.set(c.bound_by, (byBound.get(c.bound_by) ?? 0) + c.self_ns);
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
    // Collectives move a payload across the interconnect: their reduction adds and bytes
    // are not compute or memory work, so they stay out of the groups' rates.
    const coll = op.category === "collective";
    const costed = !coll && ((op.flops ?? 0) > 0 || (op.bytes ?? 0) > 0) ? op.total_ns : 0;
    const leaf: OpNode<T> = {
      ...node<T>("op", catKey + SEP + op.op, op.op, op.module),
      self_ns: op.self_ns,
      total_ns: op.total_ns,
      share: op.share,
      occurrences: op.occurrences,
      flops: op.flops,
      bytes: op.bytes,
      costed_ns: costed,
      flops_per_s: op.flops_per_s,
      bytes_per_s: op.bytes_per_s,
      bound_by: op.bound_by,
      op,
    };
    cat.children.push(leaf);
    for (const n of [prog, cat]) {
      n.self_ns += op.self_ns;
      n.share += op.share;
      n.occurrences += op.occurrences;
      if (!coll) {
        n.flops = addOpt(n.flops, op.flops);
        n.bytes = addOpt(n.bytes, op.bytes);
      }
      n.costed_ns += costed;
    }
  }
  const roots = [...programs.values()];
  for (const r of roots) finish(r);
  return sortOpTree(roots, "self_ns", true);
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

/** Ops as seen on one device: self time from per_device, the rest scaled by the device's
 * part of the op's self time, shares renormalised to that device's busy time. */
export function opsForDevice<T extends OpLike & { per_device?: Record<string, number> }>(ops: T[], device: string): T[] {
  if (device === "") return ops;
  const mapped = ops
    .map((o) => {
      const self = Number(o.per_device?.[device] ?? 0);
      const scale = o.self_ns > 0 ? self / o.self_ns : 0;
      return {
        ...o, self_ns: self, total_ns: o.total_ns * scale, occurrences: Math.round(o.occurrences * scale),
        flops: o.flops === null ? null : o.flops * scale, bytes: o.bytes === null ? null : o.bytes * scale,
      };
    })
    .filter((o) => o.self_ns > 0);
  const total = mapped.reduce((s, o) => s + o.self_ns, 0);
  return mapped.map((o) => ({ ...o, share: total > 0 ? o.self_ns / total : 0 }));
}
