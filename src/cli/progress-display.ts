import cliProgress from 'cli-progress';
import ora, { type Ora } from 'ora';
import type { ProgressEvent } from '../core/events.js';
import { formatBytes, formatRate, type Output } from './output.js';
import { progressLabel } from './render/events.js';

export interface ProgressDisplay {
  update(e: ProgressEvent): void;
  stop(): void;
}

/**
 * A progress bar on a TTY (bytes, files, rate, ETA) under the label the event's job and phase
 * give. Nothing of it reaches --json output or a non-terminal.
 */
export function progressDisplay(out: Output, opening?: string): ProgressDisplay {
  let bar: cliProgress.SingleBar | undefined;
  let started = 0;
  // A spinner covers the quiet start (key derivation, index loading) until progress begins.
  let spinner: Ora | undefined = opening && out.showProgress ? ora({ text: opening, stream: out.stderr }).start() : undefined;
  const stopSpinner = () => {
    spinner?.stop();
    spinner = undefined;
  };
  const update = (e: ProgressEvent) => {
    if (!out.showProgress) return;
    stopSpinner();
    const phase = progressLabel(e);
    if (!bar) {
      started = performance.now();
      bar = new cliProgress.SingleBar(
        {
          stream: out.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
          format: (_opts, params, payload: { phase: string; files: number; rate: string; eta: string; done: string }) => {
            const width = 24;
            const filled = Math.round(params.progress * width);
            const barStr = params.total > 0 ? '[' + '#'.repeat(filled) + '-'.repeat(width - filled) + '] ' : '';
            return `${payload.phase} ${barStr}${payload.done} · ${payload.files} files · ${payload.rate}${payload.eta}`;
          },
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(e.totalBytes ?? 0, 0, { phase, files: 0, rate: '', eta: '', done: '' });
    }
    const secs = (performance.now() - started) / 1000;
    const bytes = e.bytes ?? 0;
    const rate = secs > 0.5 ? formatRate(bytes / secs) : '';
    const eta = e.totalBytes && bytes > 0 && secs > 1 ? ` · ETA ${Math.max(0, Math.round(((e.totalBytes - bytes) * secs) / bytes))}s` : '';
    bar.update(bytes, { phase, files: e.files ?? 0, rate, eta, done: formatBytes(bytes) + (e.totalBytes ? `/${formatBytes(e.totalBytes)}` : '') });
  };
  return {
    update,
    stop: () => {
      stopSpinner();
      bar?.stop();
      bar = undefined;
    },
  };
}
