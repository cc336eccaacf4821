/**
 * A short positive cache of API-key lookups (secret hash → principal), so an authenticated request usually costs no
 * database round trip. Bounded (oldest entry dropped first) and short-lived: an entry is used for at most
 * `TTL_MS`. Revoking a key evicts it here at once (`evictKey`), so the instance that revoked it refuses it on the
 * next request; OTHER instances may accept a revoked key for up to `TTL_MS` (30 s), the documented bound.
 * Unknown keys are not cached (a miss always asks Postgres), so a new key works at once everywhere.
 */
import { Effect } from "effect"
import type { ApiKeyPrincipal } from "../Http/Credentials.js"
import type { ApiKeyId } from "../RequestContext.js"

export const TTL_MS = 30_000
export const CAPACITY = 10_000

interface Entry {
  readonly principal: ApiKeyPrincipal
  readonly at: number
}

export class ApiKeyCache extends Effect.Service<ApiKeyCache>()("Tenancy/ApiKeyCache", {
  sync: () => {
    const byHash = new Map<string, Entry>()
    const hashById = new Map<ApiKeyId, string>()

    const get = (hash: string): ApiKeyPrincipal | undefined => {
      const entry = byHash.get(hash)
      if (entry === undefined) return undefined
      if (Date.now() - entry.at >= TTL_MS) {
        byHash.delete(hash)
        hashById.delete(entry.principal.apiKeyId)
        return undefined
      }
      return entry.principal
    }

    const set = (hash: string, principal: ApiKeyPrincipal): void => {
      byHash.delete(hash)
      byHash.set(hash, { principal, at: Date.now() })
      hashById.set(principal.apiKeyId, hash)
      while (byHash.size > CAPACITY) {
        const oldest = byHash.keys().next()
        if (oldest.done === true) break
        const dropped = byHash.get(oldest.value)
        byHash.delete(oldest.value)
        if (dropped !== undefined) hashById.delete(dropped.principal.apiKeyId)
      }
    }

    const evictKey = (id: ApiKeyId): Effect.Effect<void> =>
      Effect.sync(() => {
        const hash = hashById.get(id)
        hashById.delete(id)
        if (hash !== undefined) byHash.delete(hash)
      })

    return { get, set, evictKey, size: () => byHash.size } as const
  }
}) {}
