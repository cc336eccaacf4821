/**
 * What one process granted while Redis was unreachable, per organization and month, until UsageFlush adds it to the
 * Redis counters. In memory on purpose: it exists only for an outage, and a process that dies during one loses at
 * most what it alone accepted meanwhile (README.md).
 */
import type { OrganizationId } from "../RequestContext.js"
import { type Counters, type UsageRow, zero } from "./UsageSql.js"

export const sum = (a: Counters, b: Counters): Counters => ({
  events: a.events + b.events,
  bytes: a.bytes + b.bytes,
  jobs: a.jobs + b.jobs
})

const isZero = (c: Counters) => c.events === 0 && c.bytes === 0 && c.jobs === 0

/** The longest prefix of `sizes` with at most `roomEvents` entries and `roomBytes` bytes (the Lua `reserve` loop). */
export const grant = (sizes: ReadonlyArray<number>, roomEvents: number, roomBytes: number, allOrNothing: boolean) => {
  let k = 0
  let b = 0
  while (k < sizes.length && k < roomEvents && b + sizes[k]! <= roomBytes) b += sizes[k++]!
  return allOrNothing && k < sizes.length ? { events: 0, bytes: 0 } : { events: k, bytes: b }
}

export class Backlog {
  private readonly entries = new Map<string, UsageRow>()

  get size(): number {
    return this.entries.size
  }

  get(organizationId: OrganizationId, month: string): Counters {
    return this.entries.get(`${organizationId}|${month}`) ?? zero
  }

  /** Adds (or, negative, takes back) usage; an entry that returns to zero disappears. */
  add(organizationId: OrganizationId, month: string, c: Counters): void {
    if (isZero(c)) return
    const id = `${organizationId}|${month}`
    const next = sum(this.get(organizationId, month), c)
    if (isZero(next)) this.entries.delete(id)
    else this.entries.set(id, { organizationId, month, ...next })
  }

  /** Takes every entry out, for a replay; what fails to replay is added back. */
  drain(): ReadonlyArray<UsageRow> {
    const all = [...this.entries.values()]
    this.entries.clear()
    return all
  }
}
