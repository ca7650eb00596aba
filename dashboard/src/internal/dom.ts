import { html, nothing } from 'lit';

/** The focused element, looking inside shadow roots (document.activeElement stops at the host). */
export function deepActiveElement(root: Document | ShadowRoot = document): HTMLElement | null {
  let active = root.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active instanceof HTMLElement ? active : null;
}

/**
 * Opens a native modal `<dialog>` and, when it closes (Escape, a button, or `close()`), puts
 * focus back where it was: usually the button or menu that opened it. That happens before the
 * dialog's own `close` listeners (a capturing listener on the target runs first), so code that
 * awaits the dialog's answer can move focus on from there (e.g. back into a form).
 */
export function showModal(dialog: HTMLDialogElement, initialFocus?: HTMLElement | null): void {
  const returnTo = deepActiveElement();
  dialog.addEventListener(
    'close',
    () => {
      if (returnTo?.isConnected) returnTo.focus();
    },
    { once: true, capture: true },
  );
  dialog.showModal();
  initialFocus?.focus();
}

/**
 * A first check of a URL field before sending: present, absolute, http(s). The server has the
 * last word (https outside loopback, length, …) and its messages are shown at the same place.
 */
export function checkUrl(value: string): string | null {
  const v = value.trim();
  if (!v) return 'Required.';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'Enter a full URL, starting with https://';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'Enter a full URL, starting with https://';
  return null;
}

/** Reads a `<meta name="…" content="…">` the server filled in; '' when absent. */
export function metaContent(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A short local date and time for an ISO 8601 instant. */
export function formatTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

/** `aria-describedby` for a form field: its hint, and its error when it has one. */
export function describedBy(errors: Partial<Record<string, string>>, field: string): string {
  return errors[field] ? `${field}-hint ${field}-error` : `${field}-hint`;
}

/** The error line under a form field (referenced by `describedBy`), or nothing. */
export function fieldError(errors: Partial<Record<string, string>>, field: string) {
  const message = errors[field];
  return message ? html`<p class="error" id="${field}-error">${message}</p>` : nothing;
}
