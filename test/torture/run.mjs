#!/usr/bin/env node
// npm run torture -- --seed S --rounds N [--targets local,s3rver,azurite,full-disk] [--commands C]
//                    [--kill-rate 0.5] [--fault-rate 0.03]
// Runs test/torture/torture.ts (TypeScript, loaded through vite's module runner, as vitest does)
// and prints its figures; exits 1 when an invariant was violated.
import { parseArgs } from 'node:util';
import { createServer, createServerModuleRunner } from 'vite';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    rounds: { type: 'string', default: '10' },
    targets: { type: 'string', default: 'local,s3rver,azurite,full-disk' },
    commands: { type: 'string', default: '6' },
    'kill-rate': { type: 'string', default: '0.5' },
    'fault-rate': { type: 'string', default: '0.03' },
  },
});
const number = (name, raw, ok) => {
  const n = Number(raw);
  if (!ok(n)) {
    console.error(`torture: --${name} ${raw} is not valid`);
    process.exit(2);
  }
  return n;
};
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : number('seed', values.seed, Number.isSafeInteger);
const rounds = number('rounds', values.rounds, (n) => Number.isInteger(n) && n > 0);
const commands = number('commands', values.commands, (n) => Number.isInteger(n) && n > 0);
const killRate = number('kill-rate', values['kill-rate'], (n) => n >= 0 && n <= 1);
const faultRate = number('fault-rate', values['fault-rate'], (n) => n >= 0 && n <= 1);
const targets = values.targets.split(',');

const server = await createServer({ root: new URL('../..', import.meta.url).pathname, configFile: false, logLevel: 'error', appType: 'custom', server: { middlewareMode: true, hmr: false, ws: false } });
const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => stop.abort());
try {
  const { torture, formatReport } = await runner.import('/test/torture/torture.ts');
  console.log(`torture: seed ${seed}, ${rounds} rounds of ${commands} commands on ${targets.join(', ')}`);
  const report = await torture({ seed, rounds, targets, commands, killRate, faultRate, signal: stop.signal, log: (line) => console.log(line) });
  console.log(formatReport(report));
  process.exitCode = report.violations.length > 0 ? 1 : 0;
} finally {
  await runner.close();
  await server.close();
}
