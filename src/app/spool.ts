import { appendFileSync, closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An append-only list of JSON records kept in a temporary file, so a backup of millions of
 * files does not hold every catalogue row in memory until the snapshot id is known.
 */
export class Spool<T> {
  private readonly dir = mkdtempSync(join(tmpdir(), 'triad-spool-'));
  private readonly file = join(this.dir, 'records.ndjson');
  private lines: string[] = [];
  count = 0;

  push(record: T): void {
    this.lines.push(JSON.stringify(record));
    this.count++;
    if (this.lines.length >= 2048) this.flush();
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    appendFileSync(this.file, this.lines.join('\n') + '\n');
    this.lines = [];
  }

  /** Yields every record in order, reading the file in fixed-size blocks. */
  *drain(): Generator<T> {
    this.flush();
    if (this.count === 0) return;
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let rest = '';
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const text = rest + buf.toString('utf8', 0, n);
        const parts = text.split('\n');
        rest = parts.pop()!;
        for (const line of parts) if (line) yield JSON.parse(line) as T;
      }
      if (rest) yield JSON.parse(rest) as T;
    } finally {
      closeSync(fd);
    }
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
