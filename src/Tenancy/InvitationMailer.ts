/**
 * Hands an invitation's accept link to the invitee, never blocking or failing the API answer. With
 * `THREADLINE_SMTP_URL` the link is mailed (nodemailer) by a background fiber of this service (at most 4 at once,
 * at most 1,000 waiting; failures are logged without the link); without it, development logs the link and every
 * other environment keeps it out of the logs: the inviter has it in the creation reply.
 */
import { Effect, FiberSet, Option, Redacted } from "effect"
import { createTransport } from "nodemailer"
import { AppConfig } from "../Config.js"

export interface InvitationMail {
  readonly invitationId: string
  readonly to: string
  readonly organizationName: string
  readonly role: string
  readonly acceptUrl: Redacted.Redacted<string>
  readonly expiresAt: Date
}

const MAX_WAITING = 1_000
const CONCURRENCY = 4

/** The error's code and first line only: nodemailer errors may carry the SMTP conversation. */
const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return "unknown error"
  const code = (error as { readonly code?: unknown }).code
  return `${typeof code === "string" ? `${code}: ` : ""}${error.message.split("\n")[0]?.slice(0, 200) ?? ""}`
}

export class InvitationMailer extends Effect.Service<InvitationMailer>()("Tenancy/InvitationMailer", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const fibers = yield* FiberSet.make()
    const slots = yield* Effect.makeSemaphore(CONCURRENCY)
    const transport = yield* Option.match(config.smtpUrl, {
      onNone: () => Effect.succeed(undefined),
      onSome: (url) =>
        Effect.acquireRelease(
          Effect.sync(() => createTransport(Redacted.value(url))),
          (t) => Effect.sync(() => t.close())
        )
    })

    const mail = (m: InvitationMail) =>
      Effect.tryPromise(() =>
        transport!.sendMail({
          from: config.smtpFrom,
          to: m.to,
          subject: "Your invitation to Threadline",
          text: [
            `You have been invited to join ${m.organizationName} on Threadline as ${m.role}.`,
            "",
            "Accept the invitation (sign in or register first):",
            Redacted.value(m.acceptUrl),
            "",
            `The link works once and expires at ${m.expiresAt.toISOString()}.`
          ].join("\n")
        })
      ).pipe(
        slots.withPermits(1),
        Effect.tap(() => Effect.logInfo("invitation mail sent")),
        Effect.catchAll((e) => Effect.logWarning("invitation mail failed", { error: describe(e.error) })),
        Effect.annotateLogs({ invitationId: m.invitationId })
      )

    /** Returns at once; the mail (if any) goes out in the background. */
    const deliver = (m: InvitationMail): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (transport !== undefined) {
          if ((yield* FiberSet.size(fibers)) >= MAX_WAITING) {
            return yield* Effect.logWarning("invitation mail dropped: too many waiting", {
              invitationId: m.invitationId
            })
          }
          yield* FiberSet.run(fibers, mail(m))
          return
        }
        if (config.env === "development") {
          yield* Effect.logInfo("invitation link (development only; set THREADLINE_SMTP_URL to mail it)", {
            invitationId: m.invitationId,
            acceptUrl: Redacted.value(m.acceptUrl)
          })
        }
      })

    return { deliver } as const
  })
}) {}
