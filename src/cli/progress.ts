import cliProgress from 'cli-progress';
import ora, { type Ora } from 'ora';
import type { AppEvents, ProgressEvent } from '../core/events.js';
import { formatBytes, formatRate } from './output.js';
import type { Output } from './output.js';

/**
 * Turns app events into a progress bar on a TTY (bytes, files, rate, ETA) and plain warning
 * lines otherwise. Nothing of the bar reaches --json output or a non-terminal.
 */
export function progressEvents(out: Output, opening?: string): AppEvents & { stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  let started = 0;
  // A spinner covers the quiet start (key derivation, index loading) until progress begins.
  let spinner: Ora | undefined = opening && out.showProgress ? ora({ text: opening, stream: out.stderr }).start() : undefined;
  const stopSpinner = () => {
    spinner?.stop();
    spinner = undefined;
  };
  const render = (e: ProgressEvent) => {
    if (!out.showProgress) return;
    stopSpinner();
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
      bar.start(e.totalBytes ?? 0, 0, { phase: e.phase, files: 0, rate: '', eta: '', done: '' });
    }
    const secs = (performance.now() - started) / 1000;
    const bytes = e.bytes ?? 0;
    const rate = secs > 0.5 ? formatRate(bytes / secs) : '';
    const eta = e.totalBytes && bytes > 0 && secs > 1 ? ` · ETA ${Math.max(0, Math.round(((e.totalBytes - bytes) * secs) / bytes))}s` : '';
    bar.update(bytes, { phase: e.phase, files: e.files ?? 0, rate, eta, done: formatBytes(bytes) + (e.totalBytes ? `/${formatBytes(e.totalBytes)}` : '') });
  };
  return {
    progress: render,
    warning: (msg) => {
      stopSpinner();
      if (bar) bar.stop();
      bar = undefined;
      out.warn(msg);
    },
    info: (msg) => out.info(msg),
    stop: () => {
      stopSpinner();
      bar?.stop();
      bar = undefined;
    },
  };
}
