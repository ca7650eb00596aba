/**
 * Makes the run's log directory (test/helpers/test-logger.ts writes into it) and, when the
 * run ends, scans it for secrets. Vitest only logs a teardown's exception, so a finding also
 * sets the exit code and is added to the JSON report (when one is written) as a failed
 * "file": `.ci/summarize.mjs` then counts it among the failures.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { formatFindings, scanLogDirectory } from '../helpers/log-scan.ts';

export const SCAN_REPORT_NAME = 'secret scan of the test logs';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'lti-test-logs-'));
  project.provide('testLogDir', dir);
  return () => {
    const { files, lines, secrets, findings } = scanLogDirectory(dir);
    if (findings.length > 0) {
      const report = formatFindings(findings, dir);
      console.error(report);
      process.exitCode = 1;
      recordInJsonReport(project, report);
      throw new Error(report);
    }
    console.log(`Secret scan: ${lines} log lines in ${files} files, ${secrets} registered secrets: none leaked.`);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** The JSON reporter has already written its file when global teardowns run: add the failure to it. */
function recordInJsonReport(project: TestProject, message: string): void {
  const config = project.vitest?.config;
  const outputFile = config?.outputFile;
  const file = typeof outputFile === 'string' ? outputFile : (outputFile as Record<string, string> | undefined)?.json;
  if (!file) return;
  const path = resolve(config.root, file);
  if (!existsSync(path)) return;
  const report = JSON.parse(readFileSync(path, 'utf8')) as {
    success?: boolean;
    numFailedTestSuites?: number;
    testResults?: unknown[];
  };
  report.success = false;
  report.numFailedTestSuites = (report.numFailedTestSuites ?? 0) + 1;
  (report.testResults ??= []).push({ name: SCAN_REPORT_NAME, status: 'failed', message, assertionResults: [] });
  writeFileSync(path, JSON.stringify(report));
}
