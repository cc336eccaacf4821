/**
 * The SSRF guard, end to end through the outbound client: refused ranges (as literals and as names), the allow flag,
 * and DNS rebinding. A loopback receiver stands in for the internal service an attacker wants to reach; every TCP
 * connection attempt of the process is observed through node's diagnostics channel.
 */
import { HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Outbound, OutboundGuard, type OutboundOptions, type Resolver } from "../../src/Http/Outbound.js"
import { rangeOf, refusal } from "../../src/Http/Outbound/AddressPolicy.js"
import { RequestContext } from "../../src/RequestContext.js"
import { connectionAttempts, contextFor, receiver } from "./OutboundSupport.js"

/** Each forbidden range with an address in it; the last ones are IPv6 forms that carry an IPv4 address. */
const FORBIDDEN: ReadonlyArray<readonly [string, string]> = [
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["10.0.0.1", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.254", "private"],
  ["192.168.1.1", "private"],
  ["100.64.0.1", "carrierGradeNat"],
  ["169.254.169.254", "linkLocal"],
  ["0.0.0.0", "unspecified"],
  ["224.0.0.1", "multicast"],
  ["255.255.255.255", "broadcast"],
  ["::1", "loopback"],
  ["::", "unspecified"],
  ["fe80::1", "linkLocal"],
  ["fc00::1", "uniqueLocal"],
  ["fd12:3456::1", "uniqueLocal"],
  ["ff02::1", "multicast"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:10.0.0.1", "private"],
  ["::ffff:169.254.169.254", "linkLocal"],
  ["64:ff9b::a9fe:a9fe", "rfc6052"],
  ["2002:7f00:1::1", "6to4"]
]
const PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
/** An address the policy accepts; nothing listens for us there (the rebinding test must not reach anything). */
const PUBLIC_ADDRESS = "93.184.215.14"

const strict: OutboundOptions = { allowPrivate: false, timeoutMs: 2_000 }
const bracket = (address: string) => (address.includes(":") ? `[${address}]` : address)

/** A resolver from a fixed table, counting its calls. */
const table = (entries: Record<string, ReadonlyArray<string>>) => {
  const calls: Array<string> = []
  const resolver: Resolver = async (hostname) => {
    calls.push(hostname)
    const addresses = entries[hostname]
    if (addresses === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" })
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }))
  }
  return { resolver, calls }
}

const get = (url: string) =>
  Effect.flatMap(Outbound, (client) => client.execute(HttpClientRequest.get(url))).pipe(
    Effect.either,
    RequestContext.withContext(contextFor())
  )

describe("address policy (ipaddr.js ranges)", () => {
  it("refuses every forbidden range and names it; IPv4-mapped addresses are judged as their IPv4", () => {
    for (const [address, range] of FORBIDDEN) {
      expect([address, rangeOf(address)]).toEqual([address, range])
      expect(refusal(address, false)).toBe(range)
    }
    for (const address of PUBLIC) expect([address, refusal(address, false)]).toEqual([address, null])
  })

  it("the allow flag admits private destinations but never multicast, broadcast or non-canonical forms", () => {
    for (const address of ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1"]) {
      expect(refusal(address, true)).toBeNull()
    }
    for (const address of ["224.0.0.1", "255.255.255.255", "ff02::1", "0177.0.0.1", "127.1", "0x7f000001", "a.b"]) {
      expect(refusal(address, true)).not.toBeNull()
    }
  })
})

