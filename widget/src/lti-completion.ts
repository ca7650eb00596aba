/**
 * Registers `<lti-completion>`. Guarded, so a page that loads this script twice (two copies, or
 * two versions) keeps the first definition instead of throwing.
 *
 * @example
 * <script type="module" src="https://tool.example.org/widget/0.1.0/lti-completion.js"></script>
 * <lti-completion></lti-completion>
 */
import { takeLaunch } from './internal/launch.ts';
import { LtiCompletion } from './internal/lti-completion.ts';

export { LtiCompletion };
export type { LtiCompletionState } from './internal/lti-completion.ts';
export type * from './events.ts';

// Take the launch now, not when an element connects: an app's router may rewrite the address
// (dropping the fragment) before it renders the view that holds the element.
takeLaunch();

if (!customElements.get('lti-completion')) {
  customElements.define('lti-completion', LtiCompletion);
}

declare global {
  interface HTMLElementTagNameMap {
    'lti-completion': LtiCompletion;
  }
}
