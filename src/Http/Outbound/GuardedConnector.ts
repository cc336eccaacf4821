/**
 * The undici connector behind every outbound call: it resolves the host once, checks every address it got, and dials
 * one of those checked addresses as an IP literal, so nothing resolves the name a second time between the check and
 * the connection (DNS rebinding). TLS keeps the original name for SNI and certificate checks, and the `Host` header
 * comes from the request's origin, so receivers see the name they were given.
 *
 * Checking in the connector, rather than before the request, covers every connection undici opens: a new socket for
 * a pooled origin is checked again, with a fresh resolution.
 */
import { lookup } from "node:dns/promises"
import { isIP } from "node:net"
import tls from "node:tls"
import { buildConnector } from "@effect/platform-node/Undici"
import { type Range, refusal } from "./AddressPolicy.js"

export interface ResolvedAddress {
  readonly address: string
  readonly family: number
}

/** Name to addresses. Injected in tests to play a rebinding DNS server; the system resolver otherwise. */
export type Resolver = (hostname: string) => Promise<ReadonlyArray<ResolvedAddress>>

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true })

/**
 * Crosses undici's callback world as the cause of its connection error; `Outbound` turns it back into the typed
 * `DestinationRefused`.
 */
export class RefusedAddress extends Error {
  readonly code = "THREADLINE_DESTINATION_REFUSED"
  constructor(
    readonly host: string,
    readonly address: string | null,
    readonly range: Range
  ) {
    super(
      address === null
        ? `destination refused: ${host} (${range})`
        : `destination refused: ${host} resolves to ${address} (${range})`
    )
    this.name = "RefusedAddress"
  }
}

export interface GuardOptions {
  readonly allowPrivate: boolean
  readonly resolver: Resolver
  /** Per address dialled; the caller's own timeout bounds the whole request. */
  readonly connectTimeoutMs: number
  /** Extra trusted CA certificates (PEM) for TLS receivers, on top of Node's bundle. */
  readonly ca?: ReadonlyArray<string>
}

const unbracket = (hostname: string): string =>
  hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname

/**
 * The addresses `hostname` may be reached at, all of them checked. One forbidden address refuses the host: with
 * `[public, 127.0.0.1]` a fallback to the second would otherwise reach loopback.
 */
export const resolveChecked = async (hostname: string, options: GuardOptions): Promise<ReadonlyArray<string>> => {
  const host = unbracket(hostname)
  const addresses = isIP(host) !== 0 ? [host] : (await options.resolver(host)).map((a) => a.address)
  if (addresses.length === 0) {
    throw Object.assign(new Error(`no address for ${host}`), { code: "ENOTFOUND", hostname: host })
  }
  for (const address of addresses) {
    const range = refusal(address, options.allowPrivate)
    if (range !== null) throw new RefusedAddress(host, address, range)
  }
  return addresses
}

/** Failures where the next checked address may still answer. */
const DIAL_AGAIN = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT"])

const errorCode = (error: Error): unknown => (error as Error & { readonly code?: unknown }).code

const asError = (cause: unknown): Error => (cause instanceof Error ? cause : new Error(String(cause)))

export const guardedConnector = (options: GuardOptions): buildConnector.connector => {
  const dial = buildConnector({
    timeout: options.connectTimeoutMs,
    ...(options.ca === undefined ? {} : { ca: [...tls.rootCertificates, ...options.ca] })
  })
  return (target, callback) => {
    const host = unbracket(target.hostname)
    const attempt = (addresses: ReadonlyArray<string>, index: number): void => {
      const address = addresses[index]!
      const next: buildConnector.Options = { ...target, hostname: address }
      if (next.servername === undefined && isIP(host) === 0) next.servername = host
      dial(next, (...result) => {
        const [error] = result
        if (error !== null && index + 1 < addresses.length && DIAL_AGAIN.has(String(errorCode(error)))) {
          attempt(addresses, index + 1)
        } else {
          callback(...result)
        }
      })
    }
    void resolveChecked(host, options)
      .then((addresses) => attempt(addresses, 0))
      .catch((error: unknown) => callback(asError(error), null))
  }
}
