// Counts what a triad process loads from its targets, for tests that bound bytes and
// requests. Test code only: the test entry wraps each opened target's backend with it when its
// own environment has TRIAD_TEST_COUNT_LOADS (a file path), which the shipped bin/triad never
// reads. Every load appends one JSON line to that file:
//   {"target":"nas","name":"data/ab/…","offset":0,"length":1234,"got":1234}
// (`length` null: the whole object). Other calls pass through uncounted.
import { appendFileSync } from 'node:fs';

export function countingWrapper(file) {
  return (inner, target) => {
    const wrapped = {
      location: inner.location,
      save: (name, data, opts) => inner.save(name, data, opts),
      async load(name, range, opts) {
        const out = await inner.load(name, range, opts);
        appendFileSync(file, JSON.stringify({ target, name, offset: range?.offset ?? 0, length: range?.length ?? null, got: out.length }) + '\n');
        return out;
      },
      stat: (name, opts) => inner.stat(name, opts),
      remove: (name, opts) => inner.remove(name, opts),
      list: (prefix, opts) => inner.list(prefix, opts),
      close: () => inner.close(),
    };
    if (inner.listTemporary) wrapped.listTemporary = (opts) => inner.listTemporary(opts);
    if (inner.capacity) wrapped.capacity = () => inner.capacity();
    return wrapped;
  };
}
