// Manifest check, `npm run check:deps` (run by .ci/run), in two passes:
//   knip           every file, tests included: each import is declared by its
//                  workspace (or by the root, for what the root's tests share),
//                  and nothing declared goes unused;
//   knip --strict  production files only (the `!` patterns): each import is in
//                  the importing workspace's own `dependencies`, which is what
//                  the images install (npm ci --omit=dev), with nothing lent
//                  by the root or by devDependencies.
// Only the dependency issue types are checked; unused files and exports are out
// of its scope.
import type { KnipConfig } from 'knip';

const strict = process.argv.includes('--strict');

const workspace = (extraEntries: string[] = []) => ({
  entry: ['src/**/*.test.ts', 'src/**/*.ts!', ...extraEntries.map((e) => `${e}!`), '!src/**/*.test.ts!'],
  project: ['src/**/*.ts!', ...extraEntries.map((e) => `${e}!`)],
});

const config: KnipConfig = {
  include: ['dependencies', 'unlisted', 'unresolved', 'binaries'],
  // Started as processes; .ci/run installs them from Debian packages.
  ignoreBinaries: ['nginx', 'openssl', 'redis-cli', 'redis-server'],
  workspaces: {
    '.': {
      entry: ['tests/**/*.ts', 'bench/**/*.ts'],
      project: ['tests/**/*.ts', 'bench/**/*.ts', '*.{ts,js}'],
      // `npm start` and the other root scripts are development commands:
      // strict mode counts `start` as production, but nothing deploys the root.
      ignoreBinaries: strict ? ['tsx'] : [],
    },
    shared: workspace(),
    ingress: workspace(),
    dispatcher: workspace(),
    'infra/sim': {
      ...workspace(),
      // testing/ is the fidelity tests' harness, left out of the build.
      entry: [...workspace().entry, '!src/testing/**!'],
      // `npm start -w infra/sim` is a development command (the image runs dist/).
      ignoreBinaries: strict ? ['tsx'] : [],
    },
    'infra/cli': {
      ...workspace(['bin/*.js']),
      // bin/infergate.js falls back to tsx only where dist/ is not built, which
      // is a development checkout (tsx is a devDependency).
      ignoreDependencies: strict ? ['tsx'] : [],
    },
    'infra/stack': {
      entry: ['src/**/*.ts!'],
      project: ['src/**/*.ts!'],
      // The stack starts these as child processes (serviceProcess.ts:
      // node [--import tsx] <package>/{dist,src}/main.*) without importing them.
      ignoreDependencies: ['@infergate/dispatcher', '@infergate/ingress', '@infergate/sim', 'tsx'],
    },
  },
};

export default config;
