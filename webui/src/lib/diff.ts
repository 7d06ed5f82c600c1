// Rules of the diff view that must hold in every cell: A is the baseline (the
// older capture unless the user picks otherwise), deltas are B − A, and a
// delta is red ("worse") where B is slower, green ("better") where faster.

/** CSS class of a delta (ns or %): "worse" where B is slower, "better" where faster, "" for none. */
export function deltaClass(delta: number | null | undefined): "worse" | "better" | "" {
  if (delta === null || delta === undefined || !Number.isFinite(delta) || delta === 0) return "";
  return delta > 0 ? "worse" : "better";
}

/** Two profiles in diff order: [baseline A, candidate B], the older one (by created_at) first. */
export function baselineFirst<P extends { created_at?: number | null }>(x: P, y: P): [P, P] {
  return (y.created_at ?? 0) < (x.created_at ?? 0) ? [y, x] : [x, y];
}
