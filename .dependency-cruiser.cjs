// The layering of DESIGN.md §1, checked on every test run (test/architecture/layers.test.ts):
// cli → app → policy/repo/catalog/compliance/scheduler → backends → core, no cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
const middle = 'src/(policy|repo|catalog|compliance|scheduler)/';
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'An import cycle makes load order and ownership unclear.', from: {}, to: { circular: true } },
    { name: 'cli-is-the-top', severity: 'error', comment: 'Only the CLI renders, reads argv/env and exits.', from: { path: '^src/', pathNot: '^src/cli/' }, to: { path: '^src/cli/' } },
    { name: 'app-only-from-cli', severity: 'error', comment: 'Use cases are called by the CLI, never by the layers below.', from: { path: '^src/', pathNot: '^src/(cli|app)/' }, to: { path: '^src/app/' } },
    {
      name: 'middle-layer-stays-apart',
      severity: 'error',
      comment: 'repo, catalog and policy know nothing of each other; compliance and scheduler may read policy definitions only.',
      from: { path: `^${middle}` },
      to: { path: `^${middle}`, pathNot: ['^src/$1/', '^src/policy/(types|rule|units|time-constants)\\.ts$'] },
    },
    { name: 'policy-rules-only-for-compliance-and-scheduler', severity: 'error', from: { path: '^src/(repo|catalog)/' }, to: { path: '^src/policy/' } },
    { name: 'backends-below-the-engine', severity: 'error', comment: 'Storage backends know only core.', from: { path: '^src/backends/' }, to: { path: '^src/', pathNot: '^src/(backends|core)/' } },
    { name: 'core-imports-nothing', severity: 'error', comment: 'core is the bottom layer (DESIGN.md §1).', from: { path: '^src/core/' }, to: { path: '^src/', pathNot: '^src/core/' } },
    { name: 'repo-sees-only-the-storage-interface', severity: 'error', comment: 'The engine depends on the Storage interface, never on a concrete backend.', from: { path: '^src/repo/' }, to: { path: '^src/backends/', pathNot: '^src/backends/storage\\.ts$' } },
    {
      name: 'repo-subsystems-through-their-index',
      severity: 'error',
      comment: "A repo/ subsystem's index.ts is its public API; its other files are its own business.",
      from: { path: '^src/(?!repo/)' },
      to: { path: '^src/repo/[^/]+/', pathNot: '/index\\.ts$' },
    },
    {
      name: 'repo-subsystems-meet-at-their-index',
      severity: 'error',
      from: { path: '^src/repo/([^/]+)/' },
      to: { path: '^src/repo/[^/]+/', pathNot: ['^src/repo/$1/', '/index\\.ts$'] },
    },
    { name: 'repo-foundation-uses-indexes', severity: 'error', from: { path: '^src/repo/[^/]+\\.ts$' }, to: { path: '^src/repo/[^/]+/', pathNot: '/index\\.ts$' } },
    { name: 'cloud-sdks-only-in-backends', severity: 'error', comment: 'SDKs load lazily behind the Storage interface.', from: { path: '^src/', pathNot: '^src/backends/' }, to: { path: 'node_modules/(@aws-sdk|@azure|@google-cloud)/' } },
    { name: 'sqlite-only-in-catalog', severity: 'error', comment: 'No SQL outside the catalogue.', from: { path: '^src/', pathNot: '^src/catalog/' }, to: { path: 'node_modules/better-sqlite3/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
