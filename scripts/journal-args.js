// The command line of the scripts that read run journals (pair-seconds, pair-extremes, rule-on-pairs): `--name
// value` options and `--name` flags taken out wherever they stand, the journals left behind.
export function journalArgs(argv = process.argv.slice(2)) {
  const args = [...argv]
  /** the value after --name, removed from the arguments; fallback when absent */
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`)
    return i < 0 ? fallback : args.splice(i, 2)[1]
  }
  /** whether --name stands anywhere, removed from the arguments */
  const flag = (name) => {
    const i = args.indexOf(`--${name}`)
    if (i >= 0) args.splice(i, 1)
    return i >= 0
  }
  return {option, flag, files: args}
}
