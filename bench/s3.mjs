// The S3 emulator (fauxqs) for the upload scenario, started in this process on a free port.
// In-process keeps its memory out of the measured tool's process tree, and a fresh instance
// per tool means each upload starts from an empty store. fauxqs keeps objects in memory.

/** Returns { endpoint, bucket(name), stop() } or { error } when fauxqs cannot be loaded. */
export async function startS3() {
  let mod;
  try {
    mod = await import('fauxqs');
  } catch (e) {
    return { error: `fauxqs is not installed (dev dependency; ${e.code ?? e.message})` };
  }
  try {
    const server = await mod.startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    return {
      // fauxqs binds broadly; clients must use the loopback address, not "localhost"
      endpoint: `http://127.0.0.1:${server.port}`,
      bucket: (name) => server.createBucket(name),
      stop: () => server.stop(),
    };
  } catch (e) {
    return { error: `fauxqs did not start: ${e.message}` };
  }
}
