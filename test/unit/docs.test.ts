import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LTI_ERRORS } from '../../server/lti/errors.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('docs stay in step with the code', () => {
  it('docs/lti.md lists every LTI error code with its status and text', () => {
    const doc = read('docs/lti.md');
    for (const [code, [status, title]] of Object.entries(LTI_ERRORS)) {
      expect(doc).toContain(`| \`${code}\` | ${status} | ${title} |`);
    }
  });
});
