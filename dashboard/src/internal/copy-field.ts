import { css, html, LitElement, nothing } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { baseStyles } from './styles.ts';

/**
 * A read-only value with a label and a Copy button (e.g. a URL to paste into Studio). Copies with
 * the Clipboard API, or by selecting the text and `execCommand('copy')` where that is refused;
 * the outcome is announced in a live region (each time: copying the same field again soon after
 * says so again), and shown (on the button, or as advice under the field when the browser refused
 * both).
 */
export class LtiCopyField extends LitElement {
  static override properties = {
    label: { type: String },
    value: { type: String },
    hint: { type: String },
    multiline: { type: Boolean },
    copied: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .row {
        display: flex;
        gap: 0.5rem;
        align-items: flex-start;
      }
      input,
      textarea {
        flex: 1;
        min-width: 0;
        font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
        font-size: 0.875rem;
        background: #f6f8fa;
      }
      textarea {
        resize: vertical;
        /* Grows with the (wrapped) snippet where supported; rows otherwise. */
        field-sizing: content;
      }
      button {
        flex: none;
        min-width: 5.5rem;
      }
    `,
  ];

  declare label: string;
  declare value: string;
  /** Shown under the label. */
  declare hint: string;
  /** A textarea (wrapping) instead of a one-line input, e.g. for a code snippet. */
  declare multiline: boolean;
  declare copied: 'yes' | 'manual' | '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Counts the tries: each one's message is a new node in the live region, so it is announced even when the text is the same. */
  #tries = 0;

  constructor() {
    super();
    this.label = '';
    this.value = '';
    this.hint = '';
    this.multiline = false;
    this.copied = '';
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#timer);
  }

  override render() {
    const describedBy = this.hint ? 'hint' : nothing;
    return html`
      <label for="value">${this.label}</label>
      ${this.hint ? html`<p class="hint" id="hint">${this.hint}</p>` : nothing}
      <div class="row">
        ${this.multiline
          ? html`<textarea id="value" readonly spellcheck="false" rows=${this.value.split('\n').length + 2}
              aria-describedby=${describedBy} .value=${this.value}></textarea>`
          : html`<input id="value" type="text" readonly spellcheck="false" aria-describedby=${describedBy}
              .value=${this.value} @focus=${(e: Event) => (e.target as HTMLInputElement).select()} />`}
        <button type="button" @click=${this.#copy}>
          ${this.copied === 'yes' ? 'Copied' : 'Copy'}<span class="visually-hidden"> ${this.label}</span>
        </button>
      </div>
      <p class=${this.copied === 'manual' ? 'hint' : 'visually-hidden'} role="status">
        ${keyed(
          this.#tries,
          html`<span>${this.copied === 'yes'
            ? `${this.label} copied to the clipboard.`
            : this.copied === 'manual'
              ? `Could not copy: ${this.label} is selected, press Control+C (or Command+C) to copy it.`
              : ''}</span>`,
        )}
      </p>
    `;
  }

  async #copy(): Promise<void> {
    let copied = false;
    try {
      await navigator.clipboard.writeText(this.value);
      copied = true;
    } catch {
      const field = this.renderRoot.querySelector<HTMLInputElement | HTMLTextAreaElement>('#value')!;
      field.focus();
      field.select();
      try {
        copied = document.execCommand('copy');
      } catch {
        copied = false;
      }
    }
    this.copied = copied ? 'yes' : 'manual';
    this.#tries += 1;
    this.requestUpdate();
    clearTimeout(this.#timer);
    // "Copied" goes after a moment; what to do instead stays in sight until the next try.
    if (copied) this.#timer = setTimeout(() => (this.copied = ''), 3000);
  }
}
