/**
 * Test-only routes mounted beside the real groups (same Api id, so the real group layers serve them too): one per
 * authentication tag, organization routes through OrgAccess, a validated payload, a raw body reader and routes
 * that end in each kind of error the pipeline maps.
 */
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServerResponse } from "@effect/platform"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option, Schema } from "effect"
import { Api } from "../../../src/Http/Api.js"
import {
  ApiKeyAuthentication,
  Authentication,
  principal,
  ReadAuthentication,
  SessionAuthentication
} from "../../../src/Http/Auth.js"
import { Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized } from "../../../src/Http/Errors.js"
import { OrgAccess } from "../../../src/Http/OrgAccess.js"
import * as RequestId from "../../../src/Http/RequestId.js"
import { RequestContext } from "../../../src/RequestContext.js"

const Whoami = Schema.Struct({
  kind: Schema.String,
  organizationId: Schema.String,
  projectId: Schema.NullOr(Schema.String),
  userId: Schema.NullOr(Schema.String),
  apiKeyId: Schema.NullOr(Schema.String),
  requestId: Schema.String,
  traceparent: Schema.optional(Schema.String),
  role: Schema.optional(Schema.String)
})
type Whoami = typeof Whoami.Type

const whoami = (role?: string) =>
  Effect.gen(function* () {
    const ctx = yield* RequestContext
    const p = yield* principal
    const out: Whoami = {
      kind: Option.match(p, { onNone: () => "none", onSome: (x) => x._tag }),
      organizationId: ctx.organizationId,
      projectId: ctx.projectId,
      userId: ctx.userId,
      apiKeyId: ctx.apiKeyId,
      requestId: ctx.requestId,
      ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
      ...(role !== undefined ? { role } : {})
    }
    return out
  })

const me = <N extends string>(name: N, path: `/${string}`) => HttpApiEndpoint.get(name, path).addSuccess(Whoami)

export class ProbeAny extends HttpApiGroup.make("probeAny")
  .add(me("any", "/probe/any"))
  .add(me("anyBoom", "/probe/any/boom"))
  .middleware(Authentication) {}
export class ProbeKeys extends HttpApiGroup.make("probeKeys")
  .add(me("keys", "/probe/keys"))
  .middleware(ApiKeyAuthentication) {}
export class ProbeRead extends HttpApiGroup.make("probeRead")
  .add(me("read", "/probe/read"))
  .middleware(ReadAuthentication) {}
export class ProbeSession extends HttpApiGroup.make("probeSession")
  .add(me("session", "/probe/session"))
  .add(
    HttpApiEndpoint.get("org", "/probe/orgs/:org")
      .setPath(Schema.Struct({ org: Schema.String }))
      .addSuccess(Whoami)
      .addError(NotFound)
      .addError(Forbidden)
  )
  .add(
    HttpApiEndpoint.del("adminAction", "/probe/orgs/:org/settings")
      .setPath(Schema.Struct({ org: Schema.String }))
      .addSuccess(Whoami)
      .addError(NotFound)
      .addError(Forbidden)
  )
  .middleware(SessionAuthentication) {}

export const FailKind = Schema.Literal(
  "conflict",
  "boom",
  "sql",
  "redis",
  "quota",
  "forbidden",
  "notfound",
  "unauthorized",
  "slow"
)

export class ProbeOpen extends HttpApiGroup.make("probeOpen")
  .add(
    HttpApiEndpoint.post("echo", "/probe/echo")
      // errors: "all" makes the 400 list every failing path, not only the first (README.md)
      .setPayload(
        Schema.Struct({ name: Schema.NonEmptyString, count: Schema.Int }).annotations({
          parseOptions: { errors: "all" }
        })
      )
      .addSuccess(Schema.Struct({ name: Schema.String, count: Schema.Number }))
  )
  .add(HttpApiEndpoint.post("upload", "/probe/upload").addSuccess(Schema.Struct({ bytes: Schema.Number })))
  .add(HttpApiEndpoint.get("scoped", "/probe/scoped").addSuccess(Schema.Struct({ requestId: Schema.String })))
  .add(
    HttpApiEndpoint.get("fail", "/probe/fail/:kind")
      .setPath(Schema.Struct({ kind: FailKind }))
      .addSuccess(Schema.Struct({ ok: Schema.Boolean }))
      .addError(Conflict)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Unauthorized)
      .addError(TooManyRequests)
  ) {}

export class TestApi extends Api.add(ProbeAny).add(ProbeKeys).add(ProbeRead).add(ProbeSession).add(ProbeOpen) {}

/** Request ids whose request Scope was closed (a finalizer registered by the `scoped` probe ran). */
export const finalized: Array<string> = []

const failWith = (kind: typeof FailKind.Type) => {
  switch (kind) {
    case "conflict":
      return Effect.fail(new Conflict({ message: "slug already taken" }))
    case "forbidden":
      return Effect.fail(new Forbidden({ message: "not allowed" }))
    case "notfound":
      return Effect.fail(new NotFound({ message: "no such thing" }))
    case "unauthorized":
      return Effect.fail(new Unauthorized({ message: "who are you" }))
    case "quota":
      return Effect.fail(new TooManyRequests({ message: "slow down", retryAfterSeconds: 6.2 }))
    case "boom":
      return Effect.die(new Error("secret internal detail: password=hunter2"))
    case "sql":
      return Effect.die(new SqlError({ cause: new Error("connect ECONNREFUSED 127.0.0.1:5"), message: "connect" }))
    case "redis":
      return Effect.die(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6"), { code: "ECONNREFUSED" }))
    case "slow":
      return Effect.as(Effect.sleep("10 seconds"), { ok: true })
  }
}

export const ProbeLive = Layer.mergeAll(
  HttpApiBuilder.group(TestApi, "probeAny", (h) =>
    h.handle("any", () => whoami()).handle("anyBoom", () => Effect.die(new Error("authenticated defect")))
  ),
  HttpApiBuilder.group(TestApi, "probeKeys", (h) => h.handle("keys", () => whoami())),
  HttpApiBuilder.group(TestApi, "probeRead", (h) => h.handle("read", () => whoami())),
  HttpApiBuilder.group(TestApi, "probeSession", (h) =>
    h
      .handle("session", () => whoami())
      .handle("org", ({ path }) => OrgAccess.run(path.org, "member", (a) => whoami(a.role)))
      .handle("adminAction", ({ path }) => OrgAccess.run(path.org, "admin", (a) => whoami(a.role)))
  ),
  HttpApiBuilder.group(TestApi, "probeOpen", (h) =>
    h
      .handle("echo", ({ payload }) => Effect.succeed(payload))
      .handleRaw("upload", ({ request }) =>
        // Unread bodies fail as defects, as the platform's payload decoding does; the pipeline maps them.
        Effect.map(Effect.orDie(request.arrayBuffer), (b) => HttpServerResponse.unsafeJson({ bytes: b.byteLength }))
      )
      .handle("fail", ({ path }) => failWith(path.kind))
      .handle("scoped", () =>
        Effect.gen(function* () {
          const requestId = yield* RequestId.current
          yield* Effect.addFinalizer(() => Effect.sync(() => finalized.push(requestId)))
          return { requestId }
        })
      )
  )
)
