/**
 * widget/custom-elements.json is committed (editors and docs tools read it): it must describe
 * the element as the code has it. Regenerate with `npm run widget:manifest`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outdir = mkdtempSync(join(tmpdir(), 'cem-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

test('widget/custom-elements.json is up to date with the widget source', async () => {
  // The analyzer joins --outdir to the working directory, so it gets a relative path.
  await promisify(execFile)(
    join(root, 'node_modules/.bin/cem'),
    ['analyze', '--config', 'widget/custom-elements-manifest.config.mjs', '--outdir', relative(root, outdir), '--quiet'],
    { cwd: root },
  );
  const fresh = JSON.parse(readFileSync(join(outdir, 'custom-elements.json'), 'utf8'));
  const committed = JSON.parse(readFileSync(join(root, 'widget/custom-elements.json'), 'utf8'));
  expect(committed, 'stale: run `npm run widget:manifest` and commit the result').toEqual(fresh);

  const element = committed.modules.flatMap((m: { declarations: unknown[] }) => m.declarations).find(
    (d: { tagName?: string }) => d.tagName === 'lti-completion',
  );
  expect(element).toMatchObject({
    name: 'LtiCompletion',
    customElement: true,
    attributes: [{ name: 'label' }, { name: 'server' }, { name: 'auto' }],
    events: [{ name: 'lti-completion-recorded' }, { name: 'lti-completion-error' }],
    slots: [{ name: '' }],
  });
  expect(element.members.map((m: { name: string }) => m.name)).toEqual(['label', 'server', 'auto', 'state', 'complete']);
  expect(element.cssParts.map((p: { name: string }) => p.name)).toEqual(['button', 'retry', 'status']);
});
