// Prints one plain closing line, "jest: N passed, N failed, N skipped", as the very last
// line of the run (after jest's own summary), so CI and humans read the outcome there.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const brokenSuites = results.numRuntimeErrorTestSuites;
    // A suite that could not run counts as one failure, so the line never reads "0 failed" on red.
    const failed = results.numFailedTests + brokenSuites;
    const line = `jest: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped`;
    // Jest prints its summary after the reporters' hooks; writes to a pipe are synchronous.
    process.once('exit', () => process.stderr.write(`\n${line}\n`));
  }
}
