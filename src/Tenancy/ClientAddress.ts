/**
 * Which address a request comes from, for the brute-force limits and the session row. `X-Forwarded-For` is read
 * only when the socket's peer is a trusted proxy (THREADLINE_TRUSTED_PROXIES), right to left, skipping trusted
 * hops: the first untrusted address is the client. IPv4-mapped IPv6 counts as its IPv4; IPv6 clients are limited
 * by their /64 (one subscriber's prefix), so rotating addresses inside it does not buy fresh counters.
 */
import { isIP } from "node:net"
import ipaddr from "ipaddr.js"

export type Cidr = readonly [ipaddr.IPv4 | ipaddr.IPv6, number]

/** Parses a canonical address (no `127.1`-style forms), IPv4-mapped IPv6 as IPv4; undefined when it is not one. */
const parseAddress = (raw: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined => {
  const text = raw.trim()
  if (isIP(text) === 0 || !ipaddr.isValid(text)) return undefined
  return ipaddr.process(text)
}

/** `10.0.0.0/8, 192.168.1.7, fd00::/8` → ranges; a bare address is its own /32 or /128. Throws on a bad entry. */
export const parseTrustedProxies = (list: ReadonlyArray<string>): ReadonlyArray<Cidr> =>
  list.map((entry): Cidr => {
    if (entry.includes("/")) {
      const [address, bits] = ipaddr.parseCIDR(entry)
      return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()
        ? [(address as ipaddr.IPv6).toIPv4Address(), Math.max(0, bits - 96)]
        : [address, bits]
    }
    const address = parseAddress(entry)
    if (address === undefined) throw new Error(`not an IP address or CIDR: ${entry}`)
    return [address, address.kind() === "ipv4" ? 32 : 128]
  })

const isTrusted = (address: ipaddr.IPv4 | ipaddr.IPv6, trusted: ReadonlyArray<Cidr>) =>
  trusted.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits))

/**
 * The client's address: the peer itself unless it is trusted; then the `X-Forwarded-For` entries from the right,
 * the first one not trusted. A malformed entry stops the walk at the trusted hop that forwarded it.
 */
export const clientAddress = (
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: ReadonlyArray<Cidr>
): string => {
  const first = peer === undefined ? undefined : parseAddress(peer)
  if (first === undefined) return peer ?? "unknown"
  let current = first
  if (trusted.length === 0 || forwardedFor === undefined) return current.toString()
  const hops = forwardedFor.split(",").slice(-64)
  for (let i = hops.length - 1; i >= 0 && isTrusted(current, trusted); i--) {
    const next = parseAddress(hops[i] ?? "")
    if (next === undefined) break
    current = next
  }
  return current.toString()
}

/** What the per-IP counters are keyed by: the IPv4 address, or the IPv6 address's /64 network. */
export const bucketOf = (address: string): string => {
  const parsed = parseAddress(address)
  if (parsed === undefined) return address.slice(0, 64)
  if (parsed.kind() === "ipv4") return parsed.toString()
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4)
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`
}
