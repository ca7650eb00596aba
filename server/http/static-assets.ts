import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  file: string;
  contentType: string;
  cacheControl: string;
  cors?: boolean;
}

/**
 * Serves a few files we ship (the completion widget, the demo exercise). Read once and
 * kept: they only change with a new release, whose version is in the widget's URL.
 */
export function createStaticAssets(assets: Record<string, StaticAsset>) {
  const cache = new Map<string, Promise<Buffer | undefined>>();
  return async function serve(pathname: string, method: string): Promise<Response | undefined> {
    const asset = assets[pathname];
    if (!asset) return undefined;
    if (method !== 'GET' && method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
    let body = cache.get(asset.file);
    if (!body) {
      body = readFile(asset.file).catch(() => undefined);
      cache.set(asset.file, body);
    }
    const bytes = await body;
    if (!bytes) {
      cache.delete(asset.file);
      return new Response('Not built: run `npm run build:widget`.\n', { status: 404, headers: { 'content-type': 'text/plain' } });
    }
    return new Response(method === 'HEAD' ? null : new Uint8Array(bytes), {
      headers: {
        'content-type': asset.contentType,
        'cache-control': asset.cacheControl,
        'x-content-type-options': 'nosniff',
        ...(asset.cors ? { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' } : {}),
      },
    });
  };
}

export const projectFile = (relative: string): string => fileURLToPath(new URL(`../../${relative}`, import.meta.url));
