// Row 4: network flood on loopback. The toolkit's flood stressor (TCP, C connections) into its own sink
// stressor, against iperf3 -c 127.0.0.1 -P C into iperf3 -s. Both are measured at the receiver after a 1 s
// settling time (iperf3: --omit 1): the sink's byte count over the window, iperf3's sum_received. Unbounded, and
// at a set total rate (iperf3 -b is per stream, so it gets rate / C each). iperf3 -s cannot receive the flood
// (it expects iperf3's control protocol), so to compare the senders alone the flood also goes into
// test/bench/drain.js, a minimal receiver that costs little CPU per byte.
import {join} from 'node:path'
import {atLeastShareOf, PORTS, procCpuSeconds, recordProgress, sleep, waitFor, within} from '../lib.js'

const HOST = '127.0.0.1'

/** bits per second received by our sink over windowS after settleS, and the two processes' CPU (cores). */
async function ours(tracker, {connections, rate, settleS, windowS}) {
  const sink = tracker.stressor('sink', {host: HOST, port: PORTS.sink, protocol: 'tcp'})
  try {
    const {port} = await sink.ready
    const received = recordProgress(sink)
    const flood = tracker.stressor('flood', {host: HOST, port, protocol: 'tcp', connections, ...(rate ? {rate} : {})})
    await flood.ready
    await sleep(settleS * 1000)
    const m0 = received.at(-1)
    const cpu0 = [procCpuSeconds(sink.pid), procCpuSeconds(flood.pid)]
    await sleep(windowS * 1000)
    // the first report at or after the window's end
    const count = received.length
    await waitFor('a sink report', () => received.length > count, 2000, 10)
    const m1 = received.at(-1)
    const cpu1 = [procCpuSeconds(sink.pid), procCpuSeconds(flood.pid)]
    await flood.stop()
    const seconds = (m1.t - m0.t) / 1000
    return {bps: (m1.bytes - m0.bytes) * 8 / seconds, sinkCpu: (cpu1[0] - cpu0[0]) / seconds, floodCpu: (cpu1[1] - cpu0[1]) / seconds}
  } finally {
    await sink.stop()
  }
}

/** The flood into the minimal receiver: the sender alone. */
async function oursIntoDrain(tracker, root, {connections, settleS, windowS}) {
  const drain = tracker.child(process.execPath, [join(root, 'test/bench/drain.js'), String(PORTS.drain)], {stdin: 'pipe'})
  try {
    await waitFor('the drain to listen', () => /listening/.test(drain.output()), 5000, 10)
    const flood = tracker.stressor('flood', {host: HOST, port: PORTS.drain, protocol: 'tcp', connections})
    await flood.ready
    await sleep(settleS * 1000)
    const last = () => drain.output().trim().split('\n').at(-1).split(' ').map(Number)
    const [t0, b0] = last()
    const cpu0 = procCpuSeconds(flood.pid)
    await sleep(windowS * 1000)
    const [t1, b1] = last()
    const cpu1 = procCpuSeconds(flood.pid)
    await flood.stop()
    return {bps: (b1 - b0) * 8 / (t1 - t0), floodCpu: (cpu1 - cpu0) / (t1 - t0)}
  } finally {
    await tracker.stopChild(drain)
  }
}

async function iperf(tracker, {connections, rate, windowS, reverse = false}) {
  const port = PORTS.iperf
  const server = tracker.child('iperf3', ['-s', '-p', String(port), '-1', '-B', HOST, '--forceflush'])
  try {
    await waitFor('iperf3 -s to listen', () => /listening/i.test(server.output()), 5000, 10)
    // --omit 1 runs one more second before the -t window and leaves it out of the results
    const args = ['-c', HOST, '-p', String(port), '-P', String(connections), '-t', String(windowS), '-O', '1', '-J']
    if (rate) args.push('-b', String(Math.round(rate / connections)))
    // -R: the server sends and the client receives, iperf3's receive direction
    if (reverse) args.push('-R')
    const done = await tracker.child('iperf3', args).done
    const result = JSON.parse(done.stdout)
    if (result.error) throw new Error(`iperf3: ${result.error}`)
    return {bps: result.end.sum_received.bits_per_second}
  } finally {
    await tracker.stopChild(server)
  }
}

