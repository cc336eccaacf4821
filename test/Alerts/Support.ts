/**
 * Fixtures for the alert tests: a loopback webhook receiver with scripted answers per path, the alert services on
 * a per-file database and queue prefix (real Postgres, real Redis), workers for the three alert jobs, and a tenant.
 */
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Duration, Effect, Layer, Option } from "effect"
import { AlertsTick, DeliverWebhook, EvaluateAlert } from "../../src/Alerts/AlertJobs.js"
import { AlertsLive, handlers } from "../../src/Alerts/AlertsLive.js"
import { DeliveryBackoff } from "../../src/Alerts/Deliver.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { RequestContext } from "../../src/RequestContext.js"
import { tenant } from "../Sql/Fixtures.js"
import { TestDatabase } from "../support/Database.js"
import { type Line, queueLayer } from "../Queue/Support.js"

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** A receiver on 127.0.0.1: answers each path with its scripted statuses in order, then 200; status 0 never answers. */
export const receiver = Effect.acquireRelease(
  Effect.async<{
    readonly base: string
    readonly received: Array<Received>
    readonly script: Map<string, Array<number>>
    close: () => Promise<void>
  }>((resume) => {
    const received: Array<Received> = []
    const script = new Map<string, Array<number>>()
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const path = req.url ?? "/"
        received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
        const status = script.get(path)?.shift() ?? 200
        if (status === 0) return
        res.writeHead(status, { "content-type": "text/plain" }).end(`answer ${status}`)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(
        Effect.succeed({
          base: `http://127.0.0.1:${port}`,
          received,
          script,
          close: () =>
            new Promise<void>((r) => {
              server.close(() => r())
              // the hanging requests of the timeout test would keep the server open
              server.closeAllConnections()
            })
        })
      )
    })
  }),
  (r) => Effect.promise(r.close)
)

/** Retries after 20 ms, 20 ms; then dead (3 attempts in all), so the tests never wait for the real schedule. */
export const SHORT_STEPS = 2
export const shortBackoff = {
  nextDelay: (attemptsMade: number) =>
    attemptsMade <= SHORT_STEPS ? Option.some(Duration.millis(20)) : Option.none<Duration.Duration>()
}

export const alertsLayer = (file: string, prefix: string, lines: Array<Line>) =>
  Layer.mergeAll(AlertsLive, OrganizationsRepo.Default, ProjectsRepo.Default).pipe(
    Layer.provideMerge(
      Layer.mergeAll(TestDatabase.layer(file), queueLayer(prefix, lines, { THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "true" }))
    )
  )

/** Workers for the three alert jobs on the test's runtime (log capture, short backoff). */
export const startWorkers = Effect.all([
  Consumer.make(AlertsTick, handlers.tick),
  Consumer.make(EvaluateAlert, handlers.evaluate),
  Consumer.make(DeliverWebhook, handlers.deliver)
]).pipe(Effect.provideService(DeliveryBackoff, shortBackoff))

/** An organization with one project, created under its owner's context. */
export const seedTenant = (name: string) =>
  Effect.gen(function* () {
    const t = tenant(name)
    yield* Effect.gen(function* () {
      yield* (yield* OrganizationsRepo).insert({ slug: t.slug, name: `Org ${name}` })
      yield* (yield* ProjectsRepo).insert({ id: t.project, name: `Project ${name}` })
    }).pipe(RequestContext.withContext(t.userCtx))
    return t
  })
