import { css, html, LitElement, nothing } from 'lit';
import type { LtiCompletionErrorDetail, LtiCompletionRecordedDetail } from '../events.ts';
import { type Launch, normalizeServer, takeLaunch } from './launch.ts';
import { postCompletion, withRetries } from './post-completion.ts';

/**
 * - `idle`: ready to send.
 * - `no_launch`: the page was not opened from a course (no credential, or no server to send to).
 * - `sending`: a request, or a wait before retrying one, is in progress.
 * - `recorded`: the server recorded the completion.
 * - `failed`: the last attempt failed; `complete()` (or the Retry button, when shown) tries again.
 */
export type LtiCompletionState = 'idle' | 'no_launch' | 'sending' | 'recorded' | 'failed';

/** Waits before the 2nd, 3rd and 4th attempt after a network error, HTTP 429 or 5xx (Retry-After if longer). */
const RETRY_DELAYS_MS = [500, 1000, 2000] as const;

const STATUS_TEXT: Record<LtiCompletionState, string> = {
  idle: '',
  no_launch: 'Open this exercise from your course to record your completion.',
  sending: 'Sending…',
  recorded: 'Recorded. You can close this page.',
  failed: 'Could not record your completion.',
};
const EXPIRED_TEXT = ' This launch has expired or is not valid: open the exercise again from your course.';

/**
 * Tells the LTI tool server that the learner finished the exercise on this page.
 *
 * The page must have been opened from a course: the server's launch redirect puts a credential
 * and the server's URL in the fragment (`#lti_launch=…&lti_server=…`). The element takes them,
 * removes them from the address bar and keeps them in sessionStorage for reloads in the same tab.
 *
 * @summary Reports "exercise finished" to the LTI tool server.
 * @tag lti-completion
 *
 * @slot - The finish control. Defaults to a "Finish" button; clicking any slotted element with a
 *   `data-complete` attribute (or inside one) calls `complete()`.
 *
 * @csspart button - The default Finish button and the Retry button.
 * @csspart retry - The Retry button (also has the `button` part).
 * @csspart status - The status text, an `aria-live="polite"` region.
 *
 * @cssprop [--lti-completion-accent=#0b5cad] - Button background and focus ring.
 * @cssprop [--lti-completion-accent-contrast=#fff] - Button text.
 * @cssprop [--lti-completion-radius=0.375em] - Button corner radius.
 * @cssprop [--lti-completion-success=#1a7f37] - Status text once recorded.
 * @cssprop [--lti-completion-error=#b42318] - Status text when failed or not launched from a course.
 *
 * @fires {CustomEvent<LtiCompletionRecordedDetail>} lti-completion-recorded - The server recorded the completion (also when it was already recorded).
 * @fires {CustomEvent<LtiCompletionErrorDetail>} lti-completion-error - Completion could not be recorded; `detail.code` says why, `detail.retryable` whether trying again may help. Sent once per `complete()`, after automatic retries.
 */
export class LtiCompletion extends LitElement {
  static override properties = {
    label: { type: String },
    server: { type: String },
    auto: { type: Boolean },
  };

  /** `element.focus()` focuses the default Finish button (a slotted control: focus it yourself). */
  static override shadowRootOptions: ShadowRootInit = { ...LitElement.shadowRootOptions, delegatesFocus: true };

  static override styles = css`
    :host {
      display: block;
      --_accent: var(--lti-completion-accent, #0b5cad);
    }
    :host([hidden]) {
      display: none;
    }
    button {
      font: inherit;
      padding: 0.5em 1.2em;
      border: 0;
      border-radius: var(--lti-completion-radius, 0.375em);
      background: var(--_accent);
      color: var(--lti-completion-accent-contrast, #fff);
      cursor: pointer;
    }
    button:focus-visible {
      outline: 2px solid var(--_accent);
      outline-offset: 2px;
    }
    button[aria-disabled='true'] {
      opacity: 0.6;
      cursor: default;
    }
    p {
      margin: 0.5em 0;
    }
    .idle {
      margin: 0;
    }
    .recorded {
      color: var(--lti-completion-success, #1a7f37);
    }
    .failed,
    .no_launch {
      color: var(--lti-completion-error, #b42318);
    }
  `;

