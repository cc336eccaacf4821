/**
 * Which IP addresses an outbound call may reach. The ranges come from ipaddr.js (it tracks the IANA special-purpose
 * registries); nothing here parses addresses by hand.
 *
 * Only globally routable unicast passes by default. Everything else is refused: RFC 1918 private, 100.64/10
 * (carrier-grade NAT), loopback, link-local (169.254/16 holds the cloud metadata endpoints), fc00::/7, unspecified,
 * multicast, broadcast, documentation and reserved blocks, and the IPv6 forms that embed an IPv4 address and can be
 * translated back to one (NAT64, 6to4, Teredo). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is judged as the IPv4 it carries.
 */
import { isIP } from "node:net"
import ipaddr from "ipaddr.js"

/**
 * The ipaddr.js range name, or `invalid`. Only the canonical forms Node connects to without a lookup count as
 * addresses: ipaddr.js also reads `0177.0.0.1` or `127.1`, which `net.connect` would hand to DNS instead.
 */
export type Range = string

/** Meaningless for HTTP even in development: refused whatever the configuration says. */
const NEVER_ALLOWED: ReadonlySet<Range> = new Set(["invalid", "multicast", "broadcast"])

export const rangeOf = (address: string): Range => {
  if (isIP(address) === 0 || !ipaddr.isValid(address)) return "invalid"
  const ip = ipaddr.parse(address)
  if (ip.kind() === "ipv6") {
    const v6 = ip as ipaddr.IPv6
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address().range() : v6.range()
  }
  return ip.range()
}

/** `null` when `address` may be reached, otherwise the range that forbids it. */
export const refusal = (address: string, allowPrivate: boolean): Range | null => {
  const range = rangeOf(address)
  if (range === "unicast") return null
  if (allowPrivate && !NEVER_ALLOWED.has(range)) return null
  return range
}
