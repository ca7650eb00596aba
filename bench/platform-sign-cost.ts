/**
 * What the benchmark's simulated platform spends per launch on signing the id_token (RS256,
 * 2048-bit, as Open edX), measured apart from everything else: that CPU shares the machine's
 * cores with our server during `npm run bench`, so it bounds the latency figures there.
 *
 *   npx tsx bench/platform-sign-cost.ts
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';

const N = 2000;
const CONCURRENCY = 8;

async function measure(label: string, op: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 200; i++) await op(); // warm-up
  const cpu0 = process.cpuUsage(); // includes the libuv threads WebCrypto runs on
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < N / CONCURRENCY; i++) await op();
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  console.log(`${label}: ${((cpu.user + cpu.system) / N / 1000).toFixed(3)} ms CPU per signature (${N}, ${CONCURRENCY} at a time)`);
}

const { privateKey } = await generateKeyPair('RS256');
await measure('jose SignJWT, RS256 (WebCrypto; what test/helpers/platform does)', () =>
  new SignJWT({ sub: 'learner', nonce: 'n' }).setProtectedHeader({ alg: 'RS256', kid: 'k' }).sign(privateKey),
);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
await measure('node:crypto sign, RSA-SHA256 (the private-key operation alone)', async () => sign('sha256', Buffer.from('header.payload'), rsa.privateKey));
