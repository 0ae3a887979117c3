// The host platform's own isolation level, beside the process platform's (none, shared, cgroup) that it applies on
// each host. Apart from index.ts so that chaos matrix can name it without loading ssh2.

/**
 * The VM boundary as a level of chaos matrix: the target moves, alone and without a box, to the experiment's host
 * that no workflow names; the neighbours stay where they are.
 */
export const SEPARATE_HOSTS = 'separate-hosts'
