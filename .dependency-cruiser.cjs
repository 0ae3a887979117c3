// The layers of src/ (docs/architecture.md draws them), checked by dependency-cruiser in the unit tests
// (test/unit/architecture.test.ts). Type-only imports count: a cycle of types is still a cycle for a reader.
//
//   commands            the oclif shell
//   run, matrix, gameday, report, stress, rollback
//   faults, platforms, metrics, verdict
//   host, stressors     the Linux host layer and the processes that carry a dose
//   experiment          the file format, known to everyone
//
// A layer may use the layers below it, never those above.

/** Folders of src/, as a path pattern. */
const folders = (...names) => `^src/(${names.join('|')})/`

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: split the module that both sides need (an interface from its registry, a type from its user).',
      severity: 'error',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'commands-on-top',
      comment: 'Only commands (and the oclif entry) use commands: run, matrix, gameday and report are below them.',
      severity: 'error',
      from: {path: '^src/', pathNot: folders('commands')},
      to: {path: folders('commands')},
    },
    {
      name: 'run-over-its-parts',
      comment: 'Faults, platforms, metrics and verdict are what the run loop drives: none of them uses the run, matrix, gameday or stress. ' +
        'What they may know of the run is its event vocabulary (run/events.ts) and the toolkit\'s version (run/version.ts, which a host\'s agent and the toolkit compare), both importing nothing of the project.',
      severity: 'error',
      from: {path: folders('faults', 'platforms', 'metrics', 'verdict')},
      to: {path: folders('run', 'matrix', 'gameday', 'stress', 'cli'), pathNot: '^src/run/(events|version)\\.ts$'},
    },
    {
      name: 'host-and-stressors-at-the-bottom',
      comment: 'The Linux host layer and the stressors serve faults and platforms; they use neither (nor anything above them).',
      severity: 'error',
      from: {path: folders('host', 'stressors')},
      to: {path: folders('faults', 'platforms', 'metrics', 'run', 'matrix', 'gameday', 'report', 'stress', 'rollback', 'cli', 'verdict', 'workload')},
    },
    {
      name: 'experiment-depends-on-nothing',
      comment: 'The experiment format is known to every layer and knows none of them.',
      severity: 'error',
      from: {path: folders('experiment')},
      to: {path: '^src/', pathNot: folders('experiment')},
    },
    {
      name: 'verdict-depends-on-nothing',
      comment: 'The verdict is statistics over samples: it uses nothing of the rest but the experiment\'s types.',
      severity: 'error',
      from: {path: folders('verdict')},
      to: {path: '^src/', pathNot: [folders('verdict'), folders('experiment')]},
    },
    {
      name: 'verdict-uses-only-experiment-types',
      comment: 'The verdict may name the experiment\'s types, not run its code.',
      severity: 'error',
      from: {path: folders('verdict')},
      to: {path: folders('experiment'), dependencyTypesNot: ['type-only']},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {extensions: ['.ts', '.js']},
  },
}
