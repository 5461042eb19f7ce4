// Preloaded (node -r) into every emulator child: the test process holds the other end of
// stdin, so EOF means the parent died (even by SIGKILL) and the emulator must not outlive it.
'use strict';
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
