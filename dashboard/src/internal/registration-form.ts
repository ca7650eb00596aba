import { css, html, LitElement, nothing } from 'lit';
import { ApiError, describeError, type ApiClient } from '../api.ts';
import { emit } from '../events.ts';
import { AddRegistrationDocument, UpdateRegistrationDocument, type RegistrationFragment } from '../generated/graphql.ts';
import { checkUrl, describedBy, fieldError } from './dom.ts';
import { REGISTRATION_FIELDS, type RegistrationFieldKey } from './studio.ts';
import { baseStyles } from './styles.ts';

type Field = RegistrationFieldKey | 'label';
const FIELD_ORDER: readonly Field[] = [...REGISTRATION_FIELDS.map((f) => f.key), 'label'];

/** "1" → ["1"]; "1, 2" → ["1", "2"]. */
const splitIds = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/**
 * The LTI settings of one platform placement: the six values Open edX Studio shows, under
 * Studio's names, plus the owner's own label. Adds a registration to `appId`, or edits
 * `registration`. Checks each field when it loses focus and on submit; the API's
 * ValidationError `fields` are shown at their fields too.
 *
 * @fires {RegistrationSavedEvent} lti-registration-saved - Saved.
 * @fires lti-cancel - The Cancel button was pressed.
 */
export class LtiRegistrationForm extends LitElement {
  static override properties = {
    client: { attribute: false },
    appId: { type: String },
    registration: { attribute: false },
    cancellable: { type: Boolean },
    errors: { state: true },
    formError: { state: true },
    busy: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      form {
        padding: 1rem;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
      }
      h3 {
        margin: 0 0 1rem;
        font-size: 1.05rem;
      }
      .grid {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(min(100%, 18rem), 1fr));
        column-gap: 1rem;
      }
      input {
        font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
        font-size: 0.9rem;
      }
      #label {
        font-family: inherit;
      }
      .optional {
        font-weight: 400;
        color: var(--muted);
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare appId: string;
  /** The registration to edit; undefined to add one. */
  declare registration: RegistrationFragment | undefined;
  /** Show a Cancel button. */
  declare cancellable: boolean;
  declare errors: Partial<Record<Field, string>>;
  declare formError: string;
  declare busy: boolean;

  constructor() {
    super();
    this.appId = '';
    this.cancellable = false;
    this.errors = {};
    this.formError = '';
    this.busy = false;
  }

  override firstUpdated(): void {
    const r = this.registration;
    if (!r) return;
    for (const { key } of REGISTRATION_FIELDS) {
      this.#input(key).value = key === 'deploymentIds' ? r.deploymentIds.join(', ') : r[key];
    }
    this.#input('label').value = r.label ?? '';
  }

  /** Whether a field differs from what the form opened with (the registration's values, or empty). */
  get dirty(): boolean {
    const r = this.registration;
    return FIELD_ORDER.some((field) => {
      const input = this.renderRoot.querySelector<HTMLInputElement>(`#${field}`);
      if (!input) return false;
      const initial = !r ? '' : field === 'label' ? (r.label ?? '') : field === 'deploymentIds' ? r.deploymentIds.join(', ') : r[field];
      return input.value.trim() !== initial;
    });
  }

  /** Focuses the first field. */
  override focus(): void {
    void this.updateComplete.then(() => this.#input(FIELD_ORDER[0]!).focus());
  }

  override render() {
    const editing = this.registration !== undefined;
    return html`
      <form novalidate aria-labelledby="form-title" @submit=${this.#submit} @focusout=${this.#onBlur}>
        <h3 id="form-title">${editing ? 'Edit LTI settings' : 'Add LTI settings from Studio'}</h3>
        ${this.formError ? html`<p class="alert" role="alert">${this.formError}</p>` : nothing}
        <div class="grid">
          ${REGISTRATION_FIELDS.map(
            (f) => html`<div class="field">
              <label for=${f.key}>${f.label}</label>
              <p class="hint" id="${f.key}-hint">${f.hint}</p>
              <input
                id=${f.key}
                name=${f.key}
                type="text"
                inputmode=${f.url ? 'url' : 'text'}
                autocomplete="off"
                spellcheck="false"
                required
                aria-describedby=${describedBy(this.errors, f.key)}
                aria-invalid=${this.errors[f.key] ? 'true' : 'false'}
              />
              ${fieldError(this.errors, f.key)}
            </div>`,
          )}
        </div>
        <div class="field">
          <label for="label">Label <span class="optional">(optional)</span></label>
          <p class="hint" id="label-hint">Your own note, e.g. the course. Up to 100 characters.</p>
          <input id="label" name="label" type="text" autocomplete="off" maxlength="100"
            aria-describedby=${describedBy(this.errors, 'label')} aria-invalid=${this.errors.label ? 'true' : 'false'} />
          ${fieldError(this.errors, 'label')}
        </div>
        <div class="actions">
          ${this.cancellable ? html`<button type="button" @click=${() => emit(this, 'lti-cancel', undefined)}>Cancel</button>` : nothing}
          <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Saving…' : 'Save LTI settings'}</button>
        </div>
      </form>
    `;
  }

  #input(field: Field): HTMLInputElement {
    return this.renderRoot.querySelector<HTMLInputElement>(`#${field}`)!;
  }


  /** The client-side check of one field: what is obviously wrong before asking the server. */
  #check(field: Field): string | undefined {
    const value = this.#input(field).value.trim();
    if (field === 'label') return undefined;
    const spec = REGISTRATION_FIELDS.find((f) => f.key === field)!;
    if (spec.url) return checkUrl(value) ?? undefined;
    if (field === 'deploymentIds') return splitIds(value).length ? undefined : 'Required: Open edX shows 1.';
    return value ? undefined : 'Required.';
  }

  // Checks a field when focus leaves it, once it has a value or an error (not while tabbing through).
  #onBlur = (event: FocusEvent): void => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement)) return;
    const field = input.id as Field;
    if (!FIELD_ORDER.includes(field) || (!input.value && !this.errors[field])) return;
    const { [field]: _old, ...rest } = this.errors;
    const problem = this.#check(field);
    this.errors = problem ? { ...rest, [field]: problem } : rest;
  };

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy || !this.client) return;
    const errors: Partial<Record<Field, string>> = {};
    for (const field of FIELD_ORDER) {
      const problem = this.#check(field);
      if (problem) errors[field] = problem;
    }
    this.formError = '';
    if (await this.#showErrors(errors)) return;

    const value = (field: RegistrationFieldKey) => this.#input(field).value.trim();
    const values = {
      issuer: value('issuer'),
      clientId: value('clientId'),
      authLoginUrl: value('authLoginUrl'),
      authTokenUrl: value('authTokenUrl'),
      keysetUrl: value('keysetUrl'),
      deploymentIds: splitIds(value('deploymentIds')),
      label: this.#input('label').value.trim(),
    };
    this.busy = true;
    try {
      const result = this.registration
        ? (await this.client.request(UpdateRegistrationDocument, { input: { id: this.registration.id, ...values } }))
            .updateLtiRegistration
        : (
            await this.client.request(AddRegistrationDocument, {
              input: { appId: this.appId, ...values, label: values.label || null },
            })
          ).addLtiRegistration;
      if (result.__typename === 'LtiRegistrationPayload') {
        emit(this, 'lti-registration-saved', { registration: result.registration, created: !this.registration });
      } else if (result.__typename === 'ValidationError') {
        const fieldErrors: Partial<Record<Field, string>> = {};
        const other: string[] = [];
        for (const problem of result.fields) {
          if ((FIELD_ORDER as readonly string[]).includes(problem.field)) fieldErrors[problem.field as Field] = problem.message;
          else other.push(problem.message);
        }
        this.formError = other.length ? other.join(' ') : Object.keys(fieldErrors).length ? '' : result.message;
        await this.#showErrors(fieldErrors);
      } else {
        this.formError = result.message;
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) this.formError = describeError(error);
    } finally {
      this.busy = false;
    }
  }

  async #showErrors(errors: Partial<Record<Field, string>>): Promise<boolean> {
    this.errors = errors;
    const first = FIELD_ORDER.find((f) => errors[f]);
    if (!first) return false;
    await this.updateComplete;
    this.#input(first).focus();
    return true;
  }
}
