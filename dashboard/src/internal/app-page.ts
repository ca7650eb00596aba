import { css, html, LitElement, nothing } from 'lit';
import { ApiError, describeError, type ApiClient } from '../api.ts';
import type { AppSavedEvent, RegistrationsChangedEvent } from '../events.ts';
import { AppSetupDocument, type AppSetupQuery, type AppSummaryFragment, type RegistrationFragment } from '../generated/graphql.ts';
import { appHref } from './app-list.ts';
import { baseStyles } from './styles.ts';

export const TABS = [
  { id: 'lti', label: 'LTI' },
  { id: 'widget', label: 'Widget' },
  { id: 'activity', label: 'Launches and grades' },
] as const;
export type TabId = (typeof TABS)[number]['id'];

/**
 * One app: its name and status, and three tabs (WAI-ARIA tabs, arrow keys move between them):
 * LTI (Studio settings and registrations), Widget (the embed snippet), Launches and grades.
 * The selected tab is in the URL fragment (`#/apps/<id>/<tab>`), so Back and reload keep it.
 */
export class LtiAppPage extends LitElement {
  static override properties = {
    client: { attribute: false },
    appId: { type: String },
    tab: { type: String },
    publicUrl: { attribute: false },
    widgetPath: { attribute: false },
    app: { state: true },
    registrations: { state: true },
    error: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .back {
        display: inline-block;
        margin-bottom: 0.5rem;
      }
      header {
        margin-bottom: 1rem;
      }
      .title {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 0.75rem;
      }
      h1 {
        margin: 0;
        font-size: 1.6rem;
        overflow-wrap: anywhere;
      }
      .exercise {
        margin: 0.25rem 0 0;
        color: var(--muted);
        overflow-wrap: anywhere;
      }
      [role='tablist'] {
        display: flex;
        gap: 0.25rem;
        overflow-x: auto;
        margin-bottom: 1.25rem;
        border-bottom: 1px solid var(--border);
      }
      [role='tab'] {
        flex: none;
        padding: 0.45rem 0.75rem;
        border: 1px solid transparent;
        border-bottom: 3px solid transparent;
        border-radius: var(--radius) var(--radius) 0 0;
        background: transparent;
      }
      [role='tab']:focus-visible {
        /* Inside the list, which scrolls (and would clip an outer outline) on narrow screens. */
        outline-offset: -3px;
      }
      [role='tab'][aria-selected='true'] {
        border-bottom-color: var(--accent);
        color: var(--accent);
        font-weight: 600;
      }
      .snippet-help {
        margin: 0.75rem 0 0;
      }
      code {
        overflow-wrap: anywhere;
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare appId: string;
  declare tab: TabId;
  declare publicUrl: string;
  declare widgetPath: string;
  declare app: AppSummaryFragment | null | undefined;
  declare registrations: RegistrationFragment[];
  declare error: string;

  constructor() {
    super();
    this.appId = '';
    this.tab = 'lti';
    this.publicUrl = '';
    this.widgetPath = '';
    this.app = undefined;
    this.registrations = [];
    this.error = '';
  }

  #focusTitle = false;

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('appId')) this.#focusTitle = true;
    // Back on the LTI tab: reload, for changes made elsewhere (the tab's own ones are already in
    // this.registrations, from lti-registrations-changed, so it shows them until the reload answers).
    const backOnLti = changed.has('tab') && changed.get('tab') !== undefined && this.tab === 'lti';
    if (changed.has('appId') || changed.has('client') || backOnLti) void this.#load();
  }

  override updated(): void {
    // Arriving on an app's page: start at its heading, once it is there.
    const title = this.renderRoot.querySelector<HTMLElement>('#title');
    if (this.#focusTitle && title) {
      this.#focusTitle = false;
      title.focus();
    }
  }

  /**
   * Bumped by each load and by each change the LTI tab reports: an answer to a load that began
   * before the latest of them is older than what the page shows, and is dropped.
   */
  #version = 0;

