/** Builds the owner dashboard for the browser tests when dashboard/dist is stale. */
import { buildIfStale } from '../helpers/build-if-stale.ts';

export default function setup(): void {
  buildIfStale('build:dashboard', 'dashboard/dist/index.html', ['dashboard/src', 'dashboard/index.html', 'dashboard/vite.config.ts']);
}
