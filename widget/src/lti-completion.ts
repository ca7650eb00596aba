/**
 * Registers `<lti-completion>`. Guarded, so a page that loads this script twice (two copies, or
 * two versions) keeps the first definition instead of throwing.
 *
 * @example
 * <script type="module" src="https://tool.example.org/widget/0.1.0/lti-completion.js"></script>
 * <lti-completion></lti-completion>
 */
import { LtiCompletion } from './internal/lti-completion.ts';

export { LtiCompletion };
export type { LtiCompletionState } from './internal/lti-completion.ts';
export type * from './events.ts';

if (!customElements.get('lti-completion')) {
  customElements.define('lti-completion', LtiCompletion);
}

declare global {
  interface HTMLElementTagNameMap {
    'lti-completion': LtiCompletion;
  }
}
