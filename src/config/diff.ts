// Where two decoded configs differ, for errors that name the field ("config.train.batch differs").

/** The first dotted path where two values differ ('' if equal). */
export function firstDifference(a: unknown, b: unknown, at = 'config'): string {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) return at;
  if (a && typeof a === 'object') {
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    for (const k of new Set([...ka, ...kb])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
    return '';
  }
  return a === b ? '' : at;
}

/** The value at a dotted path from `firstDifference` (its first segment is the root's name). */
export function pick(o: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .slice(1)
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
}
