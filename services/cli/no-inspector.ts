/**
 * Imported FIRST by the supervisors (up.ts, worker.ts): a listener for SIGUSR1 before
 * anything else loads. Node's default for SIGUSR1 is to open the inspector on
 * 127.0.0.1:9229 (a debugger: code execution for any local user), and Node 20 has no
 * --disable-sigusr1; any listener replaces that default. The supervisors' own handlers,
 * installed later, decide what SIGUSR1 means to them (worker.ts: a drain request).
 */
process.on('SIGUSR1', () => {});
