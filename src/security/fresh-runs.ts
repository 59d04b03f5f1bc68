/**
 * `work`, run so that every call is answered by a run that starts after the
 * call (one already running may have read too early): runs go one at a time,
 * and the calls made while one runs share the next.
 */
export function freshRuns<T>(work: () => Promise<T>): { run(): Promise<T>; settled(): Promise<void> } {
  let pending: Promise<T> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    run() {
      if (pending) return pending;
      const run = chain.then(() => {
        pending = undefined;
        return work();
      });
      pending = run;
      chain = run.catch(() => {});
      return run;
    },
    settled: async () => {
      await chain;
    },
  };
}
