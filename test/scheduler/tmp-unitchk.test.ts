import { writeFileSync } from 'node:fs';
import { it } from 'vitest';
import { renderSystemdUnits } from '../../src/scheduler/systemd.js';
import { shellQuote } from '../../src/scheduler/crontab.js';
it('x', () => {
  const u = renderSystemdUnits({ policyFile: '/etc/triad/f.yaml', policyName: 'finance', triadBin: '/bin/true', job: 'backup', cron: '0 0 1,15 * 1', user: 'root', envFile: '/etc/hostname', readWritePaths: ['/tmp'] });
  writeFileSync('/tmp/unitchk/' + u.serviceName, u.service); writeFileSync('/tmp/unitchk/' + u.timerName, u.timer);
  writeFileSync('/tmp/unitchk/cmd.sh', `set -a && . ${shellQuote("/tmp/unitchk/it's.env")} && set +a && echo "$FOO"`);
});
