/**
 * The session cookie (API.md "Authentication"): `threadline_session`, HttpOnly, SameSite=Strict, Secure unless
 * `THREADLINE_SECURE_COOKIES=false` (local development over http), Path=/, Max-Age = the session's lifetime. Set and
 * cleared through a pre-response handler, which the platform's wiring applies to the handler's response.
 */
import { HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import { AppConfig } from "../Config.js"
import { SESSION_COOKIE } from "../Http/Auth.js"
import { TenancyConfig } from "./TenancyConfig.js"

const write = (value: string, maxAgeSeconds: number) =>
  Effect.flatMap(AppConfig, (config) =>
    HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(
        HttpServerResponse.unsafeSetCookie(response, SESSION_COOKIE, value, {
          httpOnly: true,
          sameSite: "strict",
          secure: config.secureCookies,
          path: "/",
          maxAge: `${maxAgeSeconds} seconds`
        })
      )
    )
  )

/** Max-Age: the sliding TTL, or the absolute lifetime when that is shorter (the session ends no later). */
export const setSessionCookie = (token: string) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const tenancy = yield* Effect.serviceOption(TenancyConfig)
    const absolute = Option.match(tenancy, { onNone: () => Infinity, onSome: (t) => t.sessionAbsoluteTtlSeconds })
    return yield* write(token, Math.min(config.sessionTtlSeconds, absolute))
  })

export const clearSessionCookie = write("", 0)
