import cliProgress from 'cli-progress';
import ora, { type Ora } from 'ora';
import { eventLevel, type AppEvent, type Emit, type ProgressEvent } from '../core/events.js';
import { formatBytes, formatRate } from './output.js';
import type { Output } from './output.js';
import { eventJson, eventText, progressLabel } from './render/events.js';

/** How often `--json` writes a progress line: the first at once, then at most one per interval. */
export const JSON_PROGRESS_INTERVAL_MS = 1000;

export interface EventReporter {
  emit: Emit;
  /** Takes the bar or spinner off the terminal (before the command prints its result). */
  stop(): void;
}

/**
 * Shows the app's events: with --json one JSON object per line on stderr (stdout keeps the
 * command's single JSON result); otherwise warnings and notices as text lines on stderr and,
 * for a person at a terminal, progress as a bar.
 */
export function eventReporter(out: Output, opening?: string): EventReporter {
  return out.json ? jsonLines(out) : textAndBar(out, opening);
}

function jsonLines(out: Output): EventReporter {
  let lastProgress = -Infinity;
  return {
    emit: (e) => {
      const level = eventLevel(e);
      if (out.quiet && level !== 'warning') return;
      if (level === 'progress') {
        const now = performance.now();
        if (now - lastProgress < JSON_PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
      }
      out.stderr.write(JSON.stringify(eventJson(e)) + '\n');
    },
    stop: () => undefined,
  };
}

function textAndBar(out: Output, opening?: string): EventReporter {
  const bar = progressBar(out, opening);
  return {
    emit: (e: AppEvent) => {
      switch (eventLevel(e)) {
        case 'progress':
          bar.update(e as ProgressEvent);
          return;
        case 'warning':
          bar.stop();
          out.warn(eventText(e));
          return;
        case 'info':
          out.info(eventText(e));
          return;
      }
    },
    stop: () => bar.stop(),
  };
}

/**
 * A progress bar on a TTY (bytes, files, rate, ETA) under the label the event's job and phase
 * give. Nothing of it reaches --json output or a non-terminal.
 */
function progressBar(out: Output, opening?: string): { update(e: ProgressEvent): void; stop(): void } {
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
