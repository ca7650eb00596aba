import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('PUBLIC_URL problems never repeat a password put in it', () => {
  it.each([
    'http://admin:hunter2secret@tool.example.org',
    'ftp://admin:hunter2secret@tool.example.org',
    'https://admin:hunter2secret@[tool.example.org',
    'https://admin:hunter2secret@tool.example.org/',
  ])('%s', (url) => {
    const found = problems({ PUBLIC_URL: url });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^PUBLIC_URL /);
    expect(found.join('\n')).not.toContain('hunter2secret');
  });

  it('still names the value when it holds no credentials', () => {
    expect(problems({ PUBLIC_URL: 'http://192.168.1.10' })).toEqual([
      'PUBLIC_URL must use https unless its host is loopback (LMSs require https launch URLs), got "http://192.168.1.10"',
    ]);
  });
});
