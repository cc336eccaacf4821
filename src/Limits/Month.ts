/** Quota months are calendar months in UTC: usage resets at 00:00 UTC on the 1st. */

/** `2026-11` for any instant in November 2026 (UTC). */
export const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7)

/** The first day of the month, as the `usage.month` date column stores it. */
export const monthStartDate = (month: string): string => `${month}-01`

/** Whole seconds until the next month begins (at least 1): `Retry-After` of an exhausted monthly quota. */
export const secondsToNextMonth = (ms: number): number => {
  const d = new Date(ms)
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  return Math.max(1, Math.ceil((next - ms) / 1000))
}
