/**
 * A rough throughput probe of one TinCan link (not a test, not the benchmark): this process is the
 * initiator and sends; a child process it starts is the responder and counts. Both on loopback,
 * signaling over the child's stdio. Prints one JSON line: frames and Mbit/s received, loss, and CPU
 * per Mbit on each side.
 *
 * Usage: node dist/scripts/probe-link.js [--size 1414] [--rate 70000] [--batch 1] [--seconds 3]
 *   --rate   frames per second offered (paced per millisecond tick; 0 = as fast as the loop goes)
 *   --batch  frames per send() call (small frames in one call are packed, PT 97)
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveLinkConfig } from '../link/config.js';
import { TinCanLink, cleanupWebRtc } from '../link/tincan.js';

const config = resolveLinkConfig({ bindAddress: '127.0.0.1', timeoutMs: 20_000, echoIntervalMs: 1000 });

interface Msg {
  readonly t: string;
  readonly [k: string]: unknown;
}

function lines(input: NodeJS.ReadableStream, on: (m: Msg) => void): void {
  createInterface({ input }).on('line', (l) => on(JSON.parse(l) as Msg));
}

async function child(): Promise<void> {
  const out = (m: Msg): void => void process.stdout.write(`${JSON.stringify(m)}\n`);
  const link = new TinCanLink({ name: 'probe-rx', role: 'responder', config });
  link.signals.on('candidate', (c) => out({ t: 'cand', c }));
  let frames = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  link.start((b) => {
    if (cpu0 === undefined) {
      cpu0 = process.cpuUsage();
      first = performance.now();
    }
    last = performance.now();
    frames += b.count;
    for (let i = 0; i < b.count; i++) bytes += b.frame(i).length;
  });
  lines(process.stdin, (m) => {
    if (m.t === 'offer') {
      void link.acceptOffer(m.sdp as string, m.fingerprint as string).then((a) => out({ t: 'answer', ...a }));
    } else if (m.t === 'cand') {
      link.addRemoteCandidate(m.c as { candidate: string; mid: string });
    } else if (m.t === 'report') {
      const cpu = process.cpuUsage(cpu0);
      out({ t: 'report', frames, bytes, seconds: (last - first) / 1000, cpuMs: (cpu.user + cpu.system) / 1000, stats: link.stats() });
    } else if (m.t === 'exit') {
      link.close();
      cleanupWebRtc();
      process.exit(0);
    }
  });
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string', default: '1414' }, rate: { type: 'string', default: '70000' }, batch: { type: 'string', default: '1' }, seconds: { type: 'string', default: '3' } },
  });
  const size = Number(values.size);
  const rate = Number(values.rate);
  const batch = Math.max(1, Number(values.batch));
  const seconds = Number(values.seconds);
  const kid = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const send = (m: Msg): void => void kid.stdin.write(`${JSON.stringify(m)}\n`);
  const waiting = new Map<string, (m: Msg) => void>();
  const next = (t: string): Promise<Msg> => new Promise((r) => waiting.set(t, r));
  const link = new TinCanLink({ name: 'probe-tx', role: 'initiator', config });
  link.signals.on('candidate', (c) => send({ t: 'cand', c }));
  lines(kid.stdout, (m) => {
    if (m.t === 'cand') link.addRemoteCandidate(m.c as { candidate: string; mid: string });
    else waiting.get(m.t)?.(m);
  });
  const t0 = performance.now();
  const offer = await link.createOffer();
  const answerP = next('answer');
  send({ t: 'offer', ...offer });
  const answer = await answerP;
  link.applyAnswer(answer.sdp as string, answer.fingerprint as string);
  await link.whenUp();
  const setupMs = performance.now() - t0;

  const frame = Buffer.alloc(size, 0x5a);
  frame.writeUInt16BE(0x88b5, 12);
  const frames = Array.from({ length: batch }, () => frame);
  let sent = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  await new Promise<void>((done) => {
    const pump = (): void => {
      const now = performance.now();
      if (now >= end) return done();
      const due = rate > 0 ? Math.floor((rate * (now - start)) / 1000) - sent : batch * 64;
      for (let n = 0; n < due; n += batch) {
        link.send(frames);
        sent += batch;
      }
      if (rate > 0) setTimeout(pump, 1);
      else setImmediate(pump);
    };
    pump();
  });
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 500));
  const reportP = next('report');
  send({ t: 'report' });
  const rep = await reportP;
  const rxBytes = rep.bytes as number;
  const mbit = (rxBytes * 8) / (rep.seconds as number) / 1e6;
  const txMbit = (link.counters().txBytes * 8) / 1e6;
  console.log(
    JSON.stringify({
      size,
      rate,
      batch,
      setupMs: Math.round(setupMs),
      sentFrames: sent,
      rxFrames: rep.frames,
      lossPct: +(100 * (1 - (rep.frames as number) / sent)).toFixed(3),
      rxMbit: +mbit.toFixed(1),
      txCpuMsPerMbit: +((cpu.user + cpu.system) / 1000 / txMbit).toFixed(2),
      rxCpuMsPerMbit: +((rep.cpuMs as number) / ((rxBytes * 8) / 1e6)).toFixed(2),
      tx: link.counters(),
      srttMs: link.stats().srttMs,
    }),
  );
  send({ t: 'exit' });
  link.close();
  cleanupWebRtc();
  await new Promise((r) => kid.once('exit', r));
}

await (process.argv.includes('--child') ? child() : parent());
