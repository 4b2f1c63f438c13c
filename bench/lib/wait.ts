export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Checks `done` every `everyMs` until it holds (true) or `timeoutMs` has passed (false). */
export async function poll(done: () => boolean | Promise<boolean>, options: { timeoutMs: number; everyMs: number }): Promise<boolean> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (performance.now() > deadline) return false;
    await sleep(options.everyMs);
  }
}
