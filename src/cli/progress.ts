import { eventLevel, type AppEvent, type Emit, type ProgressEvent } from '../core/events.js';
import type { Output } from './output.js';
import { eventJson, eventText } from './render/events.js';
import type { ProgressDisplay } from './progress-display.js';

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
 * The bar and spinner for a person at a terminal, loaded only there: ora and cli-progress are
 * most of the CLI's start-up imports, and cron, systemd and pipes never show them. Progress
 * before the module has loaded (a few milliseconds) is not shown.
 */
function progressBar(out: Output, opening?: string): ProgressDisplay {
  if (!out.showProgress) return { update: () => undefined, stop: () => undefined };
  let display: ProgressDisplay | undefined;
  let spinner = true;
  void import('./progress-display.js').then((m) => {
    display = m.progressDisplay(out, spinner ? opening : undefined);
  });
  return {
    update: (e) => display?.update(e),
    stop: () => {
      spinner = false;
      display?.stop();
    },
  };
}
