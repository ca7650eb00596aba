import { css, html, LitElement, nothing } from 'lit';
import { ApiError, describeError, type ApiClient } from '../api.ts';
import type { AppSavedEvent, MenuSelectEvent } from '../events.ts';
import { AppsDocument, DeleteAppDocument, type AppsQuery, type AppSummaryFragment } from '../generated/graphql.ts';
import type { LtiAppDialog } from './app-dialog.ts';
import type { LtiConfirmDialog } from './confirm-dialog.ts';
import type { MenuItem } from './menu.ts';
import { baseStyles } from './styles.ts';

const MENU_ITEMS: MenuItem[] = [
  { value: 'edit', label: 'Edit' },
  { value: 'share', label: 'Share' },
  { value: 'delete', label: 'Delete', danger: true },
];

/** An app's page (`tab` defaults to the LTI tab). */
export const appHref = (id: string, tab = 'lti'): string => `#/apps/${encodeURIComponent(id)}/${tab}`;

/**
 * The owner's apps: name, public/private badge and a menu per app (Edit, Share, Delete with a
 * confirmation), and a button to create one.
 */
export class LtiAppList extends LitElement {
  static override properties = {
    client: { attribute: false },
    publicUrl: { attribute: false },
    apps: { state: true },
    loadError: { state: true },
    deleteError: { state: true },
    status: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .head {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.75rem;
        margin-bottom: 1rem;
      }
      h1 {
        margin: 0;
        font-size: 1.6rem;
      }
      ul {
        margin: 0;
        padding: 0;
        list-style: none;
      }
      li {
        display: flex;
        align-items: center;
        gap: 0.75rem;
        padding: 0.75rem 0.5rem 0.75rem 1rem;
        border: 1px solid var(--border);
        border-bottom-width: 0;
        background: var(--surface);
      }
      li:first-child {
        border-radius: var(--radius) var(--radius) 0 0;
      }
      li:last-child {
        border-bottom-width: 1px;
        border-radius: 0 0 var(--radius) var(--radius);
      }
      li:only-child {
        border-radius: var(--radius);
      }
      .app {
        flex: 1;
        min-width: 0;
      }
      .name {
        font-weight: 600;
        overflow-wrap: anywhere;
      }
      .url {
        display: block;
        color: var(--muted);
        font-size: 0.875rem;
        overflow-wrap: anywhere;
      }
      .empty {
        padding: 2rem 1rem;
        border: 1px dashed var(--border);
        border-radius: var(--radius);
        text-align: center;
        background: var(--surface);
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare publicUrl: string;
  declare apps: AppSummaryFragment[] | undefined;
  declare loadError: string;
  /** Why the last delete failed (its menu is where to try again: no Try again, which reloads the list). */
  declare deleteError: string;
  /** The last thing that happened, for the live region ("Deleted …"). */
  declare status: string;

  constructor() {
    super();
    this.publicUrl = '';
    this.apps = undefined;
    this.loadError = '';
    this.deleteError = '';
    this.status = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override firstUpdated(): void {
    // Arriving here (after signing in, or from an app's page): start at the heading.
    this.renderRoot.querySelector<HTMLElement>('#title')?.focus();
  }

  /** Bumped by each load: an answer to an older one (e.g. from before a delete) is dropped. */
  #version = 0;

  /** Loads every app (pages of 100). */
  async load(): Promise<void> {
    if (!this.client) return;
    const version = ++this.#version;
    try {
      const apps: AppSummaryFragment[] = [];
      let after: string | null = null;
      do {
        const { apps: page }: AppsQuery = await this.client.request(AppsDocument, { after });
        if (version !== this.#version) return;
        apps.push(...page.edges.map((e) => e.node));
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after);
      this.apps = apps;
      this.loadError = '';
    } catch (error) {
      if (version !== this.#version || (error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) return;
      this.loadError = describeError(error);
    }
  }

  override render() {
    return html`
      <div class="head">
        <h1 id="title" tabindex="-1">Apps</h1>
        <button class="primary" id="new-app" type="button" @click=${() => this.#dialog().show()}>New app</button>
      </div>
      <p class="visually-hidden" role="status">${this.status}</p>
      ${this.loadError
        ? html`<p class="alert" role="alert">${this.loadError} <button type="button" @click=${() => this.load()}>Try again</button></p>`
        : nothing}
      ${this.deleteError ? html`<p class="alert" role="alert">${this.deleteError}</p>` : nothing}
      ${this.apps === undefined
        ? this.loadError
          ? nothing
          : html`<p class="muted">Loading…</p>`
        : this.apps.length === 0
          ? html`<div class="empty">
              <p>No apps yet. An app is one exercise at some URL that courses can launch.</p>
              <button class="primary" type="button" @click=${() => this.#dialog().show()}>Create your first app</button>
            </div>`
          : html`<ul aria-labelledby="title">
              ${this.apps.map(
                (app) => html`<li>
                  <div class="app">
                    <a class="name" href=${appHref(app.id)}>${app.name}</a>
                    <span class="url">${app.exerciseUrl}</span>
                  </div>
                  <span class="badge ${app.isPublic ? 'public' : 'private'}">${app.isPublic ? 'Public' : 'Private'}</span>
                  <lti-menu
                    .label=${`Actions for ${app.name}`}
                    .items=${MENU_ITEMS}
                    @lti-menu-select=${(e: MenuSelectEvent) => this.#onAction(app, e.detail.value)}
                  ></lti-menu>
                </li>`,
              )}
            </ul>`}
      <lti-app-dialog .client=${this.client} .publicUrl=${this.publicUrl} @lti-app-saved=${this.#onSaved}></lti-app-dialog>
      <lti-confirm-dialog></lti-confirm-dialog>
    `;
  }

  #dialog(): LtiAppDialog {
    return this.renderRoot.querySelector('lti-app-dialog')!;
  }

  async #onAction(app: AppSummaryFragment, action: string): Promise<void> {
    if (action === 'edit') await this.#dialog().show(app);
    else if (action === 'share') location.hash = appHref(app.id, 'lti');
    else if (action === 'delete') await this.#delete(app);
  }

  async #onSaved(event: AppSavedEvent): Promise<void> {
    const { app, created } = event.detail;
    this.status = created ? `Created ${app.name}. Next: Share, to connect it to a course.` : `Saved ${app.name}.`;
    await this.load();
    if (created) {
      // Focus went back to the button that opened the dialog; the new app is the next step.
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(`a[href="${appHref(app.id)}"]`)?.focus();
    }
  }

  async #delete(app: AppSummaryFragment): Promise<void> {
    const confirm = this.renderRoot.querySelector<LtiConfirmDialog>('lti-confirm-dialog')!;
    const confirmed = await confirm.ask({
      title: `Delete ${app.name}?`,
      message:
        'Its LTI registrations, launches and grades are removed with it, and courses can no longer launch it (grades already in a gradebook stay there). This cannot be undone.',
      confirmLabel: 'Delete app',
    });
    if (!confirmed || !this.client) return;
    this.deleteError = '';
    try {
      const { deleteApp } = await this.client.request(DeleteAppDocument, { input: { id: app.id } });
      // NotFoundError: deleted meanwhile (another tab, a script); gone, as the owner wanted.
      this.status =
        deleteApp.__typename === 'DeleteAppPayload' ? `Deleted ${app.name}.` : `${app.name} had already been deleted (elsewhere).`;
      // Its row goes at once (a reload that fails leaves it gone), then the list as it is now.
      this.apps = this.apps?.filter((a) => a.id !== app.id);
      await this.load();
      // The menu that opened the dialog is gone with the app.
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>('#title')?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED') return;
      this.deleteError = error instanceof ApiError ? describeError(error) : `Could not delete ${app.name}: ${(error as Error).message}`;
    }
  }
}
