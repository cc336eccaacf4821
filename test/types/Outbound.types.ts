/**
 * Outbound calls need a unit of work: the client adds headers read from RequestContext, so sending without one is a
 * type error. Checked by `tsc -p test/types`; an unused @ts-expect-error fails the check.
 */
import { HttpClientRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import type { WebhookPayload } from "../../src/Alerts/WebhookPayload.js"
import type { WebhookSender } from "../../src/Alerts/WebhookSender.js"
import type { Outbound } from "../../src/Http/Outbound.js"
import { RequestContext } from "../../src/RequestContext.js"

declare const client: Outbound["Type"]
declare const sender: WebhookSender
declare const payload: WebhookPayload

// @ts-expect-error an outbound GET without a RequestContext
void Effect.runPromise(client.get("https://hooks.example.com/"))
// @ts-expect-error an outbound POST without a RequestContext
void Effect.runPromise(client.post("https://hooks.example.com/", { body: undefined }))
// @ts-expect-error execute without a RequestContext
void Effect.runPromise(client.execute(HttpClientRequest.get("https://hooks.example.com/")))
// @ts-expect-error a webhook attempt without a RequestContext
void Effect.runPromise(sender.send({ url: "https://hooks.example.com/", secret: Redacted.make("s"), payload }))
// @ts-expect-error the client's calls do not claim to need nothing
export const noContext: Effect.Effect<unknown, unknown, never> = client.get("https://hooks.example.com/")

// With the context provided, the same calls compile: the errors above are about the context only.
const ctx = RequestContext.system("types")
void Effect.runPromise(client.get("https://hooks.example.com/").pipe(Effect.either, RequestContext.withContext(ctx)))
void Effect.runPromise(
  sender
    .send({ url: "https://hooks.example.com/", secret: Redacted.make("s"), payload })
    .pipe(RequestContext.withContext(ctx))
)
