/**
 * AGS line items: one per resource link, numbered as Open edX numbers them, with a query
 * string so tools must append `/scores` to the path, not to the end of the URL.
 */
import { PLATFORM_PATH } from './constants.ts';

/** A line item's URL and the scores URL derived from it. */
export interface LineItem {
  url: string;
  resourceLinkId: string;
}

export interface LineItemRegistry {
  readonly lineitemsUrl: string;
  /** The line item for a resource link, created on first use. */
  urlFor(resourceLinkId: string): string;
  /** The line item a scores URL belongs to (path `<lineitem path>/scores`, same query), if any. */
  findByScoresUrl(url: URL): LineItem | undefined;
}

function sameQuery(a: URLSearchParams, b: URLSearchParams): boolean {
  const sorted = (params: URLSearchParams) => [...params].map(([k, v]) => `${k}=${v}`).sort().join('&');
  return sorted(a) === sorted(b);
}

export function createLineItemRegistry(issuer: string): LineItemRegistry {
  const lineitemsUrl = `${issuer}${PLATFORM_PATH.lineitems}`;
  const byResourceLink = new Map<string, LineItem>();
  const byNumber = new Map<string, LineItem>();
  return {
    lineitemsUrl,
    urlFor(resourceLinkId) {
      let item = byResourceLink.get(resourceLinkId);
      if (!item) {
        const number = String(byResourceLink.size + 7);
        const query = new URLSearchParams({ resource_link_id: resourceLinkId });
        item = { url: `${lineitemsUrl}/${number}?${query}`, resourceLinkId };
        byResourceLink.set(resourceLinkId, item);
        byNumber.set(number, item);
      }
      return item.url;
    },
    findByScoresUrl(url) {
      const prefix = `${PLATFORM_PATH.lineitems}/`;
      if (!url.pathname.startsWith(prefix) || !url.pathname.endsWith('/scores')) return undefined;
      const number = url.pathname.slice(prefix.length, -'/scores'.length);
      const item = byNumber.get(number);
      if (!item || !sameQuery(new URL(item.url).searchParams, url.searchParams)) return undefined;
      return item;
    },
  };
}
