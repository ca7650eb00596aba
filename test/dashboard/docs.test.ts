/**
 * The README's "Connect an app to Open edX" tables say exactly what the dashboard shows: the
 * Studio settings beside the three URLs, and the six Studio values with their hints.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REGISTRATION_FIELDS, STUDIO_SETTINGS } from '../../dashboard/src/internal/studio.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Connect an app to Open edX'), readme.indexOf('## Tests'));

describe('README: Connect an app to Open edX', () => {
  it('lists the Studio settings the LTI tab shows, in its order and words', () => {
    const rows = section.split('\n').filter((line) => /^\s*\| /.test(line));
    const settings = STUDIO_SETTINGS.map((s) =>
      'tool' in s ? expect.stringMatching(new RegExp(`^\\s*\\| ${s.setting} \\| copy it from the dashboard: .*App\\.ltiTool\\.${s.tool}`)) : `   | ${s.setting} | ${s.value} |`,
    );
    const start = rows.findIndex((r) => r.includes('| LTI Version |'));
    expect(rows.slice(start, start + STUDIO_SETTINGS.length)).toEqual(settings);
  });

  it('lists the six values Studio shows under the names and hints of the LTI settings form', () => {
    for (const field of REGISTRATION_FIELDS) {
      expect(section).toContain(`   | ${field.label} | ${field.hint} | \`${field.key}`);
    }
  });
});
