/**
 * Settings of the tenancy area that are not the HTTP platform's: the absolute session lifetime, how many
 * organizations a user may belong to, how many invitations an organization may have, and the scrypt cost of new password hashes. Read once from the environment.
 */
import { Config, Effect } from "effect"

export class TenancyConfig extends Effect.Service<TenancyConfig>()("Tenancy/TenancyConfig", {
  effect: Effect.gen(function* () {
    return {
      /** A session ends this long after login however often it is used (the sliding TTL applies within it). */
      sessionAbsoluteTtlSeconds: yield* Config.integer("THREADLINE_SESSION_ABSOLUTE_TTL_SECONDS").pipe(
        Config.withDefault(30 * 86_400),
        Config.validate({ message: "must be at least 60", validation: (n) => n >= 60 })
      ),
      /** Organizations a user may belong to, those they created included. */
      maxOrganizationsPerUser: yield* Config.integer("THREADLINE_MAX_ORGANIZATIONS_PER_USER").pipe(
        Config.withDefault(20),
        Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 })
      ),
      /** Pending (not accepted, revoked or expired) invitations an organization may have at once. */
      maxPendingInvitations: yield* Config.integer("THREADLINE_MAX_PENDING_INVITATIONS").pipe(
        Config.withDefault(100),
        Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 })
      ),
      /** Invitations an organization may create in any hour (revoked ones count: each may have sent a mail). */
      invitationsPerHour: yield* Config.integer("THREADLINE_INVITATIONS_PER_HOUR").pipe(
        Config.withDefault(100),
        Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 })
      ),
      /** log2 of scrypt's N for new hashes (and for upgrading older ones at login). */
      scryptLogN: yield* Config.integer("THREADLINE_PASSWORD_SCRYPT_LOG_N").pipe(
        Config.withDefault(17),
        Config.validate({ message: "must be between 14 and 20", validation: (n) => n >= 14 && n <= 20 })
      )
    } as const
  }).pipe(Effect.orDie)
}) {}
