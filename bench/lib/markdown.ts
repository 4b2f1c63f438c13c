/** A markdown table; cells are printed as they are. */
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** `a / b / c` of the values present (the arms that ran), for one cell holding a figure per arm; `–` for a missing figure. */
export function perArm<T>(values: ReadonlyArray<T | undefined>, show: (v: T) => string | number | undefined = (v) => String(v)): string {
  return values
    .filter((v): v is T => v !== undefined)
    .map((v) => show(v) ?? '–')
    .join(' / ');
}
