/**
 * Shared by every benchmark: BENCH_SMOKE=1 runs it at a tiny size (a few seconds) so CI proves it still runs and
 * prints every row; its figures mean nothing. `failIf` makes a broken row (errors, non-2xx, nothing done) fail the run.
 */

export const SMOKE = process.env.BENCH_SMOKE === "1"

/** The size from `variable` when set, else the full size, or the smoke size under BENCH_SMOKE=1. */
export const sized = (variable: string | undefined, full: number, smoke: number): number => {
  const set = variable === undefined ? undefined : process.env[variable]
  return set !== undefined && set !== "" ? Number(set) : SMOKE ? smoke : full
}

export class BenchFailure extends Error {}

/** Throws (the benchmark then exits non-zero) when `failed` holds. */
export const failIf = (failed: boolean, message: string): void => {
  if (failed) throw new BenchFailure(message)
}

/** A rate or time that a row which did its work must have: finite and above zero. */
export const failUnlessPositive = (value: number, row: string): void =>
  failIf(!(Number.isFinite(value) && value > 0), `${row}: ${value} (nothing measured)`)
