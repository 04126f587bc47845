/** A tiny Content-Length framed JSON-RPC server for tests that must script the other side. */

import * as net from "node:net";

export type Json = Record<string, unknown>;

/** Serve Content-Length framed JSON-RPC on 127.0.0.1:0, answering with `handle`. */
export function frameServer(
  handle: (message: Json, send: (reply: Json) => void, end: () => void) => void,
): net.Server {
  return net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    const send = (reply: Json): void => {
      const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...reply }), "utf8");
      socket.write(`Content-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    };
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const header = buffer.subarray(0, end).toString("ascii");
        const length = Number(/Content-Length: *(\d+)/i.exec(header)?.[1]);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString("utf8");
        buffer = buffer.subarray(end + 4 + length);
        handle(JSON.parse(body) as Json, send, () => socket.end());
      }
    });
    socket.on("error", () => undefined);
  });
}

export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}
