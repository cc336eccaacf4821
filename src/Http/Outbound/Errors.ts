/**
 * Outbound failures a caller can act on. They name the destination by host (or origin), never by full URL: webhook
 * URLs often carry a token in their path or query.
 */
import { Data } from "effect"

/** The destination is not one this process may reach (SSRF guard), or the URL is not an http(s) URL. */
export class DestinationRefused extends Data.TaggedError("DestinationRefused")<{
  readonly host: string
  /** The address that was refused, when the refusal came from resolving the host. */
  readonly address: string | null
  /** The forbidden range (`loopback`, `private`, `linkLocal`, …) or why the URL itself is refused. */
  readonly reason: string
}> {
  override get message() {
    const at = this.address === null || this.address === this.host ? "" : ` resolves to ${this.address}`
    return `destination refused: ${this.host}${at} (${this.reason})`
  }
}

/** No response head within the configured time (connecting, sending and waiting for the status line). */
export class OutboundTimeout extends Data.TaggedError("OutboundTimeout")<{
  readonly origin: string
  readonly timeoutMs: number
}> {
  override get message() {
    return `no response from ${this.origin} within ${this.timeoutMs} ms`
  }
}
