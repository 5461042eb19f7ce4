import { parentPort, workerData } from 'node:worker_threads';
import { RowSink } from './row-sink.js';
import type { FromRowStage, RowStageInit, ToRowStage } from './row-stage.protocol.js';

/** The catalogue's row thread during a backup of a large tree: a RowSink fed by the main thread. */
const { file, busyMs } = workerData as RowStageInit;
const port = parentPort!;
const sink = new RowSink(file, busyMs);

port.on('message', (m: ToRowStage) => {
  let answer: FromRowStage | undefined;
  try {
    answer = sink.handle(m);
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    answer = { type: 'failed', code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err) };
  }
  if (answer) port.postMessage(answer);
});
