/**
 * What the fetch-API adapter costs per request: the same 302 answer (a login's: Location,
 * Set-Cookie, no body) served by a bare node:http listener and through @whatwg-node/server
 * (Request, URL, Headers, Response), each in a child process so its CPU time can be read
 * apart. Alternates the two servers so that the machine's drift hits both alike.
 *
 *   npx tsx bench/adapter-cost.ts [--duration 5] [--rounds 3]
 *
 * It answers one question: would serving the LTI routes on raw node:http, without the
 * adapter, cut the server's CPU per launch noticeably? (The launch makes two requests.)
 */
import { spawn } from 'node:child_process';
import { createServer, Agent, request, type RequestListener } from 'node:http';
import { parseArgs } from 'node:util';
import { createServerAdapter } from '@whatwg-node/server';
import { cpuMs } from './driver.ts';

type Kind = 'raw' | 'adapter';
const LOCATION = `https://lms.example.org/oauth2/authorize?${'scope=openid&response_type=id_token&'.repeat(12)}`;
const COOKIE = `lti_state=${'s'.repeat(43)}; Path=/lti/apps/x/launch; HttpOnly; Secure; SameSite=None; Partitioned; Max-Age=600`;
const HEADERS = { location: LOCATION, 'set-cookie': COOKIE, 'cache-control': 'no-store', 'x-request-id': 'f'.repeat(36) };

function listener(kind: Kind): RequestListener {
  if (kind === 'raw') {
    return (req, res) => {
      // The same reads as the adapter path: the query and one header.
      new URL(req.url ?? '/', 'http://localhost').searchParams.get('iss');
      void req.headers['x-request-id'];
      res.writeHead(302, HEADERS);
      res.end();
    };
  }
  return createServerAdapter((req: Request) => {
    new URL(req.url).searchParams.get('iss');
    req.headers.get('x-request-id');
    return new Response(null, { status: 302, headers: HEADERS });
  }) as unknown as RequestListener;
}

const serving = process.argv[2] === '--serve' ? (process.argv[3] as Kind) : undefined;
if (serving) {
  const server = createServer(listener(serving));
  server.listen(0, '127.0.0.1', () => console.log((server.address() as { port: number }).port));
} else {
  const { values: args } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
  const durationMs = Number(args.duration) * 1000;
  const results: Record<Kind, number[]> = { raw: [], adapter: [] };
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const kind of ['raw', 'adapter'] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      const agent = new Agent({ keepAlive: true });
      const get = () =>
        new Promise<void>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port, path: '/lti/apps/x/login?iss=https%3A%2F%2Flms.example.org&login_hint=abc&target_link_uri=x', agent },
            (res) => res.resume().on('end', resolve),
          );
          req.on('error', reject);
          req.end();
        });
      for (let i = 0; i < 3000; i++) await get(); // warm-up: JIT
      const cpu0 = cpuMs(child.pid!);
      const deadline = performance.now() + durationMs;
      let n = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (performance.now() < deadline) {
            await get();
            n++;
          }
        }),
      );
      const usPerRequest = ((cpuMs(child.pid!) - cpu0) * 1000) / n;
      results[kind].push(usPerRequest);
      console.log(`round ${round + 1} ${kind.padEnd(7)} ${Math.round((n * 1000) / durationMs)} requests/s, server CPU ${usPerRequest.toFixed(0)} µs/request`);
      agent.destroy();
      child.kill();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`median server CPU per request: raw ${median(results.raw).toFixed(0)} µs, adapter ${median(results.adapter).toFixed(0)} µs`);
  process.exit(0);
}
