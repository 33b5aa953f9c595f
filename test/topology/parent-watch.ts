/**
 * Preloaded (`node --import`) into every process the topology harness starts: when the harness
 * is gone (its end of this process's stdin pipe closed, because it exited or was killed), the
 * process stops as an operator would stop it (SIGTERM), instead of serving on for nobody.
 */
process.stdin.once('close', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
