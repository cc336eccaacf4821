/**
 * Where an invitation's accept link goes when no mail is sent: development logs it; test and production never put
 * it in a log line (the inviter has it in the reply). A failing SMTP server neither blocks nor fails the caller,
 * and its warning carries no link.
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, Redacted } from "effect"
import { AppConfig } from "../../src/Config.js"
import { InvitationMailer } from "../../src/Tenancy/InvitationMailer.js"

const LINK = "http://localhost:8080/invitations/accept#token=tli_secretsecretsecretsecretsecretsecretsecret1"

const mail = {
  invitationId: "inv_0123456789abcdef01234567",
  to: "someone@example.com",
  organizationName: "Acme",
  role: "member",
  acceptUrl: Redacted.make(LINK),
  expiresAt: new Date()
}

/** Runs `deliver` under `env` with every log line captured (message and annotations, as JSON). */
const deliverUnder = (
  env: Record<string, string>,
  afterwards: (lines: ReadonlyArray<string>) => Promise<void> = async () => {}
) => {
  const lines: Array<string> = []
  const capture = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message, annotations }) => lines.push(JSON.stringify({ message, annotations: [...annotations] })))
  )
  const layer = InvitationMailer.Default.pipe(
    Layer.provide(AppConfig.Default),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
  )
  return Effect.gen(function* () {
    const started = Date.now()
    yield* Effect.scoped(
      Effect.gen(function* () {
        yield* (yield* InvitationMailer).deliver(mail)
        const returnedAfterMs = Date.now() - started
        yield* Effect.promise(() => afterwards(lines))
        return returnedAfterMs
      }).pipe(Effect.provide(layer))
    ).pipe(Effect.tap((ms) => expect(ms).toBeLessThan(200)))
    return lines
  }).pipe(Effect.provide(capture))
}

const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

describe("invitation links without mail", () => {
  it.effect("development logs the link", () =>
    Effect.gen(function* () {
      const lines = yield* deliverUnder({ THREADLINE_ENV: "development" })
      expect(lines.join("\n")).toContain(LINK)
    })
  )

  it.effect("production and test never log it", () =>
    Effect.gen(function* () {
      const production = yield* deliverUnder({
        THREADLINE_ENV: "production",
        THREADLINE_SECRET_KEY: randomBytes(32).toString("hex")
      })
      const test = yield* deliverUnder({ THREADLINE_ENV: "test" })
      expect([...production, ...test].join("\n")).not.toContain("tli_")
    })
  )

  it.effect("an unreachable SMTP server: the caller returns at once; the failure is logged without the link", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(closedPort)
      const waitForWarning = async (lines: ReadonlyArray<string>) => {
        for (let i = 0; i < 100 && !lines.some((l) => l.includes("invitation mail failed")); i++) {
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
      const lines = yield* deliverUnder(
        { THREADLINE_ENV: "development", THREADLINE_SMTP_URL: `smtp://127.0.0.1:${port}` },
        waitForWarning
      )
      const text = lines.join("\n")
      expect(text).toContain("invitation mail failed")
      expect(text).toContain(mail.invitationId)
      expect(text).not.toContain("tli_")
    })
  )
})
