import { css, html, LitElement, nothing } from 'lit';
import { describeError, type ApiClient } from '../api.ts';
import { emit } from '../events.ts';
import { CreateAppDocument, UpdateAppDocument, type AppSummaryFragment } from '../generated/graphql.ts';
import { checkUrl, describedBy, fieldError, showModal } from './dom.ts';
import { baseStyles } from './styles.ts';

type Field = 'name' | 'exerciseUrl' | 'isPublic';
const FIELDS: readonly string[] = ['name', 'exerciseUrl', 'isPublic'] satisfies Field[];

/**
 * Create or edit an app in a modal dialog: name, exercise URL, public switch. The API's
 * ValidationError `fields` are shown at their fields; focus goes to the first one in error.
 *
 * @fires {AppSavedEvent} lti-app-saved - The app was created or changed.
 */
export class LtiAppDialog extends LitElement {
  static override properties = {
    client: { attribute: false },
    publicUrl: { attribute: false },
    app: { state: true },
    errors: { state: true },
    formError: { state: true },
    busy: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      .switch-field {
        margin: 0 0 1.25rem;
      }
      code {
        overflow-wrap: anywhere;
      }
    `,
  ];

  declare client: ApiClient | undefined;
  /** The server's PUBLIC_URL, to suggest its demo exercise. */
  declare publicUrl: string;
  /** The app being edited; null when creating one. */
  declare app: AppSummaryFragment | null;
  declare errors: Partial<Record<Field, string>>;
  declare formError: string;
  declare busy: boolean;

  constructor() {
    super();
    this.publicUrl = '';
    this.app = null;
    this.errors = {};
    this.formError = '';
    this.busy = false;
  }

  /**
   * Bumped by each show(): a save that answers after its dialog was closed (Escape) and opened
   * again still reports the app saved, but leaves the new dialog's fields, errors and button alone.
   */
  #opened = 0;

  /** Opens the dialog to create an app (no argument) or edit `app`. */
  async show(app: AppSummaryFragment | null = null): Promise<void> {
    this.#opened += 1;
    this.app = app;
    this.errors = {};
    this.formError = '';
    this.busy = false;
    await this.updateComplete;
    const form = this.renderRoot.querySelector('form')!;
    form.reset();
    this.#input('name').value = app?.name ?? '';
    this.#input('exerciseUrl').value = app?.exerciseUrl ?? '';
    this.#input('isPublic').checked = app?.isPublic ?? false;
    showModal(this.renderRoot.querySelector('dialog')!, this.#input('name'));
  }

  override render() {
    const editing = this.app !== null;
    const demo = this.publicUrl ? `${this.publicUrl}/demo/` : '';
    return html`
      <dialog aria-labelledby="app-title">
        <form novalidate @submit=${this.#submit}>
          <h2 id="app-title">${editing ? 'Edit app' : 'New app'}</h2>
          ${this.formError ? html`<p class="alert" role="alert">${this.formError}</p>` : nothing}
          <div class="field">
            <label for="name">Name</label>
            <p class="hint" id="name-hint">Learners and course teams see it. Up to 200 characters.</p>
            <input id="name" type="text" autocomplete="off" maxlength="200" required
              aria-describedby=${describedBy(this.errors, 'name')} aria-invalid=${this.errors.name ? 'true' : 'false'} />
            ${fieldError(this.errors, 'name')}
          </div>
          <div class="field">
            <label for="exerciseUrl">Exercise URL</label>
            <p class="hint" id="exerciseUrl-hint">
              Where learners land after launching: https (plain http only on localhost).
              ${demo ? html`No exercise yet? Try the demo: <code>${demo}</code>` : nothing}
            </p>
            <input id="exerciseUrl" type="url" inputmode="url" autocomplete="off" spellcheck="false" required
              aria-describedby=${describedBy(this.errors, 'exerciseUrl')} aria-invalid=${this.errors.exerciseUrl ? 'true' : 'false'} />
            ${fieldError(this.errors, 'exerciseUrl')}
          </div>
          <div class="switch-field">
            <div class="switch">
              <input id="isPublic" type="checkbox" role="switch" aria-describedby=${describedBy(this.errors, 'isPublic')} />
              <label for="isPublic">Public</label>
            </div>
            <p class="hint" id="isPublic-hint">Only public apps can be launched from a course over LTI.</p>
            ${fieldError(this.errors, 'isPublic')}
          </div>
          <div class="actions">
            <button type="button" @click=${this.#cancel}>Cancel</button>
            <button class="primary" type="submit" ?disabled=${this.busy}>
              ${this.busy ? 'Saving…' : editing ? 'Save' : 'Create app'}
            </button>
          </div>
        </form>
      </dialog>
    `;
  }

  #input(id: Field): HTMLInputElement {
    return this.renderRoot.querySelector<HTMLInputElement>(`#${id}`)!;
  }


  #cancel(): void {
    this.renderRoot.querySelector('dialog')!.close();
  }

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy || !this.client) return;
    const name = this.#input('name').value.trim();
    const exerciseUrl = this.#input('exerciseUrl').value.trim();
    const isPublic = this.#input('isPublic').checked;
    const errors: Partial<Record<Field, string>> = {};
    if (!name) errors.name = 'Required.';
    const urlProblem = checkUrl(exerciseUrl);
    if (urlProblem) errors.exerciseUrl = urlProblem;
    this.formError = '';
    if (await this.#showErrors(errors)) return;

    const opened = this.#opened;
    const editing = this.app;
    this.busy = true;
    try {
      const result = editing
        ? (await this.client.request(UpdateAppDocument, { input: { id: editing.id, name, exerciseUrl, isPublic } })).updateApp
        : (await this.client.request(CreateAppDocument, { input: { name, exerciseUrl, isPublic } })).createApp;
      if (result.__typename === 'AppPayload') {
        if (opened === this.#opened) this.renderRoot.querySelector('dialog')!.close();
        emit(this, 'lti-app-saved', { app: result.app, created: editing === null });
        return;
      }
      if (opened !== this.#opened) return;
      if (result.__typename === 'ValidationError') {
        const fieldErrors: Partial<Record<Field, string>> = {};
        const other: string[] = [];
        for (const problem of result.fields) {
          if (FIELDS.includes(problem.field)) fieldErrors[problem.field as Field] = problem.message;
          else other.push(problem.message);
        }
        this.formError = other.length ? other.join(' ') : '';
        await this.#showErrors(fieldErrors);
        if (!Object.keys(fieldErrors).length && !other.length) this.formError = result.message;
      } else {
        this.formError = result.message;
      }
    } catch (error) {
      if (opened === this.#opened) this.formError = describeError(error);
    } finally {
      if (opened === this.#opened) this.busy = false;
    }
  }

  /** Shows the errors and focuses the first field in error; true when there are any. */
  async #showErrors(errors: Partial<Record<Field, string>>): Promise<boolean> {
    this.errors = errors;
    const first = (['name', 'exerciseUrl', 'isPublic'] as const).find((f) => errors[f]);
    if (!first) return false;
    await this.updateComplete;
    this.#input(first).focus();
    return true;
  }
}
