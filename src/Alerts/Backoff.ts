/**
 * Webhook retry policy (API.md): network errors, timeouts, 429 and 5xx are retried after 1 s, 5 s, 25 s, 2 min and
 * 10 min; then the delivery is `dead` (replayable). Other 4xx are final. 2xx is delivered.
 *
 * 3xx counts as final: redirects are not followed (the target could be anywhere, inside the network included), and
 * a receiver that moved has to be reconfigured. 1xx never reaches us (the client consumes it).
 */
import { Duration, Option } from "effect"

export type Outcome = "delivered" | "retry" | "final"

const SCHEDULE: ReadonlyArray<Duration.Duration> = [
  Duration.seconds(1),
  Duration.seconds(5),
  Duration.seconds(25),
  Duration.minutes(2),
  Duration.minutes(10)
]

/** The first attempt plus one per step of the schedule. */
export const MAX_ATTEMPTS = SCHEDULE.length + 1

const LONGEST = Duration.minutes(10)

export const classifyStatus = (status: number): Outcome => {
  if (status >= 200 && status < 300) return "delivered"
  if (status === 429 || (status >= 500 && status < 600)) return "retry"
  return "final"
}

/**
 * How long to wait after `attemptsMade` attempts (1 after the first) before the next one; `None` once the schedule
 * is spent, when the delivery becomes `dead`. A receiver's `Retry-After` can lengthen a step, up to the longest step.
 */
export const nextDelay = (attemptsMade: number, retryAfter?: Duration.Duration): Option.Option<Duration.Duration> => {
  const step = SCHEDULE[attemptsMade - 1]
  if (step === undefined) return Option.none()
  if (retryAfter === undefined) return Option.some(step)
  return Option.some(Duration.max(step, Duration.min(retryAfter, LONGEST)))
}

/** `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); `undefined` when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, nowMs: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^[0-9]{1,9}$/.test(trimmed)) return Duration.seconds(Number(trimmed))
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - nowMs))
}
