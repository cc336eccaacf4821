/**
 * pino-shaped JSON log lines. The logger reads the RequestContext from the fiber that logs, so every line inside a
 * unit of work carries its request id and tenant ids without anyone annotating by hand.
 */
import { hostname } from "node:os"
import { Cause, HashMap, Layer, Logger, LogLevel, Option } from "effect"
import { RequestContext } from "./RequestContext.js"

const pinoLevel = (level: LogLevel.LogLevel): number => {
  switch (level._tag) {
    case "All":
    case "Trace":
      return 10
    case "Debug":
      return 20
    case "Info":
      return 30
    case "Warning":
      return 40
    case "Error":
      return 50
    case "Fatal":
      return 60
    case "None":
      return 30
  }
}

const host = hostname()

/** Builds the JSON object of one line; exported for tests that capture lines without touching stdout. */
export const toLine = (options: Logger.Logger.Options<unknown>): Record<string, unknown> => {
  const messages = Array.isArray(options.message) ? (options.message as ReadonlyArray<unknown>) : [options.message]
  const line: Record<string, unknown> = {
    level: pinoLevel(options.logLevel),
    time: options.date.getTime(),
    pid: process.pid,
    hostname: host
  }
  for (const [key, value] of HashMap.toEntries(options.annotations)) line[key] = value
  const ctx = RequestContext.fromFiberRefs(options.context)
  if (Option.isSome(ctx)) Object.assign(line, RequestContext.logAnnotations(ctx.value))
  const [first, ...rest] = messages
  for (const extra of rest) if (extra !== null && typeof extra === "object") Object.assign(line, extra)
  line.msg = typeof first === "string" ? first : JSON.stringify(first)
  if (!Cause.isEmpty(options.cause)) line.err = Cause.pretty(options.cause)
  return line
}

export const jsonLogger = Logger.make<unknown, string>((options) => JSON.stringify(toLine(options)))

/** Replaces the default logger; pair with `NodeRuntime.runMain({ disablePrettyLogger: true })`. */
export const JsonLoggerLive: Layer.Layer<never> = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleLog(jsonLogger)
)
