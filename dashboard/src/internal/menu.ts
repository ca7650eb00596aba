import { css, html, LitElement, nothing } from 'lit';
import { emit } from '../events.ts';
import { baseStyles } from './styles.ts';

export interface MenuItem {
  value: string;
  label: string;
  danger?: boolean;
}

/**
 * A "kebab" menu button (WAI-ARIA menu button pattern). The button opens the menu with a click,
 * Enter, Space or ArrowDown (first item) / ArrowUp (last item). In the menu, ArrowUp/ArrowDown
 * move (wrapping), Home/End jump, Enter/Space choose, Escape closes and returns to the button,
 * Tab closes. Choosing an item closes the menu, focuses the button, then dispatches
 * `lti-menu-select`, so a dialog opened in response returns focus to the button.
 *
 * @fires {MenuSelectEvent} lti-menu-select - An item was chosen.
 */
export class LtiMenu extends LitElement {
  static override properties = {
    label: { type: String },
    items: { attribute: false },
    open: { type: Boolean, reflect: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: inline-block;
        position: relative;
      }
      .trigger {
        display: inline-grid;
        place-items: center;
        width: 2.5rem;
        padding: 0;
        border-color: transparent;
        background: transparent;
      }
      .trigger:hover,
      :host([open]) .trigger {
        background: #eaeef2;
      }
      [role='menu'] {
        position: absolute;
        z-index: 10;
        top: calc(100% + 0.25rem);
        right: 0;
        min-width: 10rem;
        margin: 0;
        padding: 0.25rem;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
        box-shadow: 0 8px 24px rgb(0 0 0 / 0.15);
      }
      [role='menuitem'] {
        display: block;
        width: 100%;
        border: 0;
        border-radius: 0.35rem;
        text-align: left;
        background: transparent;
      }
      [role='menuitem']:hover,
      [role='menuitem']:focus {
        background: #e7f0fb;
      }
      [role='menuitem'].destructive {
        color: var(--danger);
      }
    `,
  ];

  /** Accessible name of the button and the menu, e.g. "Actions for Fractions". */
  declare label: string;
  declare items: MenuItem[];
  /** Whether the menu is showing. */
  declare open: boolean;

  constructor() {
    super();
    this.label = 'Actions';
    this.items = [];
    this.open = false;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('pointerdown', this.#onOutsidePointer, true);
  }

  override render() {
    return html`
      <button
        class="trigger"
        id="trigger"
        type="button"
        aria-haspopup="menu"
        aria-expanded=${this.open ? 'true' : 'false'}
        aria-controls="menu"
        aria-label=${this.label}
        @click=${() => (this.open ? this.#close(true) : this.#openMenu(0))}
        @keydown=${this.#onTriggerKey}
      >
        <svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
          <circle cx="10" cy="4" r="1.8" fill="currentColor" />
          <circle cx="10" cy="10" r="1.8" fill="currentColor" />
          <circle cx="10" cy="16" r="1.8" fill="currentColor" />
        </svg>
      </button>
      <div id="menu" role="menu" aria-label=${this.label} ?hidden=${!this.open} @keydown=${this.#onMenuKey} @focusout=${this.#onFocusOut}>
        ${this.open
          ? this.items.map(
              (item) => html`<button
                role="menuitem"
                type="button"
                tabindex="-1"
                class=${item.danger ? 'destructive' : nothing}
                @click=${() => this.#choose(item)}
              >
                ${item.label}
              </button>`,
            )
          : nothing}
      </div>
    `;
  }

  #menuItems(): HTMLButtonElement[] {
    return [...this.renderRoot.querySelectorAll<HTMLButtonElement>('[role="menuitem"]')];
  }

  async #openMenu(index: number): Promise<void> {
    this.open = true;
    document.addEventListener('pointerdown', this.#onOutsidePointer, true);
    await this.updateComplete;
    const items = this.#menuItems();
    items.at(index)?.focus();
  }

  #close(focusTrigger: boolean): void {
    if (!this.open) return;
    this.open = false;
    document.removeEventListener('pointerdown', this.#onOutsidePointer, true);
    if (focusTrigger) this.renderRoot.querySelector<HTMLButtonElement>('#trigger')?.focus();
  }

  #choose(item: MenuItem): void {
    this.#close(true);
    emit(this, 'lti-menu-select', { value: item.value });
  }

  #onTriggerKey = (event: KeyboardEvent): void => {
    // Enter and Space click the button (which opens the menu on its first item).
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      void this.#openMenu(0);
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      void this.#openMenu(-1);
    } else if (event.key === 'Escape' && this.open) {
      event.preventDefault();
      this.#close(true);
    }
  };

  #onMenuKey = (event: KeyboardEvent): void => {
    const items = this.#menuItems();
    const current = items.indexOf((this.renderRoot as ShadowRoot).activeElement as HTMLButtonElement);
    const move = (to: number) => {
      event.preventDefault();
      items.at(to % items.length)?.focus();
    };
    switch (event.key) {
      case 'ArrowDown':
        return move(current + 1);
      case 'ArrowUp':
        return move(current - 1);
      case 'Home':
        return move(0);
      case 'End':
        return move(-1);
      case 'Escape':
        event.preventDefault();
        event.stopPropagation(); // not the dialog or page around us
        return this.#close(true);
      case 'Tab':
        return this.#close(false);
      default:
        if (event.key.length === 1 && /\S/.test(event.key)) {
          // Type-ahead: the next item starting with that letter.
          const key = event.key.toLowerCase();
          const order = [...items.slice(current + 1), ...items.slice(0, current + 1)];
          const next = order.find((b) => b.textContent?.trim().toLowerCase().startsWith(key));
          if (next) {
            event.preventDefault();
            next.focus();
          }
        }
    }
  };

  #onFocusOut = (event: FocusEvent): void => {
    const to = event.relatedTarget as Node | null;
    if (to && this.renderRoot.contains(to)) return;
    this.#close(false);
  };

  #onOutsidePointer = (event: PointerEvent): void => {
    if (!event.composedPath().includes(this)) this.#close(false);
  };
}
