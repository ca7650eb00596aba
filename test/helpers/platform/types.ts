/**
 * Public types of the test LTI 1.3 platform. `../platform.ts` re-exports all of them.
 */
import type { JWTHeaderParameters, JWTPayload } from 'jose';
import type { PLATFORM_ALGS } from './constants.ts';

/** An algorithm the platform's own key can be generated for. */
export type PlatformAlg = (typeof PLATFORM_ALGS)[number];

/** How the platform is set up; every field is optional. */
export interface PlatformOptions {
  /**
   * `openedx` (default): GET login initiation with `lti_deployment_id`, string `aud`, deployment "1".
   * `canvas`: POST login initiation with `deployment_id`, `aud` = [clientId, 'other'] with `azp`,
   * deployment id like `12:abcd…`. URLs stay Open edX-shaped for both.
   */
  variant?: 'openedx' | 'canvas';
  /** The platform key's algorithm; default RS256 (what Open edX uses). */
  alg?: PlatformAlg;
  /** Put `alg` and `use` in the served JWKS key; default false (Open edX omits both). */
  publishAlg?: boolean;
  /** Interface to listen on; default 127.0.0.1 (port is always 0, i.e. picked by the OS). */
  host?: string;
  /** Clock in ms since the epoch; default `Date.now` (so `vi.setSystemTime` applies). */
  now?: () => number;
  /** Used to fetch the tool's keyset; default global `fetch`. Pass an in-process app's fetch here. */
  fetch?: typeof fetch;
  /**
   * Called for every stored score: wait this many ms before answering (the score is applied,
   * the answer is still on its way — where a crashing tool can miss it). Default: answer at once.
   */
  scoreAnswerDelayMs?: () => number;
}

/** Changes to a minted id_token, for negative and edge-case tests. */
export interface LaunchOverrides {
  /** Merged over the default claims (top level, shallow); `undefined` deletes a claim. */
  claims?: Record<string, unknown>;
  /**
   * Merged over the protected header `{ alg, kid, typ }`; `undefined` deletes. A header `alg`
   * that differs from the signing algorithm (or is deleted) is written after signing, so the
   * signature does not cover it: meant for checks that must fail before signature verification.
   */
  header?: Record<string, unknown>;
  /**
   * `platform` (default): the key in the JWKS. `foreign-key`: a key NOT in the JWKS, but the
   * header carries the platform's kid. `none`: unsigned, `alg: none`, empty signature.
   */
  signWith?: 'platform' | 'foreign-key' | 'none';
  /**
   * Signing algorithm; default the platform's. `HS*` signs with the client id's UTF-8 bytes as
   * the secret (alg-confusion tests); another asymmetric alg reuses the platform key when its
   * type allows (e.g. RS512 or PS256 with an RSA key) and throws a TypeError otherwise.
   */
  alg?: string;
  /** Shifts iat/exp (and nbf, if emitted) relative to now; negative = in the past. */
  iatOffsetSeconds?: number;
  /** exp − iat; default 3600, as Open edX. */
  expiresInSeconds?: number;
  /** Emit `nbf` = iat + this many seconds. Open edX sends no nbf, so by default there is none. */
  nbfOffsetSeconds?: number;
  /** resource_link.id, which also selects the AGS line item; default an Open edX block key. */
  resourceLinkId?: string;
}

/** Options of `loginInitiation()`. */
export interface LoginInitiationOptions {
  /** The tool's launch URL (becomes target_link_uri and the id_token's target_link_uri claim). */
  targetLinkUri: string;
  /** The user's id (`sub`, also sent as login_hint); default a fresh random id. */
  sub?: string;
  /** lti_message_hint; default a fresh random value. Valid 600 s, as Open edX's cache key. */
  messageHint?: string;
  /** Extra parameters added to the request as they are. */
  extra?: Record<string, string>;
  /** Overrides applied when this initiation leads to an id_token (HTTP endpoint or authorize()). */
  launch?: LaunchOverrides;
}

/** The request the LMS makes to the tool's login URL. */
export interface LoginInitiationRequest {
  method: 'GET' | 'POST';
  url: string;
  /** Form body for POST; absent for GET (parameters are in the URL). */
  body?: URLSearchParams;
}

/** What the platform posts back to the tool's redirect_uri (the auto-submitting form's fields). */
export interface AuthorizeResult {
  idToken: string;
  state: string;
  redirectUri: string;
  nonce: string;
}

/** Options of `authorize()`. */
export type AuthorizeOptions = LaunchOverrides & {
  /** redirect_uri must equal this; default the URL given to setToolLaunchUrl(), if any. */
  expectedRedirectUri?: string;
};

