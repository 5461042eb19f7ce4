/**
 * The worker kit: every worker thread of triad goes through it. A pool owns a WorkerGroup
 * (threads, failure latch, shutdown); its messages in both directions are discriminated
 * unions on `type`, declared in the worker's `*.protocol.ts`; bulk bytes cross in a
 * SharedRing and flat numbers as NumericRecords.
 */
export { WorkerGroup, type GroupSpec, type Settles, type Waiting } from './group.js';
export { SharedRing } from './shared-ring.js';
export { NumericRecords } from './records.js';
