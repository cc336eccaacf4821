/**
 * Body limits as the application serves them: routes outside ingestion take at most THREADLINE_MAX_JSON_BODY_BYTES
 * (16 KiB) before any parsing, ingestion keeps THREADLINE_MAX_BODY_BYTES, and a `fetch` client whose body is over a
 * limit reads the 413 (by Content-Length or while streaming) instead of failing on a socket closed mid-upload.
 */
import { execFile } from "node:child_process"
import { request } from "node:http"
import { connect } from "node:net"
import { expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ErrorBody } from "../../src/Http/Errors.js"
import { baseUrl, call, logsApp, post, type Reply, Tenants } from "../Logs/AppServer.js"
import { parseRaw } from "./support/Raw.js"
import { testServer } from "./support/TestServer.js"

const decode = Schema.decodeUnknownSync(ErrorBody, { onExcessProperty: "error" })

const expect413 = (res: Reply) => {
  expect({ status: res.status, body: res.json }).toMatchObject({ status: 413 })
  expect(decode(res.json)).toMatchObject({ error: true, code: 413, name: "PayloadTooLarge" })
  expect(res.json.reqId).toBe(res.headers.get("x-request-id"))
}

/** A body of `total` bytes sent as a stream of 64 KiB chunks (chunked transfer encoding, no Content-Length). */
const streamed = (total: number, fill = 0x20): ReadableStream<Uint8Array> => {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close()
      const n = Math.min(64 * 1024, total - sent)
      sent += n
      controller.enqueue(new Uint8Array(n).fill(fill))
    }
  })
}

/** A JSON login body of about `bytes` bytes (a long password). */
const loginBody = (bytes: number) =>
  JSON.stringify({ email: "someone@example.com", password: "p".repeat(Math.max(0, bytes - 60)) })

const postRaw = (
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {}
) =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
      ...(body instanceof ReadableStream ? { duplex: "half" } : {})
    })
  )

const MiB = 1024 * 1024
const ATTEMPTS = 4

/** `ATTEMPTS` uploads by a fetch client in a process of its own (fixtures/Upload.ts); one reply per attempt. */
const upload = (path: string, bytes: number, mode: "length" | "stream", headers: Record<string, string> = {}) =>
  Effect.flatMap(baseUrl, (base) =>
    Effect.async<ReadonlyArray<Record<string, unknown>>, Error>((resume) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "test/Http/fixtures/Upload.ts"],
        {
          env: {
            ...process.env,
            UPLOAD_URL: `${base}${path}`,
            UPLOAD_BYTES: String(bytes),
            UPLOAD_MODE: mode,
            UPLOAD_TIMES: String(ATTEMPTS),
            UPLOAD_HEADERS: JSON.stringify(headers)
          },
          timeout: 60_000
        },
        (error, stdout) => {
          if (error !== null) return resume(Effect.fail(error))
          const lines = stdout.trim().split("\n")
          resume(Effect.succeed(lines.map((l) => JSON.parse(l) as Record<string, unknown>)))
        }
      )
    })
  )

const expect413Reply = (reply: Record<string, unknown>) => {
  expect(reply).toMatchObject({ status: 413, body: { error: true, code: 413, name: "PayloadTooLarge" } })
}

