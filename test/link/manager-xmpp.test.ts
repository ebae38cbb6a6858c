/**
 * The link manager over real signaling: two XmppCircles (link/signal.ts) in a real prosody on loopback
 * (signal-prosody.ts starts it), two LinkManagers, real TinCan links. connect() brings both ends up,
 * frames pass, disconnect() is seen 'down' at the other end. And, at the type level, XmppCircle is a
 * SignalingLike: the manager takes it as it is.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameBatch, FramePort } from '../../switch/port.js';
import { type NodeCert, generateNodeCert } from '../../link/cert.js';
import { LinkManager, type SignalingLike } from '../../link/manager.js';
import { XmppCircle } from '../../link/signal.js';
import { cleanupWebRtc } from '../../link/tincan.js';
import { waitFor } from '../helpers/wait.js';
import { LOOPBACK, UP_MS, frameOf } from './pair.js';
import { type TestProsody, hasProsody, startTestProsody, testSignalConfig } from './signal-prosody.js';

/** The type-level test: an XmppCircle is what the manager's `signal` option asks for. */
export function asSignaling(c: XmppCircle): SignalingLike {
  return c;
}

const OVERLAY = 'lmxmpp';
const pw = (user: string): string => `pw-${user}`;

describe.skipIf(!hasProsody)('the link manager over a real prosody', () => {
  let prosody: TestProsody;
  let dir: string;
  const circles: XmppCircle[] = [];
  const managers: LinkManager[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tinflow-lmx-'));
    prosody = await startTestProsody({ accounts: ['a', 'b'].map((u) => ({ user: u, password: pw(u) })) });
  });

  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await Promise.all(circles.map((c) => c.stop()));
    await prosody?.dispose();
    cleanupWebRtc();
    rmSync(dir, { recursive: true, force: true });
  });

  function circle(user: string, nodeId: string): XmppCircle {
    const c = new XmppCircle({ nodeId, overlayId: OVERLAY, config: testSignalConfig(prosody, user, pw(user)) });
    circles.push(c);
    return c;
  }

  function manager(c: XmppCircle, cert: NodeCert): LinkManager {
    const m = new LinkManager({
      nodeId: c.nodeId,
      overlayId: OVERLAY,
      mac: `02:00:00:00:00:${c.nodeId.slice(0, 2)}`,
      signal: c,
      cert,
      link: LOOPBACK,
      timeouts: { stepMs: 8000, setupMs: 20_000 },
    });
    m.start();
    managers.push(m);
    return m;
  }

  it('connect(): both ends up with their ports, frames pass, and disconnect() is seen down at the other end', async () => {
    const make = (n: string): Promise<NodeCert> => generateNodeCert(join(dir, `${n}.crt`), join(dir, `${n}.key`));
    const [certA, certB] = await Promise.all([make('a'), make('b')]);
    const ia = randomBytes(16).toString('hex');
    const ib = randomBytes(16).toString('hex');
    const ca = circle('a', ia);
    const cb = circle('b', ib);
    await ca.start(); // a makes the room first; b may find it locked a moment and retry
    await cb.start();
    const detail = (): string => prosody.logTail(20);
    await waitFor('a and b to see each other', () => ca.peers().includes(ib) && cb.peers().includes(ia), 15_000, { detail });

    const ma = manager(ca, certA);
    const mb = manager(cb, certB);
    const upB: FramePort[] = [];
    const downA: string[] = [];
    mb.on('up', (_info, port) => upB.push(port));
    ma.on('down', (_info, reason) => downA.push(reason));
    let portA: FramePort | undefined;
    ma.on('up', (_info, port) => (portA = port));

    const info = await ma.connect(ib);
    expect(info).toMatchObject({ peerId: ib, role: 'initiator', state: 'up', portName: `tf${ib.slice(0, 10)}` });
    const pb = await waitFor('B up', () => upB[0], UP_MS);
    expect(pb.name).toBe(`tf${ia.slice(0, 10)}`);
    expect(mb.links()).toMatchObject([{ peerId: ia, linkId: info.linkId, role: 'responder', state: 'up' }]);

    const got: Buffer[] = [];
    pb.start((batch: FrameBatch) => {
      for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.frame(i)));
    });
    (portA as FramePort).send([frameOf(300, 1), frameOf(1400, 2)]);
    await waitFor('two frames at B', () => got.length >= 2, 10_000);
    expect(got.map((f) => f.length)).toEqual([300, 1400]);

    mb.disconnect(ia, 'over XMPP');
    await waitFor('A down', () => downA.length === 1, LOOPBACK.timeoutMs);
    expect(ma.links()).toEqual([]);
    expect(ma.counters()).toMatchObject({ offered: 1, up: 1, down: 1, failed: 0, refusedIn: {}, refusedOut: {}, badReplies: 0 });
  }, 90_000);
});
