import { css, html, LitElement } from 'lit';
import { ApiError, createApiClient, describeError, type ApiClient } from '../api.ts';
import type { SignInEvent } from '../events.ts';
import { ViewerDocument } from '../generated/graphql.ts';
import { TABS, type TabId } from './app-page.ts';
import { metaContent } from './dom.ts';
import type { LtiSignIn } from './sign-in.ts';
import { baseStyles } from './styles.ts';

/** sessionStorage key of the API token (see dashboard/README.md for why sessionStorage). */
export const TOKEN_KEY = 'lti-dashboard:token';

export const MESSAGES = {
  wrongToken: 'This API token is not valid. Check that you copied all of it; it may also have been revoked.',
  revoked: 'Your API token is no longer valid (it may have been revoked). Sign in again with a valid token.',
  signedOut: 'You are signed out.',
} as const;

type Route = { page: 'apps' } | { page: 'app'; appId: string; tab: TabId };

/** `#/` → the apps; `#/apps/<id>[/<tab>]` → one app. */
export function parseRoute(hash: string): Route {
  const match = /^#\/apps\/([^/]+)(?:\/([a-z]+))?$/.exec(hash);
  if (!match) return { page: 'apps' };
  const tab = TABS.find((t) => t.id === match[2])?.id ?? 'lti';
  return { page: 'app', appId: decodeId(match[1]!), tab };
}

/** A malformed %-escape (a link cut short) is no app's ID: the page then says "App not found". */
function decodeId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/**
 * The owner dashboard: sign-in with an API token, then the apps list or one app's page,
 * routed by the URL fragment. Every request goes to the public GraphQL API with the token;
 * an HTTP 401 at any point signs out with a message.
 */
export class LtiDashboard extends LitElement {
  static override properties = {
    client: { state: true },
    viewerName: { state: true },
    route: { state: true },
    checking: { state: true },
    signInError: { state: true },
    notice: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .skip {
        position: absolute;
        left: 0.5rem;
        top: -3rem;
        padding: 0.5rem 1rem;
        background: var(--surface);
        border-radius: var(--radius);
        z-index: 20;
      }
      .skip:focus {
        top: 0.5rem;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.5rem 1rem;
        padding: 0.5rem 1rem;
        border-bottom: 1px solid var(--border);
        background: var(--surface);
      }
      .brand {
        font-weight: 700;
        color: inherit;
        text-decoration: none;
      }
      .who {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 0.75rem;
        color: var(--muted);
        overflow-wrap: anywhere;
      }
      main {
        max-width: 64rem;
        margin: 0 auto;
        padding: 1.25rem 1rem 3rem;
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare viewerName: string;
  declare route: Route;
  /** Checking a token (at sign-in, or the one kept from before a reload). */
  declare checking: boolean;
  declare signInError: string;
  declare notice: string;
  #publicUrl = '';
  #widgetPath = '';

  constructor() {
    super();
    this.client = undefined;
    this.viewerName = '';
    this.route = parseRoute(location.hash);
    this.checking = false;
    this.signInError = '';
    this.notice = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('hashchange', this.#onHashChange);
    // Filled in by the server (its PUBLIC_URL and the widget's versioned path).
    this.#publicUrl = metaContent('public-url').replace(/\/$/, '');
    this.#widgetPath = metaContent('widget-path');
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept) void this.#signIn(kept, { kept: true });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    removeEventListener('hashchange', this.#onHashChange);
  }

  #onHashChange = (): void => {
    this.route = parseRoute(location.hash);
  };

  #endpoint(): string {
    return new URL('graphql', document.baseURI).href;
  }

  async #signIn(token: string, { kept = false } = {}): Promise<void> {
    this.checking = true;
    this.signInError = '';
    const client = createApiClient({
      endpoint: this.#endpoint(),
      token,
      onUnauthenticated: () => {
        if (this.client === client) this.#signOut(MESSAGES.revoked);
      },
    });
    try {
      const { viewer } = await createApiClient({ endpoint: this.#endpoint(), token }).request(ViewerDocument, {});
      sessionStorage.setItem(TOKEN_KEY, token);
      this.viewerName = viewer.name;
      this.notice = '';
      this.client = client;
    } catch (error) {
      const unauthenticated = error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED';
      if (kept) {
        if (unauthenticated) sessionStorage.removeItem(TOKEN_KEY);
        this.notice = unauthenticated ? MESSAGES.revoked : describeError(error);
      } else {
        this.signInError = unauthenticated ? MESSAGES.wrongToken : describeError(error);
        this.#signInForm()?.focus();
      }
    } finally {
      this.checking = false;
    }
  }

  #signOut(notice: string = MESSAGES.signedOut): void {
    sessionStorage.removeItem(TOKEN_KEY);
    this.client = undefined;
    this.viewerName = '';
    this.notice = notice;
    this.signInError = '';
  }

  #signInForm(): LtiSignIn | null {
    return this.renderRoot.querySelector('lti-sign-in');
  }

  override async updated(changed: Map<string, unknown>): Promise<void> {
    // Leaving the signed-in pages: the sign-in form takes focus.
    if (changed.has('client') && changed.get('client') !== undefined && !this.client) {
      await this.updateComplete;
      this.#signInForm()?.focus();
    }
  }

  override render() {
    if (!this.client) {
      return html`<main>
        <lti-sign-in
          .error=${this.signInError}
          .notice=${this.notice}
          ?busy=${this.checking}
          @lti-sign-in=${(e: SignInEvent) => this.#signIn(e.detail.token)}
        ></lti-sign-in>
      </main>`;
    }
    const route = this.route;
    return html`
      <a class="skip" href="#main" @click=${this.#skip}>Skip to content</a>
      <header>
        <a class="brand" href="#/">LTI micro-apps</a>
        <div class="who">
          <span>Signed in as <strong>${this.viewerName}</strong></span>
          <button type="button" id="sign-out" @click=${() => this.#signOut()}>Sign out</button>
        </div>
      </header>
      <main id="main" tabindex="-1">
        ${route.page === 'apps'
          ? html`<lti-app-list .client=${this.client} .publicUrl=${this.#publicUrl}></lti-app-list>`
          : html`<lti-app-page
              .client=${this.client}
              .appId=${route.appId}
              .tab=${route.tab}
              .publicUrl=${this.#publicUrl}
              .widgetPath=${this.#widgetPath}
            ></lti-app-page>`}
      </main>
    `;
  }

  #skip(event: Event): void {
    // The fragment is the router's: move focus instead of navigating.
    event.preventDefault();
    this.renderRoot.querySelector<HTMLElement>('#main')?.focus();
  }
}
