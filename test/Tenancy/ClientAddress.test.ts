/**
 * Which address the brute-force limits count against: the peer unless it is a trusted proxy, then
 * `X-Forwarded-For` right to left past trusted hops; IPv6 keyed by /64, IPv4-mapped IPv6 as IPv4.
 */
import { describe, expect, it } from "@effect/vitest"
import { bucketOf, clientAddress, parseTrustedProxies } from "../../src/Tenancy/ClientAddress.js"

describe("client address", () => {
  const trusted = parseTrustedProxies(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])

  it("no trusted proxies: the peer, whatever the header says", () => {
    expect(clientAddress("192.0.2.9", "203.0.113.1", [])).toBe("192.0.2.9")
    expect(clientAddress("192.0.2.9", "203.0.113.1", trusted)).toBe("192.0.2.9")
    expect(clientAddress("::ffff:192.0.2.9", undefined, [])).toBe("192.0.2.9")
    expect(clientAddress(undefined, "203.0.113.1", trusted)).toBe("unknown")
  })

  it("a trusted peer: the right-most address that is not a trusted proxy", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.1", trusted)).toBe("203.0.113.1")
    expect(clientAddress("::ffff:127.0.0.1", "6.6.6.6, 203.0.113.1, 10.1.2.3", trusted)).toBe("203.0.113.1")
    expect(clientAddress("10.9.9.9", "10.0.0.2, 10.0.0.1", trusted)).toBe("10.0.0.2")
    expect(clientAddress("fd00::1", "2001:db8::5", trusted)).toBe("2001:db8::5")
    expect(clientAddress("127.0.0.1", undefined, trusted)).toBe("127.0.0.1")
    // garbage stops the walk at the trusted hop that forwarded it (the client cannot pick a bucket)
    expect(clientAddress("127.0.0.1", "203.0.113.1, not-an-ip", trusted)).toBe("127.0.0.1")
    expect(clientAddress("127.0.0.1", "127.1", trusted)).toBe("127.0.0.1")
  })

  it("buckets: IPv4 as is, IPv6 by /64", () => {
    expect(bucketOf("203.0.113.1")).toBe("203.0.113.1")
    expect(bucketOf("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64")
    expect(bucketOf("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64")
    expect(bucketOf("2001:db8:1:3::1")).not.toBe(bucketOf("2001:db8:1:2::1"))
    expect(bucketOf("::ffff:203.0.113.1")).toBe("203.0.113.1")
  })

  it("a bad trusted-proxy entry is refused", () => {
    expect(() => parseTrustedProxies(["10.0.0.0/33"])).toThrow()
    expect(() => parseTrustedProxies(["proxy.internal"])).toThrow()
  })
})
