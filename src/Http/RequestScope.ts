/**
 * The Scope of one request, created on first use. Handlers may use the request's Scope (the platform provides one
 * to every route), but almost none do, and making and closing a real Scope for every request was the largest
 * single cost of serving one (about half of the wiring's CPU per request, docs/performance.md). This one is an
 * empty shell until a finalizer or child scope is asked for; then it makes the real Scope and delegates to it.
 * `close` closes the real one if there is one; the wiring calls it once the request's fiber has ended.
 */
import { Effect, type ExecutionStrategy, type Exit, Scope } from "effect"
import { pipeArguments } from "effect/Pipeable"

export class RequestScope implements Scope.CloseableScope {
  readonly [Scope.ScopeTypeId]: Scope.ScopeTypeId = Scope.ScopeTypeId
  readonly [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId = Scope.CloseableScopeTypeId
  private real: Scope.CloseableScope | undefined = undefined

  constructor(readonly strategy: ExecutionStrategy.ExecutionStrategy) {}

  private get scope(): Effect.Effect<Scope.CloseableScope> {
    return this.real !== undefined
      ? Effect.succeed(this.real)
      : Effect.map(Scope.make(this.strategy), (made) => (this.real ??= made))
  }

  fork(strategy: ExecutionStrategy.ExecutionStrategy): Effect.Effect<Scope.CloseableScope> {
    return Effect.flatMap(this.scope, (scope) => Scope.fork(scope, strategy))
  }

  addFinalizer(finalizer: Scope.Scope.Finalizer): Effect.Effect<void> {
    return Effect.flatMap(this.scope, (scope) => Scope.addFinalizerExit(scope, finalizer))
  }

  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => (this.real === undefined ? Effect.void : Scope.close(this.real, exit)))
  }

  /** Whether anything was ever added; the wiring skips the closing step when not. */
  get used(): boolean {
    return this.real !== undefined
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}
