/**
 * Request bodies read within a size limit, for handlers that would otherwise read any size:
 * launch and login forms (readForm) and GraphQL (yoga buffers the whole body before its own
 * document limits apply).
 */
export type BodyWithin = { bytes: Buffer } | { tooLarge: string };

export async function readBodyWithin(request: Request, maxBytes: number): Promise<BodyWithin> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) return { tooLarge: `content-length ${declared} > ${maxBytes}` };
  if (!request.body) return { bytes: Buffer.alloc(0) };
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A reader that is left alone on overflow (not cancelled, not iterated with for-await):
  // cancelling destroys the underlying request and its socket, so the 413 would never be
  // sent. The caller closes the connection after its answer instead.
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) return { tooLarge: `body over ${maxBytes} bytes` };
    chunks.push(value);
  }
  return { bytes: Buffer.concat(chunks) };
}

/** The same request with its body read within the limit (GET and HEAD pass as they are). */
export async function withBodyWithin(request: Request, maxBytes: number): Promise<{ request: Request } | { tooLarge: string }> {
  if (request.method === 'GET' || request.method === 'HEAD' || !request.body) return { request };
  const body = await readBodyWithin(request, maxBytes);
  if ('tooLarge' in body) return body;
  return { request: new Request(request.url, { method: request.method, headers: request.headers, body: new Uint8Array(body.bytes) }) };
}