  /** Text of the default Finish button. */
  declare label: string;
  /**
   * Server to report to (origin plus base path, e.g. `https://tool.example.org`; a relative URL
   * is resolved against the page). Overrides the one from the launch fragment; only needed when
   * the fragment has none.
   */
  declare server: string | undefined;
  /** Report completion as soon as the element is on the page (when it has a launch). */
  declare auto: boolean;

  // Internal state is private and re-renders through #set, so it stays out of the public API.
  #state: Exclude<LtiCompletionState, 'no_launch'> = 'idle';
  #error: LtiCompletionErrorDetail | null = null;
  #launch: Launch | null = null;
  #pending: Promise<void> | null = null;

  constructor() {
    super();
    this.label = 'Finish';
    this.auto = false;
  }

  /** Where the element stands; see {@link LtiCompletionState}. */
  get state(): LtiCompletionState {
    return this.#state === 'idle' && !this.#target() ? 'no_launch' : this.#state;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // A new launch in the fragment replaces the one this element already holds.
    this.#launch = takeLaunch() ?? this.#launch;
    this.requestUpdate();
    if (this.auto && this.state === 'idle') void this.complete();
  }

  /**
   * Reports completion: sends it (retrying network errors, HTTP 429 and 5xx up to 3 times, after
   * 0.5, 1 and 2 s, or after Retry-After up to 60 s when longer), then dispatches
   * `lti-completion-recorded` or `lti-completion-error`.
   * Resolves when done and never rejects: read the events or `state`. While sending, further
   * calls return the same promise; once recorded, they do nothing.
   */
  complete(): Promise<void> {
    return (this.#pending ??= this.#complete().finally(() => {
      this.#pending = null;
    }));
  }

  async #complete(): Promise<void> {
    if (this.#state === 'recorded') return;
    const target = this.#target();
    if (!target) {
      this.#set('idle', {
        code: 'no_launch',
        message: this.#launch ? 'No server: set the server attribute.' : 'No launch credential.',
        retryable: false,
      });
      return;
    }
    // Keeps a retryable #error: the Retry button stays (inactive), so its keyboard focus does too.
    this.#state = 'sending';
    this.requestUpdate();
    // The first try is sent with keepalive, so closing or leaving the page right after Finish
    // does not cancel it; the retries are sent without, in case a browser refuses keepalive
    // with a CORS preflight (the first try then fails as a network error, and the retry goes).
    const result = await withRetries((attempt) => postCompletion(target.server, target.credential, { keepalive: !attempt }), RETRY_DELAYS_MS);
    if (result.ok) {
      this.#set('recorded', null);
      this.#emit<LtiCompletionRecordedDetail>('lti-completion-recorded', result.recorded);
    } else {
      this.#set('failed', result.error);
    }
  }

  #set(state: Exclude<LtiCompletionState, 'no_launch'>, error: LtiCompletionErrorDetail | null): void {
    this.#state = state;
    this.#error = error;
    this.requestUpdate();
    if (error) this.#emit<LtiCompletionErrorDetail>('lti-completion-error', error);
  }

  #target(): { credential: string; server: string } | null {
    // Not connected yet (complete() on an element made by script): take the launch now.
    const launch = (this.#launch ??= takeLaunch());
    const server = normalizeServer(this.server) ?? launch?.server;
    return launch && server ? { credential: launch.credential, server } : null;
  }

  #emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }

  #onSlotClick(event: Event): void {
    for (const node of event.composedPath()) {
      if (node === event.currentTarget) return;
      if (node instanceof Element && node.hasAttribute('data-complete')) {
        void this.complete();
        return;
      }
    }
  }

  override render() {
    const state = this.state;
    const error = this.#error;
    const inactive = state === 'sending' || state === 'recorded';
    const expired = state === 'failed' && error?.code === 'invalid_credential';
    return html`
      <slot @click=${this.#onSlotClick}>
        <button part="button" type="button" data-complete aria-disabled=${inactive ? 'true' : 'false'}>${this.label}</button>
      </slot>
      <p part="status" class=${state} role="status" aria-live="polite">${STATUS_TEXT[state]}${expired ? EXPIRED_TEXT : ''}</p>
      ${error?.retryable
        ? html`<button part="button retry" type="button" aria-disabled=${state === 'sending'} @click=${this.complete}>Retry</button>`
        : nothing}
    `;
  }
}
