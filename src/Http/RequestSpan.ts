/**
 * The server span of one request, as the parent span of its fiber. It continues the request's trace (the
 * traceparent RequestState decided on), so spans opened by handlers (`Effect.fn`, `Effect.withSpan`) belong to the
 * caller's trace; and the router reports the matched route template on the parent span (`http.route`, the hook the
 * platform's tracer middleware uses), which is how the access log learns the template without per-route code.
 * Attributes other than the route are not kept: nothing exports this span, it only anchors the trace.
 */
import { type Context, type Exit, Option, type Tracer } from "effect"
import { Traceparent } from "../RequestContext.js"
import type { RequestStateData } from "./RequestState.js"

export class RequestSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly name = "http.server"
  readonly kind = "server"
  readonly sampled: boolean
  readonly traceId: string
  readonly spanId: string
  readonly parent = Option.none<Tracer.AnySpan>()
  readonly links: ReadonlyArray<Tracer.SpanLink> = []
  readonly attributes = new Map<string, unknown>()
  status: Tracer.SpanStatus

  constructor(
    private readonly state: RequestStateData,
    readonly context: Context.Context<never>,
    startTime: bigint
  ) {
    // traceparent: 00-<trace id>-<span id>-<flags>, already validated or minted by the wiring
    const tp = state.traceparent
    this.traceId = Traceparent.traceIdOf(tp)
    this.spanId = Traceparent.spanIdOf(tp)
    this.sampled = Traceparent.isSampled(tp)
    this.status = { _tag: "Started", startTime }
  }

  attribute(key: string, value: unknown): void {
    if (key === "http.route" && typeof value === "string") this.state.route = value
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  event(): void {}
  addLinks(): void {}
}
