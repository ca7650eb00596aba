import { css, html, LitElement, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { ApiError, describeError, type ApiClient } from '../api.ts';
import { emit, type RegistrationSavedEvent } from '../events.ts';
import {
  RemoveRegistrationDocument,
  UpdateAppDocument,
  type AppSummaryFragment,
  type RegistrationFragment,
} from '../generated/graphql.ts';
import type { LtiConfirmDialog } from './confirm-dialog.ts';
import type { LtiRegistrationForm } from './registration-form.ts';
import { REGISTRATION_FIELDS, STUDIO_SETTINGS } from './studio.ts';
import { baseStyles } from './styles.ts';

/**
 * The LTI tab of an app: (1) the Studio settings to use, with our three URLs to copy, (2) the
 * values Studio shows back, as registrations: listed, added, edited, removed. A private app
 * cannot be launched: the tab says so and offers the switch. One form is open at a time: opening
 * another (Add another registration, Edit) asks first when the open one has unsaved input.
 *
 * @fires {AppSavedEvent} lti-app-saved - The app was made public.
 * @fires {RegistrationSavedEvent} lti-registration-saved - Bubbles from the form.
 * @fires {RegistrationsChangedEvent} lti-registrations-changed - One was added, edited or removed; the app page keeps the list.
 */
export class LtiLtiPanel extends LitElement {
  static override properties = {
    client: { attribute: false },
    app: { attribute: false },
    registrations: { attribute: false },
    editing: { state: true },
    switchError: { state: true },
    listError: { state: true },
    status: { state: true },
    busy: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      h2 {
        margin: 1.5rem 0 0.5rem;
        font-size: 1.2rem;
      }
      section:first-of-type h2 {
        margin-top: 0;
      }
      .settings {
        margin: 0;
        padding: 0;
        list-style: none;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
      }
      .settings li {
        display: grid;
        grid-template-columns: minmax(10rem, 16rem) 1fr;
        gap: 0.25rem 1rem;
        align-items: center;
        padding: 0.6rem 1rem;
        border-top: 1px solid var(--border);
      }
      .settings li:first-child {
        border-top: 0;
      }
      .settings li.url {
        display: block;
      }
      .setting {
        font-weight: 600;
      }
      .registrations {
        margin: 0 0 1rem;
        padding: 0;
        list-style: none;
      }
      .registration {
        margin: 0 0 0.75rem;
        padding: 0.75rem 1rem;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
      }
      .registration h3 {
        margin: 0 0 0.5rem;
        font-size: 1rem;
        overflow-wrap: anywhere;
      }
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.15rem 1rem;
        margin: 0 0 0.75rem;
        font-size: 0.9rem;
      }
      dt {
        color: var(--muted);
      }
      dd {
        margin: 0;
        min-width: 0;
        overflow-wrap: anywhere;
        font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
      }
      .registration .actions {
        justify-content: flex-start;
      }
      @media (max-width: 40rem) {
        .settings li,
        dl {
          grid-template-columns: 1fr;
        }
        dd {
          margin-bottom: 0.35rem;
        }
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare app: AppSummaryFragment;
  declare registrations: RegistrationFragment[];
  /** The registration being edited, 'new' while adding one, or null. */
  declare editing: string | 'new' | null;
  declare switchError: string;
  declare listError: string;
  declare status: string;
  declare busy: boolean;

  constructor() {
    super();
    this.registrations = [];
    this.editing = null;
    this.switchError = '';
    this.listError = '';
    this.status = '';
    this.busy = false;
  }

  override render() {
    const app = this.app;
    return html`
      <p class="visually-hidden" role="status">${this.status}</p>
      ${app.isPublic ? nothing : this.#privateNotice()}
      <section aria-labelledby="studio-title">
        <h2 id="studio-title">1. In Open edX Studio</h2>
        <p>Add an <strong>LTI Consumer</strong> component to a unit, click Edit, and set:</p>
        ${app.isPublic
          ? html`<ul class="settings">
              ${STUDIO_SETTINGS.map((s) =>
                'tool' in s
                  ? html`<li class="url"><lti-copy-field .label=${s.setting} .value=${app.ltiTool[s.tool]}></lti-copy-field></li>`
                  : html`<li><span class="setting">${s.setting}</span><span>${s.value}</span></li>`,
              )}
            </ul>`
          : html`<p class="muted">The URLs for Studio appear here once the app is public.</p>`}
      </section>
      <section aria-labelledby="platform-title">
        <h2 id="platform-title">2. Paste what Studio shows</h2>
        <p>
          After you save the component, Studio shows six values for it. Enter them here. Each component has its own
          Client ID: add one registration per component (for example one per course).
        </p>
        ${this.listError ? html`<p class="alert" role="alert">${this.listError}</p>` : nothing}
        ${this.registrations.length
          ? html`<ul class="registrations" aria-label="LTI registrations">
              ${repeat(this.registrations, (r) => r.id, (r) => this.#registration(r))}
            </ul>`
          : nothing}
        ${this.editing === 'new' || this.registrations.length === 0
          ? html`<lti-registration-form
              .client=${this.client}
              .appId=${app.id}
              ?cancellable=${this.registrations.length > 0}
              @lti-registration-saved=${this.#onSaved}
              @lti-cancel=${() => this.#stopEditing('#add')}
            ></lti-registration-form>`
          : html`<button id="add" type="button" @click=${() => this.#startEditing('new')}>Add another registration</button>`}
      </section>
      <lti-confirm-dialog></lti-confirm-dialog>
    `;
  }

  #privateNotice() {
    return html`<div class="notice" id="private-notice">
      <p><strong>LTI sharing needs the app to be public.</strong> Courses cannot launch a private app.</p>
      <div class="switch">
        <input id="make-public" type="checkbox" role="switch" ?disabled=${this.busy} @change=${this.#makePublic}
          aria-describedby="private-notice" />
        <label for="make-public">Public</label>
      </div>
      ${this.switchError ? html`<p class="error" role="alert">${this.switchError}</p>` : nothing}
    </div>`;
  }

  #registration(r: RegistrationFragment) {
    if (this.editing === r.id) {
      return html`<li>
        <lti-registration-form
          .client=${this.client}
          .appId=${this.app.id}
          .registration=${r}
          cancellable
          @lti-registration-saved=${this.#onSaved}
          @lti-cancel=${() => this.#stopEditing(`#edit-${CSS.escape(r.id)}`)}
        ></lti-registration-form>
      </li>`;
    }
    const title = r.label || r.issuer;
    return html`<li class="registration" aria-labelledby="reg-${r.id}">
      <h3 id="reg-${r.id}">${title}</h3>
      <dl>
        ${REGISTRATION_FIELDS.map(
          (f) => html`<dt>${f.label}</dt><dd>${f.key === 'deploymentIds' ? r.deploymentIds.join(', ') : r[f.key]}</dd>`,
        )}
      </dl>
      <div class="actions">
        <button type="button" id="edit-${r.id}" aria-label="Edit ${title}" @click=${() => this.#startEditing(r.id)}>Edit</button>
        <button type="button" aria-label="Remove ${title}" @click=${() => this.#remove(r)}>Remove</button>
      </div>
    </li>`;
  }

  async #makePublic(event: Event): Promise<void> {
    const input = event.target as HTMLInputElement;
    if (!input.checked || !this.client) return;
    this.busy = true;
    this.switchError = '';
    try {
      const { updateApp } = await this.client.request(UpdateAppDocument, { input: { id: this.app.id, isPublic: true } });
      if (updateApp.__typename !== 'AppPayload') throw new Error(updateApp.message);
      this.status = `${updateApp.app.name} is public. Its URLs for Studio are below.`;
      emit(this, 'lti-app-saved', { app: updateApp.app, created: false });
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>('#studio-title')?.setAttribute('tabindex', '-1');
      this.renderRoot.querySelector<HTMLElement>('#studio-title')?.focus();
    } catch (error) {
      input.checked = false;
      if (error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED') return;
      this.switchError = error instanceof ApiError ? describeError(error) : `Could not make it public: ${(error as Error).message}`;
    } finally {
      this.busy = false;
    }
  }

  /** Opens the form for `id` ('new': adding one), once the open form's unsaved input may go. */
  async #startEditing(id: string | 'new'): Promise<void> {
    if (!(await this.#mayDiscard())) return;
    this.editing = id;
    await this.updateComplete;
    this.renderRoot.querySelector('lti-registration-form')?.focus();
  }

  /** True when no form with unsaved input is open, or the owner chose to discard it. */
  async #mayDiscard(): Promise<boolean> {
    const form = this.renderRoot.querySelector<LtiRegistrationForm>('lti-registration-form');
    if (!form?.dirty) return true;
    const editing = this.registrations.find((r) => r.id === this.editing);
    const discard = await this.renderRoot.querySelector<LtiConfirmDialog>('lti-confirm-dialog')!.ask({
      title: editing ? `Discard your changes to ${editing.label || editing.issuer}?` : 'Discard the LTI settings you entered?',
      message: 'What you typed in the form is not saved. To keep it, choose Keep editing, then Save LTI settings.',
      confirmLabel: 'Discard',
      cancelLabel: 'Keep editing',
    });
    // Kept: back to the form (the dialog gave focus to the button that asked to leave it).
    if (!discard && form.isConnected) form.focus();
    return discard;
  }

  async #stopEditing(focusSelector: string): Promise<void> {
    this.editing = null;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(focusSelector)?.focus();
  }

  async #onSaved(event: RegistrationSavedEvent): Promise<void> {
    const { registration, created } = event.detail;
    const title = registration.label || registration.issuer;
    this.status = created ? `Added the LTI settings for ${title}.` : `Saved the LTI settings for ${title}.`;
    const index = this.registrations.findIndex((r) => r.id === registration.id);
    this.#setRegistrations(
      index === -1 ? [...this.registrations, registration] : this.registrations.map((r, i) => (i === index ? registration : r)),
    );
    this.editing = null;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`#edit-${CSS.escape(registration.id)}`)?.focus();
  }

  async #remove(r: RegistrationFragment): Promise<void> {
    const title = r.label || r.issuer;
    const confirmed = await this.renderRoot.querySelector<LtiConfirmDialog>('lti-confirm-dialog')!.ask({
      title: `Remove the LTI settings for ${title}?`,
      message: `Launches from this Studio component (Client ID ${r.clientId}) will be refused, and its launches and grades leave this dashboard (grades already in the Open edX gradebook stay there).`,
      confirmLabel: 'Remove',
    });
    if (!confirmed || !this.client) return;
    this.listError = '';
    try {
      const { removeLtiRegistration } = await this.client.request(RemoveRegistrationDocument, { input: { id: r.id } });
      if (removeLtiRegistration.__typename !== 'RemoveLtiRegistrationPayload') throw new Error(removeLtiRegistration.message);
      this.#setRegistrations(this.registrations.filter((x) => x.id !== r.id));
      this.status = `Removed the LTI settings for ${title}.`;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>('#platform-title')?.setAttribute('tabindex', '-1');
      this.renderRoot.querySelector<HTMLElement>('#platform-title')?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED') return;
      this.listError = error instanceof ApiError ? describeError(error) : `Could not remove it: ${(error as Error).message}`;
    }
  }

  /** The list is the app page's too: it hears of each change, so it does not show a stale one. */
  #setRegistrations(registrations: RegistrationFragment[]): void {
    this.registrations = registrations;
    emit(this, 'lti-registrations-changed', { registrations });
  }
}
