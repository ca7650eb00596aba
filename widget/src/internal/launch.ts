/**
 * The launch an exercise page was opened with: the credential that lets it report completion,
 * and the server to report to. The server hands both over in the URL fragment
 * (`#lti_launch=…&lti_server=…`, never sent to any server), and the page keeps them in
 * sessionStorage so that a reload in the same tab still works.
 */
export interface Launch {
  credential: string;
  /** Origin plus base path, no trailing slash (e.g. `https://tool.example.org`); null if not given. */
  server: string | null;
}

export const STORAGE_KEY = 'lti-completion:launch';

const CREDENTIAL = /^[A-Za-z0-9_-]{43}$/;
const LAUNCH_PARAMS = new Set(['lti_launch', 'lti_server']);

// The launch this document took from its fragment. It comes before the tab's latest, which
// another exercise in the same tab (a second iframe of one course unit) may have replaced since,
// e.g. when a router has changed this page's path; and it is all there is where sessionStorage
// throws (storage disabled).
let lastTaken: Launch | null = null;

/**
 * Takes the launch from the fragment, removing its parameters from the address bar (other fragment
 * content stays), and remembers it; without launch parameters, returns the one remembered for this
 * page, else the one this document took, else the latest one in this tab (an exercise spread over
 * several pages), else null.
 *
 * Storage is per page as well as "latest", so two exercises of one origin open in the same tab
 * (two iframes in one course unit) each find their own launch after a reload.
 */
export function takeLaunch(loc: Location = location, hist: History = history): Launch | null {
  const page = loc.pathname + loc.search;
  const fromFragment = readFragment(loc.hash);
  if (fromFragment) {
    const { launch, rest } = fromFragment;
    // An absolute URL: a relative one would resolve against a <base> (e.g. on a CDN, another
    // origin) or read `//path` as a host, and replaceState would throw.
    hist.replaceState(hist.state, '', loc.href.split('#')[0] + (rest ? `#${rest}` : ''));
    // A forged or truncated credential is dropped: only the server could say more about it.
    if (launch) {
      lastTaken = launch;
      store(page, launch);
      return launch;
    }
  }
  return load(`${STORAGE_KEY}:${page}`) ?? lastTaken ?? load(STORAGE_KEY);
}

/**
 * The server URL in canonical form (origin + path, no trailing slash), or null if not http(s).
 * A relative URL is resolved against the page, as HTML resolves `href` and `src`.
 */
export function normalizeServer(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const url = new URL(value, document.baseURI);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    return (url.origin + url.pathname).replace(/\/+$/, '');
  } catch {
    return null;
  }
}

function readFragment(hash: string): { launch: Launch | null; rest: string } | null {
  const parts = hash.replace(/^#/, '').split('&');
  const found = new Map<string, string>();
  const rest = parts.filter((part) => {
    const key = part.split('=', 1)[0] ?? '';
    if (!LAUNCH_PARAMS.has(key)) return true;
    found.set(key, decode(part.slice(key.length + 1)));
    return false;
  });
  if (!found.size) return null;
  const credential = found.get('lti_launch') ?? '';
  return {
    launch: CREDENTIAL.test(credential) ? { credential, server: normalizeServer(found.get('lti_server')) } : null,
    rest: rest.filter(Boolean).join('&'),
  };
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return '';
  }
}

function store(page: string, launch: Launch): void {
  const value = JSON.stringify(launch);
  try {
    sessionStorage.setItem(`${STORAGE_KEY}:${page}`, value);
    sessionStorage.setItem(STORAGE_KEY, value);
  } catch {
    // Storage disabled or full: this page load still works, a reload will not.
  }
}

function load(key: string): Launch | null {
  try {
    const value: unknown = JSON.parse(sessionStorage.getItem(key) ?? 'null');
    if (value && typeof value === 'object') {
      const { credential, server } = value as Record<string, unknown>;
      if (typeof credential === 'string' && CREDENTIAL.test(credential)) {
        return { credential, server: normalizeServer(typeof server === 'string' ? server : null) };
      }
    }
  } catch {
    // Unreadable storage or a foreign value under our key: as if nothing were stored.
  }
  return null;
}
