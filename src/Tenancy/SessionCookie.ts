/**
 * The session cookie (API.md "Authentication"): `threadline_session`, HttpOnly, SameSite=Strict, Secure unless
 * `THREADLINE_SECURE_COOKIES=false` (local development over http), Path=/, Max-Age = the session TTL. Set and cleared
 * through a pre-response handler, which the platform's wiring applies to the handler's response.
 */
import { HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { AppConfig } from "../Config.js"
import { SESSION_COOKIE } from "../Http/Auth.js"

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

export const setSessionCookie = (token: string) =>
  Effect.flatMap(AppConfig, (config) => write(token, config.sessionTtlSeconds))

export const clearSessionCookie = write("", 0)
