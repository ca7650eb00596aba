import { css, html, LitElement, nothing } from 'lit';
import { emit } from '../events.ts';
import { baseStyles } from './styles.ts';

/**
 * The sign-in form: one API token. Dispatches `lti-sign-in`; the dashboard checks the token and
 * sets `error` (and `busy`) while it does.
 *
 * @fires {SignInEvent} lti-sign-in - The owner submitted a token.
 */
export class LtiSignIn extends LitElement {
  static override properties = {
    error: { type: String },
    notice: { type: String },
    busy: { type: Boolean },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        max-width: 28rem;
        margin: 3rem auto;
        padding: 0 1rem;
      }
      form {
        padding: 1.5rem;
        border: 1px solid var(--border);
        border-radius: 0.75rem;
        background: var(--surface);
      }
      h1 {
        margin: 0 0 1rem;
        font-size: 1.5rem;
      }
      code {
        overflow-wrap: anywhere;
      }
    `,
  ];

  /** Why the last sign-in failed, shown at the token field. */
  declare error: string;
  /**
   * Why the owner is back here (e.g. their token was revoked), shown above the form. A live region
   * inserted with its text is often not read, so it also describes the token field, which has focus.
   */
  declare notice: string;
  declare busy: boolean;

  constructor() {
    super();
    this.error = '';
    this.notice = '';
    this.busy = false;
  }

  override render() {
    return html`
      <form novalidate @submit=${this.#submit}>
        <h1 id="title" tabindex="-1">Sign in to LTI micro-apps</h1>
        ${this.notice ? html`<p class="notice" id="notice" role="status">${this.notice}</p>` : nothing}
        <div class="field">
          <label for="token">API token</label>
          <p class="hint" id="token-hint">
            Starts with <code>lmt_</code>. The server prints one at its first start; make more with
            <code>npm run token -- create</code>.
          </p>
          <input
            id="token"
            name="token"
            type="password"
            autocomplete="off"
            spellcheck="false"
            required
            aria-describedby="${this.notice ? 'notice ' : ''}token-hint${this.error ? ' token-error' : ''}"
            aria-invalid=${this.error ? 'true' : 'false'}
          />
          ${this.error ? html`<p class="error" id="token-error" role="alert">${this.error}</p>` : nothing}
        </div>
        <div class="actions">
          <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Signing in…' : 'Sign in'}</button>
        </div>
      </form>
    `;
  }

  override firstUpdated(): void {
    this.focus();
  }

  /** Focuses the token field (after signing out, or when the token was refused). */
  override focus(): void {
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLInputElement>('#token')?.focus());
  }

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    if (this.busy) return;
    const input = this.renderRoot.querySelector<HTMLInputElement>('#token')!;
    const token = input.value.trim();
    if (!token) {
      this.error = 'Enter your API token.';
      input.focus();
      return;
    }
    emit(this, 'lti-sign-in', { token });
  }
}
