/** Builds the completion widget for the browser tests when widget/dist is stale. */
import { buildIfStale } from '../helpers/build-if-stale.ts';

export default function setup(): void {
  buildIfStale('build:widget', 'widget/dist/lti-completion.js', ['widget/src', 'widget/vite.config.ts']);
}
