/** Requests written byte for byte on a socket, for header values `fetch` refuses to send. */
import { connect } from "node:net"

export const rawRequest = (port: number, request: string | Buffer): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")))
    socket.on("error", reject)
    socket.write(request)
  })

/** Status, lower-cased headers and body of a raw HTTP/1.1 response. */
export const parseRaw = (raw: string) => {
  const [head = "", ...rest] = raw.split("\r\n\r\n")
  const [statusLine = "", ...lines] = head.split("\r\n")
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const i = line.indexOf(":")
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") }
}