/** Options of `mintIdToken()`. */
export type MintIdTokenOptions = { nonce: string; targetLinkUri: string; sub?: string } & LaunchOverrides;

/** The six values Studio shows, to paste into the tool's registration. */
export interface PlatformRegistration {
  issuer: string;
  clientId: string;
  authLoginUrl: string;
  authTokenUrl: string;
  keysetUrl: string;
  deploymentIds: string[];
}

/** One request to the token endpoint, accepted or not (faulted ones included). */
export interface TokenRequestRecord {
  form: URLSearchParams;
  /** The client assertion's header and payload as sent (decoded, not verified); {} if unreadable. */
  assertionHeader: Partial<JWTHeaderParameters>;
  assertionPayload: JWTPayload;
  ok: boolean;
  /** e.g. `invalid_grant: jti already used`, or `fault: 503`. */
  error?: string;
}

/** One accepted score. */
export interface ScoreRecord {
  /** The line item URL the score was posted under (with its query string). */
  lineitem: string;
  /** The Authorization header as received. */
  authorization: string;
  contentType: string;
  body: Record<string, unknown>;
  /** Wall-clock ms (`Date.now()`) when the score was stored. */
  storedAt: number;
  /** Wall-clock ms when the answer was handed to the connection (unset while delayed). */
  answeredAt?: number;
}

/** One request to a scores URL, accepted or not (faulted ones included). */
export interface ScoreAttemptRecord {
  /** The requested URL. */
  url: string;
  status: number;
  /** Why it was refused, for non-2xx. */
  error?: string;
}

/** A queued fault for the token or scores endpoint. */
export interface Fault {
  /** Reply with this status (default 500 if `body` is given without status). */
  status?: number;
  /** Reply body; default a small JSON error. */
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long first; without status/body the request is then handled normally. */
  hangMs?: number;
}

/** The endpoints faults can be queued for. */
export type FaultEndpoint = 'token' | 'scores';

/** A running test platform. Create with `startTestPlatform()`, always `close()` it. */
export interface TestPlatform {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly issuer: string;
  /** A random UUID4, one per platform (Open edX: one per LTI component). */
  readonly clientId: string;
  /** `'1'` for openedx; `'<n>:<hex>'` for canvas. */
  readonly deploymentId: string;
  readonly authLoginUrl: string;
  readonly authTokenUrl: string;
  readonly keysetUrl: string;
  /** `${issuer}/api/lti_consumer/v1/lti/1/lti-ags`. */
  readonly lineitemsUrl: string;
  /** The kid currently served in the JWKS. */
  readonly kid: string;
  /** The AGS line item URL for a resource link (with a query string); stable per id. */
  lineitemUrl(resourceLinkId?: string): string;
  /** The values to paste into the tool (Studio's six fields). */
  registration(): PlatformRegistration;
  /** Builds the login initiation request the LMS makes to the tool's login URL. */
  loginInitiation(toolLoginUrl: string, opts: LoginInitiationOptions): LoginInitiationRequest;
  /** Validates the tool's OIDC auth request URL and returns the auto-submitting form's fields. Throws AuthRequestError. */
  authorize(authRequestUrl: string, opts?: AuthorizeOptions): Promise<AuthorizeResult>;
  /** Mints an id_token directly (for negative tests). */
  mintIdToken(opts: MintIdTokenOptions): Promise<string>;
  /** Rotates the platform's signing key: new kid; the old key disappears from the JWKS. */
  rotateKey(): Promise<{ oldKid: string; newKid: string }>;
  /** The JWKS as served at keysetUrl. */
  publicJwks(): { keys: Array<Record<string, unknown>> };
  /** How many times the JWKS URL was fetched. */
  readonly keysetFetches: number;
  /** Stops the server, destroying open sockets (hanging requests included). */
  close(): Promise<void>;
  /** Every token endpoint request, in order. */
  readonly tokenRequests: TokenRequestRecord[];
  /** Every accepted score, in order. */
  readonly scores: ScoreRecord[];
  /** Every request to a scores URL, accepted or not, in order. */
  readonly scoreAttempts: ScoreAttemptRecord[];
  /** Queues faults for an endpoint; applied in order, then normal behaviour resumes. */
  failNext(endpoint: FaultEndpoint, ...faults: Fault[]): void;
  /** The tool's JWKS URL, fetched on every token request to verify client assertions. */
  setToolKeysetUrl(url: string): void;
  /** The tool's registered launch URL: when set, redirect_uri must equal it. */
  setToolLaunchUrl(url: string): void;
  /** Issues an access token directly (skipping the client assertion), for score tests. */
  issueAccessToken(scopes?: readonly string[]): string;
}
