/**
 * Alert evaluation, delivery and rule changes run only inside a unit of work: each requires `RequestContext`, so
 * calling one without a context is a type error. Checked by `tsc -p test/types`; an unused @ts-expect-error fails.
 */
import { Effect } from "effect"
import type { RuleInput } from "../../src/Alerts/AlertRule.js"
import type { Deliveries } from "../../src/Alerts/Deliver.js"
import type { AlertEvaluator, Evaluation } from "../../src/Alerts/Evaluate.js"
import type { Rules } from "../../src/Alerts/Rules.js"
import type { QueueError } from "../../src/Queue/Producer.js"
import { RequestContext } from "../../src/RequestContext.js"

declare const evaluator: AlertEvaluator
declare const deliveries: Deliveries
declare const rules: Rules
declare const input: RuleInput

// @ts-expect-error evaluating a rule without a RequestContext
void Effect.runPromise(evaluator.evaluate("alr_x"))
// @ts-expect-error it does not claim to need nothing
export const noContext: Effect.Effect<Evaluation, QueueError, never> = evaluator.evaluate("alr_x")
// exactly RequestContext: nothing else is left for the caller to provide
export const withContext: Effect.Effect<Evaluation, QueueError, RequestContext> = evaluator.evaluate("alr_x")
// @ts-expect-error the tick also runs in a (system) unit of work
void Effect.runPromise(evaluator.tick)
// @ts-expect-error a delivery attempt without a RequestContext
void Effect.runPromise(deliveries.deliver("whd_x"))
// @ts-expect-error a replay without a RequestContext
void Effect.runPromise(Effect.either(deliveries.replay("whd_x")))
// @ts-expect-error a rule change without a RequestContext
void Effect.runPromise(Effect.either(rules.create(input)))

// With a context the same calls compile: the errors above are about the context only.
const ctx = RequestContext.system("types")
void Effect.runPromise(Effect.either(evaluator.evaluate("alr_x")).pipe(RequestContext.withContext(ctx)))
void Effect.runPromise(evaluator.tick.pipe(Effect.either, RequestContext.withContext(ctx)))
void Effect.runPromise(deliveries.deliver("whd_x").pipe(Effect.either, RequestContext.withContext(ctx)))
void Effect.runPromise(Effect.either(rules.create(input)).pipe(RequestContext.withContext(ctx)))
