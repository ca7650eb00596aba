/**
 * Reads a request body up to a size limit before a handler that would read all of it (yoga
 * buffers the whole GraphQL body before its own document limits apply).
 */
export type LimitedBody = { request: Request } | { tooLarge: string };

export async function withBodyWithin(request: Request, maxBytes: number): Promise<LimitedBody> {
  if (request.method === 'GET' || request.method === 'HEAD' || !request.body) return { request };
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) return { tooLarge: `content-length ${declared} > ${maxBytes}` };
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Not cancelled on overflow: that would destroy the socket before the 413 is sent (the
  // caller closes the connection after its answer instead), as in readForm.
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) return { tooLarge: `body over ${maxBytes} bytes` };
    chunks.push(value);
  }
  return { request: new Request(request.url, { method: request.method, headers: request.headers, body: Buffer.concat(chunks) }) };
}
