/**
 * A TinCan link through a real TURN relay (coturn on loopback, its own config, ports and user database
 * in a temporary folder): ICE servers with credentials and `iceTransportPolicy: "relay"` reach
 * libdatachannel, the selected pair is relay ↔ relay in the stats, and frames cross. Skipped where
 * coturn's `turnserver` is not installed (apt-get install coturn).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveLinkConfig } from '../../link/config.js';
import { cleanupWebRtc } from '../../link/tincan.js';
import { collect, connectedPair, frameOf, until } from './pair.js';

const hasTurn = spawnSync('sh', ['-c', 'command -v turnserver'], { stdio: 'ignore' }).status === 0;

/** A UDP port free on 127.0.0.2 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.2', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasTurn)('a link through a TURN relay', () => {
  let dir: string;
  let turn: ChildProcess | undefined;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tinflow-turn-'));
    port = await freePort();
    const relayBase = 50000 + Math.floor(Math.random() * 150) * 100;
    writeFileSync(
      join(dir, 'turn.conf'),
      [
        // The relay on an address of its own (127.0.0.2), and no relaying to the nodes' address
        // (127.0.0.1): as on a real network, a node cannot reach the other's relay from its host socket
        // (TURN permissions go by address, and on one loopback address everything would pass).
        'listening-ip=127.0.0.2',
        'relay-ip=127.0.0.2',
        'denied-peer-ip=127.0.0.1',
        `listening-port=${port}`,
        `min-port=${relayBase}`,
        `max-port=${relayBase + 99}`,
        'realm=tinflow.test',
        'lt-cred-mech',
        'user=node:s3cret:pass',
        'fingerprint',
        'no-tls',
        'no-dtls',
        'no-cli',
        'no-multicast-peers',
        'allow-loopback-peers', // the peers are on loopback here; never in production
        `userdb=${join(dir, 'turndb')}`,
        `pidfile=${join(dir, 'turn.pid')}`,
        `log-file=${join(dir, 'turn.log')}`,
        'simple-log',
      ].join('\n'),
    );
    turn = spawn('turnserver', ['-c', join(dir, 'turn.conf')], { stdio: 'ignore' });
    const log = (): string => {
      try {
        return readFileSync(join(dir, 'turn.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await until(() => /Relay ports initialization done/.test(log()), 15_000, 'coturn to start');
    await new Promise((r) => setTimeout(r, 200));
  }, 30_000);

  afterAll(async () => {
    cleanupWebRtc();
    const t = turn;
    if (t !== undefined && t.exitCode === null) {
      const exited = new Promise((r) => t.once('exit', r));
      t.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (t.exitCode === null) t.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }, 15_000);

  it('comes up relay ↔ relay with iceTransportPolicy "relay", and carries frames', async () => {
    const config = resolveLinkConfig({
      bindAddress: '127.0.0.1',
      iceServers: [{ url: `turn:127.0.0.2:${port}?transport=udp`, username: 'node', credential: 's3cret:pass' }],
      iceTransportPolicy: 'relay',
      setupTimeoutMs: 20_000,
    });
    const p = await connectedPair({ config });
    try {
      for (const l of [p.a, p.b]) {
        const pair = l.stats().pair;
        expect(pair?.local).toMatchObject({ type: 'relay', address: '127.0.0.2' });
        expect(pair?.remote).toMatchObject({ type: 'relay', address: '127.0.0.2' });
      }
      const got = collect(p.b);
      const frames = [frameOf(60, 1), frameOf(1414, 2)];
      p.a.send(frames);
      await until(() => got.frames.length >= 2, 10_000, 'frames through the relay');
      expect(got.frames.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
    } finally {
      p.a.close();
      p.b.close();
    }
  }, 40_000);
});
