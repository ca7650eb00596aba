import { css, html, LitElement } from 'lit';
import { showModal } from './dom.ts';
import { baseStyles } from './styles.ts';

export interface ConfirmOptions {
  title: string;
  message: string;
  /** Text of the confirming (destructive) button, e.g. "Delete app". */
  confirmLabel: string;
  /** Text of the safe button: "Cancel" unless given, e.g. "Keep editing". */
  cancelLabel?: string;
}

/**
 * A modal confirmation for destructive actions. `ask()` resolves true only when the owner
 * presses the confirming button; Cancel (or its `cancelLabel`) and Escape resolve false. Cancel has the initial focus,
 * and focus returns to whatever had it before (e.g. the menu button).
 */
export class LtiConfirmDialog extends LitElement {
  static override properties = { options: { attribute: false } };

  static override styles = [
    baseStyles,
    css`
      p {
        margin: 0 0 1.25rem;
        overflow-wrap: anywhere;
      }
    `,
  ];

  declare options: ConfirmOptions;
  #resolve: ((confirmed: boolean) => void) | undefined;

  constructor() {
    super();
    this.options = { title: '', message: '', confirmLabel: 'OK' };
  }

  async ask(options: ConfirmOptions): Promise<boolean> {
    this.#resolve?.(false);
    this.options = options;
    await this.updateComplete;
    const dialog = this.renderRoot.querySelector('dialog')!;
    return new Promise<boolean>((resolve) => {
      this.#resolve = resolve;
      showModal(dialog, dialog.querySelector<HTMLButtonElement>('#cancel'));
    });
  }

  override render() {
    return html`
      <dialog aria-labelledby="confirm-title" aria-describedby="confirm-message" @close=${this.#onClose}>
        <form method="dialog">
          <h2 id="confirm-title">${this.options.title}</h2>
          <p id="confirm-message">${this.options.message}</p>
          <div class="actions">
            <button id="cancel" value="cancel">${this.options.cancelLabel ?? 'Cancel'}</button>
            <button id="confirm" class="danger" value="confirm">${this.options.confirmLabel}</button>
          </div>
        </form>
      </dialog>
    `;
  }

  #onClose(event: Event): void {
    const dialog = event.currentTarget as HTMLDialogElement;
    const confirmed = dialog.returnValue === 'confirm';
    dialog.returnValue = '';
    this.#resolve?.(confirmed);
    this.#resolve = undefined;
  }
}