export async function run({tracker, quick, pick, peers, root, log}) {
  const repeats = pick({smoke: 1, quick: 1, full: 3})
  const windowS = pick({smoke: 1, quick: 2, full: 8})
  const connections = 4
  const rates = pick({smoke: [10e6], quick: [1e9], full: [1e9, 100e6]})
  const unbounded = {ours: [], peer: []}
  const sender = []
  const reversePeer = []
  const single = {ours: [], peer: []}
  const paced = new Map(rates.map((r) => [r, {ours: [], peer: []}]))

  for (let r = 0; r < repeats; r++) {
    const o = await ours(tracker, {connections, settleS: 1, windowS})
    unbounded.ours.push(o.bps / 1e9)
    let line = `repeat ${r + 1}: chaos ${connections} conn ${(o.bps / 1e9).toFixed(2)} Gbit/s (sink ${(o.sinkCpu * 100).toFixed(0)}% of a core, flood ${(o.floodCpu * 100).toFixed(0)}%)`
    if (peers.iperf3.present) {
      const p = await iperf(tracker, {connections, windowS})
      unbounded.peer.push(p.bps / 1e9)
      line += `, iperf3 -P ${connections} ${(p.bps / 1e9).toFixed(2)} Gbit/s`
    }
    if (peers.iperf3.present) {
      const pr = await iperf(tracker, {connections, windowS, reverse: true})
      reversePeer.push(pr.bps / 1e9)
      line += `, iperf3 -R -P ${connections} ${(pr.bps / 1e9).toFixed(2)} Gbit/s`
    }
    const d = await oursIntoDrain(tracker, root, {connections, settleS: 1, windowS})
    sender.push(d.bps / 1e9)
    line += `; chaos flood into a minimal receiver ${(d.bps / 1e9).toFixed(2)} Gbit/s (flood ${(d.floodCpu * 100).toFixed(0)}% of a core)`
    log(line)
    if (!quick) {
      const o1 = await ours(tracker, {connections: 1, settleS: 1, windowS})
      single.ours.push(o1.bps / 1e9)
      let line1 = `repeat ${r + 1}: chaos 1 conn ${(o1.bps / 1e9).toFixed(2)} Gbit/s (sink ${(o1.sinkCpu * 100).toFixed(0)}%, flood ${(o1.floodCpu * 100).toFixed(0)}%)`
      if (peers.iperf3.present) {
        const p1 = await iperf(tracker, {connections: 1, windowS})
        single.peer.push(p1.bps / 1e9)
        line1 += `, iperf3 -P 1 ${(p1.bps / 1e9).toFixed(2)} Gbit/s`
      }
      log(line1)
    }
    for (const rate of rates) {
      const op = await ours(tracker, {connections, rate, settleS: 1, windowS})
      paced.get(rate).ours.push(op.bps / rate)
      let linep = `repeat ${r + 1}: at ${rate / 1e6} Mbit/s chaos delivered ${(op.bps / 1e6).toFixed(1)} Mbit/s`
      if (peers.iperf3.present) {
        const pp = await iperf(tracker, {connections, rate, windowS})
        paced.get(rate).peer.push(pp.bps / rate)
        linep += `, iperf3 ${(pp.bps / 1e6).toFixed(1)} Mbit/s`
      }
      log(linep)
    }
  }

  const atLeast = atLeastShareOf(0.8, 'iperf3')
  const peerOf = (values) => (peers.iperf3.present ? values : 'peer absent')
  const lines = [{
    what: `flood → toolkit sink, unbounded, TCP ×${connections}, received (vs iperf3 -c → iperf3 -s)`,
    unit: 'Gbit/s', ours: unbounded.ours, peer: peerOf(unbounded.peer), ratio: 'ours/peer', goal: '>= 80% of iperf3', check: atLeast,
  }, {
    what: `flood → minimal receiver (the sender alone), unbounded, TCP ×${connections} (vs iperf3 -c → iperf3 -s)`,
    unit: 'Gbit/s', ours: sender, peer: peerOf(unbounded.peer), ratio: 'ours/peer', goal: '>= 80% of iperf3', check: atLeast,
  }, {
    // on loopback a receive flood is the same two stressors with the roles swapped (the sink is the target's
    // receiver, the flood the source in the sink's place): the same measurement as the first line, against iperf3 -R
    what: `receive flood: source → the target's receiver, unbounded, TCP ×${connections}, received (vs iperf3 -R, the server sending)`,
    unit: 'Gbit/s', ours: unbounded.ours, peer: peerOf(reversePeer), ratio: 'ours/peer', goal: '>= 80% of iperf3', check: atLeast,
  }]
  if (!quick) {
    lines.push({
      what: 'flood → toolkit sink, unbounded, TCP ×1, received (vs iperf3 -P 1)',
      unit: 'Gbit/s', ours: single.ours, peer: peerOf(single.peer), ratio: 'ours/peer', goal: '>= 80% of iperf3', check: atLeast,
    })
  }
  for (const rate of rates) {
    lines.push({
      what: `flood at ${rate >= 1e9 ? `${rate / 1e9} Gbit/s` : `${rate / 1e6} Mbit/s`}, TCP ×${connections}: received / asked`,
      unit: 'ratio', ours: paced.get(rate).ours, peer: peerOf(paced.get(rate).peer), goal: 'within 5%',
      check: within(0.05),
    })
  }
  return {lines, notes: [`${repeats} run(s); ${windowS} s windows after 1 s settling (iperf3 --omit 1), measured at the receiver`]}
}
