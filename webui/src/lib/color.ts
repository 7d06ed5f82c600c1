// Stable colours for slice names: a name always gets the same palette slot,
// in either theme.

/** FNV-1a hash of a string, 32-bit unsigned. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The key that decides a slice's colour: the name without trailing instance
 * numbers, so `fusion.12` and `fusion.31` share a colour ("fusion").
 */
export function colorKey(name: string): string {
  return name.replace(/[._-]?\d+$/, "").replace(/^%/, "");
}

export const PALETTE_SIZE = 12;

export function paletteIndex(name: string): number {
  return hashString(colorKey(name)) % PALETTE_SIZE;
}

/** Slice fills, light theme: mid-saturation so black text reads on them. */
export const PALETTE_LIGHT = [
  "#8ab4f8", "#81c995", "#fdd663", "#f28b82", "#c58af9", "#78d9ec",
  "#fcad70", "#a7c7a0", "#ff8bcb", "#b0b7ff", "#d7c27b", "#9ed1c4",
];

/** Slice fills, dark theme: deeper so white text reads on them. */
export const PALETTE_DARK = [
  "#3367b5", "#2f7d47", "#9a7b12", "#a8433b", "#7045a8", "#1f7f91",
  "#a65a1c", "#5b7a53", "#a83d78", "#4b55b0", "#807038", "#3f7f72",
];
