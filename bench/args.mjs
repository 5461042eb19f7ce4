/**
 * Parses a bench's command line: `flags` maps each option to a handler given a function that
 * takes the option's value; -h/--help prints the usage, anything else exits 2 with it.
 */
export function parseFlags(argv, flags, usage) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    }
    const handle = flags[a];
    if (!handle) {
      console.error(`unknown option ${a}\n${usage}`);
      process.exit(2);
    }
    handle(() => argv[++i]);
  }
}

/** `v` as a whole number of at least `min`; otherwise exits 2 naming the option, with the usage. */
export function wholeNumber(v, name, min, usage) {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`${name} needs a whole number${min > 0 ? ` of at least ${min}` : ''}, not ${v}\n${usage}`);
    process.exit(2);
  }
  return n;
}
