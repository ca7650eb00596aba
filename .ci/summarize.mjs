// Sums vitest JSON reports into CI's closing line.
//
//   node .ci/summarize.mjs [--failed-step=<name> ...] <label>=<exit code>=<report.json> ...
//
// Prints one line per run, then as the LAST line:
//   N passed, N failed[, N skipped]
// Field names are those of vitest 4's json reporter (numPassedTests,
// numFailedTests, numPendingTests = skipped, numTodoTests, testResults[]).
// A test file that failed outside any test (import error, failing hook) counts
// (or the end-of-run secret scan of the test logs, which adds itself to the report)
// as one failure; so does a run that exited non-zero without any failure in its
// report (unhandled error, no tests found, crash, timeout, missing report), so
// the closing line never says "0 failed" for a run that failed. Each --failed-step (a CI
// step outside the test runs: typecheck, drift checks) counts as one failure. With CI set,
// a skipped or todo test counts as a failure as well: a skipped check is a defect here.
// Exit code: 0 when everything passed, 1 otherwise, 2 when the reports could not be read
// at all (the caller then prints its own failing closing line).

import fs from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const skippedFails = /^(1|true)$/i.test(process.env.CI ?? '');

try {
  summarize(process.argv.slice(2));
} catch (err) {
  console.error(`summarize: ${err?.stack ?? err}`);
  process.exit(2);
}

function summarize(args) {
for (const arg of args) {
  const step = /^--failed-step=(.+)$/.exec(arg);
  if (step) {
    console.log(`  step ${step[1]}: failed`);
    failed += 1;
    continue;
  }
  const m = /^([^=]+)=(-?\d+)=(.+)$/.exec(arg);
  if (!m) {
    console.error(`summarize: bad argument ${JSON.stringify(arg)} (want label=exitcode=file.json)`);
    process.exit(2);
  }
  const [, label, rcText, file] = m;
  const rc = Number(rcText);
  let p = 0;
  let f = 0;
  let s = 0;
  const notes = [];
  let report = null;
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    notes.push(err.code === 'ENOENT' ? 'no JSON report written' : `unreadable JSON report: ${err.message}`);
  }
  if (report) {
    p = report.numPassedTests ?? 0;
    f = report.numFailedTests ?? 0;
    s = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // Files that failed without a failing test in them (e.g. import errors).
    const fileFailures = (report.testResults ?? []).filter(
      (r) => r.status === 'failed' && !(r.assertionResults ?? []).some((a) => a.status === 'failed'),
    );
    if (fileFailures.length) {
      f += fileFailures.length;
      const names = fileFailures.map((r) => String(r.name ?? '').split('/').pop()).join(', ');
      notes.push(`${fileFailures.length} test file(s) failed outside a test: ${names}`);
    }
    if ((report.numTotalTests ?? 0) === 0) notes.push('no tests ran');
  }
  if (rc !== 0 && f === 0) {
    f = 1;
    notes.push(`vitest exited ${rc} without a failing test${rc === 124 ? ' (timed out)' : ''}`);
  }
  if (rc === 0 && f > 0) notes.push('exit code 0 despite failures');
  if (s > 0 && skippedFails) {
    f += s;
    notes.push(`${s} skipped or todo test(s) counted as failed (CI)`);
  }
  console.log(
    `  ${label}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''} (exit ${rc})${notes.length ? ` - ${notes.join('; ')}` : ''}`,
  );
  passed += p;
  failed += f;
  skipped += s;
}
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