layer(logsApp("http-bodies"), { timeout: 120_000 })("body limits", (it) => {
  it.effect("17 KiB of JSON to login is 413 before parsing; 15 KiB is parsed (and refused as a bad login)", () =>
    Effect.gen(function* () {
      expect413(yield* postRaw("/api/v1/auth/login", loginBody(17 * 1024)))
      // chunked: no Content-Length to refuse by, so the cap applies while reading
      expect413(yield* postRaw("/api/v1/auth/login", streamed(17 * 1024)))
      const under = yield* postRaw("/api/v1/auth/login", loginBody(15 * 1024))
      expect(under.status).not.toBe(413)
      expect(under.status).toBeLessThan(500)
    })
  )

  it.effect("ingestion still takes bodies far over 16 KiB", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const logs = Array.from({ length: 200 }, (_, i) => ({
        service: "bodies",
        level: "info",
        message: `${i} ${"m".repeat(2000)}`
      }))
      const body = JSON.stringify(logs)
      expect(body.length).toBeGreaterThan(256 * 1024)
      const res = yield* post("/api/v1/ingest", a.fullKey, body)
      expect({ status: res.status, body: res.json }).toMatchObject({ status: 200, body: { received: 200 } })
    })
  )

  it.effect("fetch in another process reads the 413 of a large body with Content-Length, on login and on ingest", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // far more than the socket buffers hold, so the server answers while the client is still sending
      for (const reply of yield* upload("/api/v1/auth/login", 24 * MiB, "length")) expect413Reply(reply)
      for (const reply of yield* upload("/api/v1/ingest", 24 * MiB, "length", { "x-api-key": a.fullKey })) {
        expect413Reply(reply)
      }
    })
  )

  it.effect("fetch in another process reads the 413 of a large streamed (chunked) body, on login and on ingest", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      for (const reply of yield* upload("/api/v1/auth/login", 24 * MiB, "stream")) expect413Reply(reply)
      for (const reply of yield* upload("/api/v1/ingest", 24 * MiB, "stream", { "x-api-key": a.fullKey })) {
        expect413Reply(reply)
      }
    })
  )
})

/**
 * A raw client that declares `declared` bytes, then sends filler while the server lets it: what it read, how many
 * bytes the server took before closing, and how long that took.
 */
const slowUpload = (port: number, path: string, declared: number, sendFiller: boolean) =>
  new Promise<{ response: string; sent: number; ms: number }>((resolve) => {
    const started = Date.now()
    const socket = connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    let sent = 0
    const filler = Buffer.alloc(64 * 1024, 0x20)
    const pump = () => {
      while (sendFiller && !socket.destroyed && sent < declared) {
        sent += filler.length
        if (!socket.write(filler)) return void socket.once("drain", pump)
      }
    }
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("error", () => {})
    socket.on("close", () =>
      resolve({ response: Buffer.concat(chunks).toString("latin1"), sent, ms: Date.now() - started })
    )
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`
    )
    pump()
  })

const bounded = testServer({
  label: "bodies_bound",
  config: { THREADLINE_DISCARD_MAX_BYTES: String(MiB), THREADLINE_DISCARD_MAX_MS: "500" }
})

/** The `Connection` header of an answer to a request without a body, read with node's client. */
const connectionOf = (port: number, method: string, path: string, headers: Record<string, string>) =>
  new Promise<string | undefined>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      res.resume()
      resolve(res.headers.connection)
    })
    req.on("error", reject)
    req.end()
  })

layer(bounded.layer, { timeout: 60_000 })("the discarded rest of a refused body is bounded", (it) => {
  it.effect("answers to requests without a body keep their connection (preflight, answered synchronously)", () =>
    Effect.gen(function* () {
      const port = Number(new URL(yield* baseUrl).port)
      const preflight = { origin: "https://app.example.com", "access-control-request-method": "POST" }
      expect(yield* Effect.promise(() => connectionOf(port, "OPTIONS", "/probe/echo", preflight))).toBe("keep-alive")
      expect(yield* Effect.promise(() => connectionOf(port, "GET", "/health", {}))).toBe("keep-alive")
    })
  )

  it.effect("in bytes: the server stops reading past THREADLINE_DISCARD_MAX_BYTES and closes", () =>
    Effect.gen(function* () {
      const port = Number(new URL(yield* baseUrl).port)
      const result = yield* Effect.promise(() => slowUpload(port, "/probe/upload", 512 * MiB, true))
      expect(parseRaw(result.response).status).toBe(413)
      expect(parseRaw(result.response).headers.connection).toBe("close")
      // 1 MiB discarded, plus what the socket buffers held: far from the 512 MiB declared
      expect(result.sent).toBeLessThan(32 * MiB)
    })
  )

  it.effect("in time: a client that declares a body and sends nothing is closed after THREADLINE_DISCARD_MAX_MS", () =>
    Effect.gen(function* () {
      const port = Number(new URL(yield* baseUrl).port)
      const result = yield* Effect.promise(() => slowUpload(port, "/probe/upload", 512 * MiB, false))
      expect(parseRaw(result.response).status).toBe(413)
      expect(result.ms).toBeGreaterThanOrEqual(400)
      expect(result.ms).toBeLessThan(5_000)
    })
  )
})