describe("Outbound SSRF guard", () => {
  it.scopedLive("an address literal in each forbidden range is refused before any connection is attempted", () =>
    Effect.gen(function* () {
      const attempts = yield* connectionAttempts
      const r = yield* receiver()
      for (const [address, range] of FORBIDDEN) {
        const result = yield* get(`http://${bracket(address)}:${r.port}/hook`)
        expect(Either.isLeft(result) && result.left._tag).toBe("DestinationRefused")
        expect(Either.isLeft(result) && result.left._tag === "DestinationRefused" && result.left.reason).toBe(range)
      }
      expect(attempts).toEqual([])
      expect(r.received).toEqual([])
    }).pipe(Effect.provide(Outbound.layerWith(strict)))
  )

  const names = table(Object.fromEntries(FORBIDDEN.map(([address], i) => [`internal-${i}.example.test`, [address]])))
  it.scopedLive("a name resolving into each forbidden range is refused; the resolver was asked, nothing dialled", () =>
    Effect.gen(function* () {
      const attempts = yield* connectionAttempts
      const r = yield* receiver()
      for (const [i, [address, range]] of FORBIDDEN.entries()) {
        const result = yield* get(`http://internal-${i}.example.test:${r.port}/hook`)
        expect(Either.isLeft(result) && result.left).toMatchObject({
          _tag: "DestinationRefused",
          address,
          reason: range
        })
        expect(Either.isLeft(result) && result.left.message).toBe(
          `destination refused: internal-${i}.example.test resolves to ${address} (${range})`
        )
      }
      expect(names.calls).toHaveLength(FORBIDDEN.length)
      expect(attempts).toEqual([])
      expect(r.received).toEqual([])
    }).pipe(Effect.provide(Outbound.layerWith({ ...strict, resolver: names.resolver })))
  )

  it.scopedLive("`localhost` through the system resolver: refused by default, reached with the flag", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      const url = `http://localhost:${r.port}/sys`
      const refused = yield* get(url).pipe(Effect.provide(Outbound.layerWith(strict)))
      expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "DestinationRefused", reason: "loopback" })
      expect(r.received).toEqual([])
      const reached = yield* get(url).pipe(Effect.provide(Outbound.layerWith({ ...strict, allowPrivate: true })))
      expect(Either.isRight(reached) && reached.right.status).toBe(200)
      expect(r.received.map((x) => x.headers.host)).toEqual([`localhost:${r.port}`])
    })
  )

  const allowed = table({ "hooks.internal.test": ["127.0.0.1"] })
  it.scopedLive("with THREADLINE_ALLOW_PRIVATE_WEBHOOKS the same destinations are reached, Host kept", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      for (const url of [
        r.url(),
        `http://hooks.internal.test:${r.port}/named`,
        `http://[::ffff:127.0.0.1]:${r.port}/v6`
      ]) {
        const result = yield* get(url)
        expect(Either.isRight(result) && result.right.status).toBe(200)
      }
      expect(r.received.map((x) => [x.path, x.headers.host])).toEqual([
        ["/hook", `127.0.0.1:${r.port}`],
        ["/named", `hooks.internal.test:${r.port}`],
        ["/v6", `[::ffff:7f00:1]:${r.port}`]
      ])
      // Multicast stays refused even then.
      const multicast = yield* get(`http://224.0.0.1:${r.port}/`)
      expect(Either.isLeft(multicast) && multicast.left._tag).toBe("DestinationRefused")
    }).pipe(Effect.provide(Outbound.layerWith({ allowPrivate: true, timeoutMs: 2_000, resolver: allowed.resolver })))
  )

  const mixed = table({ "mixed.example.test": [PUBLIC_ADDRESS, "127.0.0.1"] })
  it.scopedLive("one answer with a public and a loopback address is refused whole (no fallback to loopback)", () =>
    Effect.gen(function* () {
      const attempts = yield* connectionAttempts
      const r = yield* receiver()
      const result = yield* get(`http://mixed.example.test:${r.port}/hook`)
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "DestinationRefused", address: "127.0.0.1" })
      expect(attempts).toEqual([])
      expect(r.received).toEqual([])
    }).pipe(Effect.provide(Outbound.layerWith({ ...strict, resolver: mixed.resolver })))
  )

  // The rebinding DNS server: the first answer passes the check, every later one points at loopback. A client that
  // checks the name and then lets the socket resolve it again would dial 127.0.0.1 and reach the receiver.
  const rebindingCalls: Array<string> = []
  const rebinding: Resolver = async (hostname) => {
    rebindingCalls.push(hostname)
    return [{ address: rebindingCalls.length === 1 ? PUBLIC_ADDRESS : "127.0.0.1", family: 4 }]
  }
  it.scopedLive("DNS rebinding: the connection goes only to the address that was checked", () =>
    Effect.gen(function* () {
      const attempts = yield* connectionAttempts
      const r = yield* receiver()
      const first = yield* get(`http://rebind.example.test:${r.port}/hook`)
      // Nothing answers at the public address for us: the call fails, and it was dialled there, not at 127.0.0.1.
      expect(Either.isLeft(first) && ["OutboundTimeout", "RequestError"].includes(first.left._tag)).toBe(true)
      expect(attempts.length).toBeGreaterThan(0)
      expect(attempts.every((a) => a.ip === PUBLIC_ADDRESS && a.port === r.port)).toBe(true)
      expect(rebindingCalls[0]).toBe("rebind.example.test")

      // The next connection resolves again, gets loopback, and is refused: each socket is checked.
      const second = yield* get(`http://rebind.example.test:${r.port}/hook`)
      expect(Either.isLeft(second) && second.left).toMatchObject({ _tag: "DestinationRefused", address: "127.0.0.1" })
      expect(attempts.some((a) => a.ip === "127.0.0.1")).toBe(false)
      expect(r.received).toEqual([])
      expect(r.acceptedSockets()).toBe(0)
    }).pipe(Effect.provide(Outbound.layerWith({ ...strict, timeoutMs: 500, resolver: rebinding })))
  )
})

describe("OutboundGuard.check (at creation)", () => {
  const names = table({ "hooks.example.test": [PUBLIC_ADDRESS], "meta.example.test": ["169.254.169.254"] })
  it.scopedLive("refuses forbidden, unresolvable and non-http destinations; accepts public ones", () =>
    Effect.gen(function* () {
      const guard = yield* OutboundGuard
      const outcome = (url: string) =>
        guard.check(url).pipe(Effect.match({ onFailure: (e) => e.message, onSuccess: () => "ok" }))
      expect(yield* outcome("https://hooks.example.test/hook?token=abc")).toBe("ok")
      expect(yield* outcome(`https://${PUBLIC_ADDRESS}/hook`)).toBe("ok")
      expect(yield* outcome("http://10.0.0.1/hook")).toBe("destination refused: 10.0.0.1 (private)")
      expect(yield* outcome("http://[::1]:8080/hook")).toBe("destination refused: ::1 (loopback)")
      expect(yield* outcome("https://meta.example.test/latest")).toBe(
        "destination refused: meta.example.test resolves to 169.254.169.254 (linkLocal)"
      )
      expect(yield* outcome("https://nowhere.example.test/")).toBe(
        "destination refused: nowhere.example.test (host does not resolve)"
      )
      expect(yield* outcome("file:///etc/passwd")).toBe("destination refused:  (scheme file: not allowed)")
      expect(yield* outcome("not a url")).toBe("destination refused: (invalid url) (invalid url)")
    }).pipe(Effect.provide(Outbound.layerWith({ ...strict, resolver: names.resolver })))
  )
})