  async #load(): Promise<void> {
    if (!this.client || !this.appId) return;
    this.error = '';
    if (this.app && this.app.id !== this.appId) this.app = undefined;
    const version = ++this.#version;
    try {
      const registrations: RegistrationFragment[] = [];
      let app: AppSetupQuery['app'];
      let after: string | null = null;
      do {
        ({ app } = await this.client.request(AppSetupDocument, { id: this.appId, after }));
        if (version !== this.#version) return;
        registrations.push(...(app?.registrations.edges.map((e) => e.node) ?? []));
        after = app?.registrations.pageInfo.hasNextPage ? app.registrations.pageInfo.endCursor : null;
      } while (after);
      this.app = app;
      this.registrations = registrations;
    } catch (error) {
      if (version !== this.#version || (error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) return;
      this.error = describeError(error);
    }
  }

  #retry = (): void => {
    // The button goes with the error: the heading takes focus once the page is there.
    this.#focusTitle = true;
    void this.#load();
  };

  override render() {
    const back = html`<a class="back" href="#/">← All apps</a>`;
    if (this.error) {
      return html`${back}
        <p class="alert" role="alert">${this.error} <button type="button" @click=${this.#retry}>Try again</button></p>`;
    }
    if (this.app === undefined) return html`${back}<p class="muted">Loading…</p>`;
    if (this.app === null) {
      return html`${back}
        <h1 id="title" tabindex="-1">App not found</h1>
        <p>It was deleted, or it belongs to another account.</p>`;
    }
    const app = this.app;
    return html`
      ${back}
      <header>
        <div class="title">
          <h1 id="title" tabindex="-1">${app.name}</h1>
          <span class="badge ${app.isPublic ? 'public' : 'private'}">${app.isPublic ? 'Public' : 'Private'}</span>
        </div>
        <p class="exercise">Exercise: ${app.exerciseUrl}</p>
      </header>
      <div role="tablist" aria-label="${app.name}" @keydown=${this.#onTabKey}>
        ${TABS.map(
          (t) => html`<button
            role="tab"
            type="button"
            id="tab-${t.id}"
            aria-selected=${this.tab === t.id ? 'true' : 'false'}
            aria-controls="panel"
            tabindex=${this.tab === t.id ? '0' : '-1'}
            @click=${() => this.#select(t.id)}
          >
            ${t.label}
          </button>`,
        )}
      </div>
      <div id="panel" role="tabpanel" aria-labelledby="tab-${this.tab}">${this.#panel(app)}</div>
    `;
  }

  #panel(app: AppSummaryFragment) {
    switch (this.tab) {
      case 'lti':
        return html`<lti-lti-panel
          .client=${this.client}
          .app=${app}
          .registrations=${this.registrations}
          @lti-app-saved=${(e: AppSavedEvent) => (this.app = e.detail.app)}
          @lti-registrations-changed=${this.#onRegistrationsChanged}
        ></lti-lti-panel>`;
      case 'widget':
        return this.#widget(app);
      case 'activity':
        return html`<lti-activity-panel .client=${this.client} .appId=${app.id}></lti-activity-panel>`;
    }
  }

  #onRegistrationsChanged = (event: RegistrationsChangedEvent): void => {
    this.#version += 1;
    this.registrations = event.detail.registrations;
  };

  #widget(app: AppSummaryFragment) {
    if (!this.widgetPath || !this.publicUrl) {
      return html`<p class="alert">This page was not served by the tool server, so it does not know the widget's address.</p>`;
    }
    const snippet = `<script type="module" src="${this.publicUrl}${this.widgetPath}"></script>\n<lti-completion></lti-completion>`;
    return html`
      <lti-copy-field
        multiline
        .label=${'Widget embed snippet'}
        .hint=${'Put it on the last page of the exercise. When the learner presses Finish, the grade goes to the course.'}
        .value=${snippet}
      ></lti-copy-field>
      <p class="snippet-help">
        The exercise page is <code>${app.exerciseUrl}</code>. The widget needs nothing else: the launch tells it where
        to report. ${app.exerciseUrl.startsWith(`${this.publicUrl}/demo/`) ? 'The demo exercise already has it.' : nothing}
      </p>
    `;
  }

  #select(tab: TabId): void {
    if (tab === this.tab) return;
    location.hash = appHref(this.appId, tab);
  }

  #onTabKey = (event: KeyboardEvent): void => {
    const index = TABS.findIndex((t) => t.id === this.tab);
    const last = TABS.length - 1;
    const keys: Record<string, number> = {
      ArrowRight: index === last ? 0 : index + 1,
      ArrowLeft: index === 0 ? last : index - 1,
      Home: 0,
      End: last,
    };
    const to = keys[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const tab = TABS[to]!.id;
    this.#select(tab);
    this.renderRoot.querySelector<HTMLElement>(`#tab-${tab}`)?.focus();
  };
}
