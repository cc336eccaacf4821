/**
 * Compile-time guarantees: every way of running or serving an Effect that needs RequestContext without providing it
 * is a type error. Checked by `npm run typecheck` (tsc -p test/types); an unused @ts-expect-error fails the build.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { it } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime, Runtime } from "effect"
import * as AlsBridge from "../../src/AlsBridge.js"
import { RequestContext } from "../../src/RequestContext.js"

const needsContext: Effect.Effect<string, never, RequestContext> = Effect.map(RequestContext, (c) => c.requestId)

// @ts-expect-error Effect.runPromise without a RequestContext
void Effect.runPromise(needsContext)
// @ts-expect-error Effect.runPromiseExit without a RequestContext
void Effect.runPromiseExit(needsContext)
// @ts-expect-error Effect.runSync without a RequestContext
Effect.runSync(needsContext)
// @ts-expect-error Effect.runFork without a RequestContext
Effect.runFork(needsContext)
// @ts-expect-error Runtime.runPromise with the default runtime
void Runtime.runPromise(Runtime.defaultRuntime)(needsContext)
// @ts-expect-error Runtime.runFork with the default runtime
Runtime.runFork(Runtime.defaultRuntime)(needsContext)
// @ts-expect-error NodeRuntime.runMain without a RequestContext
NodeRuntime.runMain(needsContext)

const managed = ManagedRuntime.make(Layer.empty)
// @ts-expect-error a ManagedRuntime whose layer does not provide RequestContext
void managed.runPromise(needsContext)

const layerNeedingContext = Layer.effectDiscard(needsContext)
// @ts-expect-error Layer.launch of a layer that needs RequestContext
void Effect.runPromise(Layer.launch(layerNeedingContext))

// @ts-expect-error a test that forgets to provide the context
it.effect("forgot the context", () => needsContext)

// @ts-expect-error AlsBridge.runEffect with a runtime that lacks another requirement the effect has
void AlsBridge.runEffect(Effect.zip(needsContext, Effect.context<"Other">()), Runtime.defaultRuntime)

// An HTTP API whose handler reads the context but whose group has no middleware providing it
class Group extends HttpApiGroup.make("g").add(HttpApiEndpoint.get("whoami", "/whoami")) {}
class Api extends HttpApi.make("api").add(Group) {}
const GroupLive = HttpApiBuilder.group(Api, "g", (handlers) =>
  handlers.handle("whoami", () => Effect.asVoid(needsContext))
)
// @ts-expect-error serving the API without providing RequestContext
export const ApiLive: Layer.Layer<HttpApi.Api> = HttpApiBuilder.api(Api).pipe(Layer.provide(GroupLive))

// Providing it is accepted, so the errors above are about the context and nothing else.
void Effect.runPromise(needsContext.pipe(RequestContext.withContext(RequestContext.system("types"))))
void Effect.runPromise(Effect.provide(needsContext, RequestContext.layer(RequestContext.system("types"))))
