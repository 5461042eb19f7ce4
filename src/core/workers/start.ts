import { Worker } from 'node:worker_threads';

export interface StartOptions {
  what: string;
  workerData?: unknown;
  youngGenerationMb: number;
  closing: () => boolean;
  onFail: (err: unknown) => void;
}

/**
 * Starts a worker thread. `module`: a file under src/ without extension (e.g.
 * `repo/backup/reader.worker`), compiled; or the URL of a plain JavaScript module (tests).
 * Tests run the TypeScript sources in-process, and a worker thread needs the compiled
 * module, so from a `.ts` caller it is taken from dist/. `onFail` hears an error thrown in
 * the thread and an exit that `closing()` did not ask for.
 */
export function startWorker(module: string | URL, opts: StartOptions): Worker {
  const url = module instanceof URL ? module : moduleUrl(module);
  // A small young generation: the threads make short-lived buffers only, and each MiB is RSS.
  const worker = new Worker(url, { workerData: opts.workerData, resourceLimits: { maxYoungGenerationSizeMb: opts.youngGenerationMb } });
  worker.on('error', opts.onFail);
  worker.on('exit', (code) => {
    if (!opts.closing()) opts.onFail(new Error(`a ${opts.what} thread stopped unexpectedly (exit code ${code})`));
  });
  return worker;
}

function moduleUrl(module: string): URL {
  return import.meta.url.endsWith('.ts') ? new URL(`../../../dist/${module}.js`, import.meta.url) : new URL(`../../${module}.js`, import.meta.url);
}
