/**
 * Outbound HTTP for admin-supplied URLs (platform keysets, token and score endpoints):
 * a timeout, a response-size cap and no redirects, so a slow or hostile endpoint cannot
 * hold a request or fill memory. Which addresses may be reached is decided at connect
 * time by the `FetchLike` itself (outbound-fetch.ts).
 */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class OutboundError extends Error {
  override name = 'OutboundError';
  constructor(
    readonly code:
      | 'ERR_OUTBOUND_TIMEOUT'
      | 'ERR_OUTBOUND_TOO_LARGE'
      | 'ERR_OUTBOUND_NETWORK'
      | 'ERR_OUTBOUND_STATUS'
      | 'ERR_OUTBOUND_FORBIDDEN_ADDRESS',
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface LimitedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
}

/** Fetches and reads the whole body as text within the limits. */
export async function fetchTextLimited(
  fetchImpl: FetchLike,
  url: string,
  init: RequestInit,
  { timeoutMs, maxBytes }: LimitedFetchOptions,
): Promise<{ status: number; headers: Headers; text: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetchImpl(url, { ...init, redirect: 'manual', signal });
  } catch (err) {
    // A refused address (or another classified failure) keeps its code.
    if (err instanceof OutboundError) throw err;
    if (signal.aborted) throw new OutboundError('ERR_OUTBOUND_TIMEOUT', `no answer within ${timeoutMs} ms`, undefined, { cause: err });
    throw new OutboundError('ERR_OUTBOUND_NETWORK', `request failed: ${(err as Error).message}`, undefined, { cause: err });
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new OutboundError('ERR_OUTBOUND_TOO_LARGE', `response of ${declared} bytes exceeds ${maxBytes}`, response.status);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          await response.body.cancel().catch(() => {});
          throw new OutboundError('ERR_OUTBOUND_TOO_LARGE', `response exceeds ${maxBytes} bytes`, response.status);
        }
        chunks.push(chunk);
      }
    }
  } catch (err) {
    if (err instanceof OutboundError) throw err;
    if (signal.aborted) throw new OutboundError('ERR_OUTBOUND_TIMEOUT', `no complete answer within ${timeoutMs} ms`, response.status, { cause: err });
    throw new OutboundError('ERR_OUTBOUND_NETWORK', `reading the response failed: ${(err as Error).message}`, response.status, { cause: err });
  }
  return { status: response.status, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') };
}
