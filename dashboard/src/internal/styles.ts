import { css } from 'lit';

/** Shared by every element: form controls, buttons, badges, focus ring, errors. */
export const baseStyles = css`
  :host {
    --accent: #0b5cad;
    --accent-dark: #084a8c;
    --danger: #b42318;
    --ok: #1a7f37;
    --warn-bg: #fff8c5;
    --warn-border: #d4a72c;
    --muted: #59636e;
    --border: #d0d7de;
    --surface: #fff;
    --radius: 0.5rem;
    box-sizing: border-box;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  [hidden] {
    display: none !important;
  }
  h1,
  h2,
  h3 {
    line-height: 1.25;
  }
  a {
    color: var(--accent);
  }
  button,
  input,
  select,
  textarea {
    font: inherit;
    color: inherit;
  }
  button {
    min-height: 2.5rem;
    padding: 0.45rem 1rem;
    border: 1px solid var(--border);
    border-radius: var(--radius);
    background: var(--surface);
    cursor: pointer;
  }
  button:hover {
    background: #f3f4f6;
  }
  button.primary {
    border-color: var(--accent);
    background: var(--accent);
    color: #fff;
  }
  button.primary:hover {
    background: var(--accent-dark);
  }
  button.danger {
    border-color: var(--danger);
    background: var(--danger);
    color: #fff;
  }
  button.danger:hover {
    background: #912018;
  }
  button[disabled] {
    opacity: 0.6;
    cursor: default;
  }
  a:focus-visible,
  button:focus-visible,
  input:focus-visible,
  textarea:focus-visible,
  [tabindex]:focus-visible {
    outline: 3px solid var(--accent);
    outline-offset: 2px;
  }
  h1[tabindex='-1']:focus,
  h2[tabindex='-1']:focus,
  main[tabindex='-1']:focus {
    outline: none;
  }
  input[type='text'],
  input[type='url'],
  input[type='password'],
  textarea {
    display: block;
    width: 100%;
    min-height: 2.5rem;
    padding: 0.45rem 0.6rem;
    border: 1px solid #8c959f;
    border-radius: var(--radius);
    background: var(--surface);
  }
  input[aria-invalid='true'] {
    border-color: var(--danger);
    box-shadow: inset 0 0 0 1px var(--danger);
  }
  label {
    display: block;
    font-weight: 600;
  }
  .field {
    margin: 0 0 1rem;
  }
  .hint {
    margin: 0.15rem 0 0.35rem;
    color: var(--muted);
    font-size: 0.875rem;
    overflow-wrap: anywhere;
  }
  .error {
    margin: 0.35rem 0 0;
    color: var(--danger);
    font-size: 0.875rem;
    font-weight: 600;
  }
  .alert {
    margin: 0 0 1rem;
    padding: 0.75rem 1rem;
    border: 1px solid var(--danger);
    border-radius: var(--radius);
    background: #fff1f0;
    color: var(--danger);
  }
  .notice {
    margin: 0 0 1rem;
    padding: 0.75rem 1rem;
    border: 1px solid var(--warn-border);
    border-radius: var(--radius);
    background: var(--warn-bg);
  }
  .badge {
    display: inline-block;
    padding: 0 0.5rem;
    border: 1px solid currentColor;
    border-radius: 999px;
    font-size: 0.8rem;
    font-weight: 600;
    white-space: nowrap;
  }
  .badge.public {
    color: var(--ok);
  }
  .badge.private {
    color: var(--muted);
  }
  .muted {
    color: var(--muted);
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    justify-content: flex-end;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  .switch {
    display: flex;
    align-items: center;
    gap: 0.6rem;
    font-weight: 600;
  }
  .switch input {
    appearance: none;
    flex: none;
    position: relative;
    width: 2.75rem;
    height: 1.5rem;
    margin: 0;
    border: 1px solid #8c959f;
    border-radius: 999px;
    background: #d0d7de;
    cursor: pointer;
  }
  .switch input::before {
    content: '';
    position: absolute;
    top: 0.125rem;
    left: 0.125rem;
    width: 1.125rem;
    height: 1.125rem;
    border-radius: 50%;
    background: #fff;
    transition: transform 0.15s;
  }
  .switch input:checked {
    border-color: var(--ok);
    background: var(--ok);
  }
  .switch input:checked::before {
    transform: translateX(1.25rem);
  }
  .switch input:focus-visible {
    outline: 3px solid var(--accent);
    outline-offset: 2px;
  }
  dialog {
    width: min(34rem, calc(100vw - 1rem));
    max-height: calc(100vh - 1rem);
    padding: 1.25rem;
    border: 1px solid var(--border);
    border-radius: 0.75rem;
    background: var(--surface);
    color: inherit;
    overflow: auto;
  }
  dialog::backdrop {
    background: rgb(0 0 0 / 0.45);
  }
  dialog h2 {
    margin: 0 0 1rem;
    font-size: 1.25rem;
  }
  @media (prefers-reduced-motion: reduce) {
    .switch input::before {
      transition: none;
    }
  }
`;
