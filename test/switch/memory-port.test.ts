/**
 * The memory port (switch/memory-port.ts) keeps the rules of port.ts: names, drops counted and never
 * blocking or growing without bound, MTU overflow dropped not cut, headers only with offload, typed
 * events. Its wires deliver in order, later, in batches, adapting headers to each end as a veth does.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { MemoryPort, wire } from '../../switch/memory-port.js';
import { VNET, ZERO_VNET_HDR, vnetHeader } from '../../switch/offload.js';
import { type FramePort, type LinkState, PORT_NAME_MAX_BYTES, PortNameError, type PortEvents, checkPortName, fitsMtu } from '../../switch/port.js';
import { gsoHeader, plainFrameProblems, superFrame } from './offload-frames.js';

function frame(len: number, fill = 0x5a, ethertype = 0x88b5): Buffer {
  const f = Buffer.alloc(len, fill);
  Buffer.from('02000000000202000000000188b5', 'hex').copy(f, 0);
  f.writeUInt16BE(ethertype, 12);
  return f;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('names: 1 to 15 bytes, refused (not cut) beyond', () => {
  it.each([
    ['p1', true],
    ['a'.repeat(15), true],
    ['a'.repeat(16), false],
    ['tinflow-link-to-node-7', false],
    ['ñ'.repeat(7), true], // 14 bytes
    ['ñ'.repeat(8), false], // 16 bytes in 8 characters
    ['', false],
  ] as const)('%j ok: %s', (name, ok) => {
    if (ok) {
      expect(checkPortName(name)).toBe(name);
      expect(new MemoryPort({ name }).name).toBe(name);
      return;
    }
    expect(() => new MemoryPort({ name })).toThrow(PortNameError);
    if (name !== '') expect(() => new MemoryPort({ name })).toThrow(`port name ${JSON.stringify(name)} is ${Buffer.byteLength(name)} bytes, longer than 15`);
  });

  it('the limit is IFNAMSIZ - 1', () => {
    expect(PORT_NAME_MAX_BYTES).toBe(15);
  });
});

describe('sending: drops counted, never blocking, never unbounded', () => {
  it('a frame over the MTU is dropped and counted, not cut; a VLAN tag may add 4 bytes', () => {
    const p = new MemoryPort({ mtu: 1500 });
    p.send([frame(1514), frame(1515), frame(1518, 0, 0x8100), frame(1519, 0, 0x8100), frame(1518, 0, 0x88a8), frame(9014)]);
    expect(p.take().map((f) => f.length)).toEqual([1514, 1518, 1518]);
    expect(p.counters()).toMatchObject({ txPackets: 3, txBytes: 1514 + 1518 * 2, txDropped: 3, txErrors: 0 });
    expect([fitsMtu(frame(9014), 9000), fitsMtu(frame(9015), 9000)]).toEqual([true, false]);
  });

  it('a GSO super-frame passes a port with offload whatever its size; a checksum-only frame must fit', () => {
    const p = new MemoryPort({ offload: true });
    const b = superFrame({ payload: Buffer.alloc(20000, 1) });
    const csumOnly = vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
    p.send([b.frame, b.frame], Buffer.concat([gsoHeader(b, VNET.GSO_TCPV4, 1448), csumOnly]));
    expect(p.sent.map((s) => s.frame.length)).toEqual([b.frame.length]);
    expect(p.counters().txDropped).toBe(1);
  });

  it('frames beyond txQueueLimit waiting for their reader are dropped and counted; taking makes room', () => {
    const p = new MemoryPort({ txQueueLimit: 3 });
    p.send([frame(60, 1), frame(60, 2), frame(60, 3), frame(60, 4)]);
    expect(p.counters()).toMatchObject({ txPackets: 3, txDropped: 1 });
    expect(p.take().map((f) => f[20])).toEqual([1, 2, 3]);
    p.send([frame(60, 5)]);
    expect(p.take().map((f) => f[20])).toEqual([5]);
  });

  it('frames sent while the link is down are dropped and counted; a closed port ignores send', () => {
    const p = new MemoryPort();
    p.setLink({ carrier: false });
    p.send([frame(60)]);
    p.setLink({ carrier: true, up: false });
    p.send([frame(60)]);
    expect([p.take().length, p.counters().txDropped]).toEqual([0, 2]);
    p.close();
    p.send([frame(60)]);
    expect([p.take().length, p.counters().txDropped, p.sendCalls]).toEqual([0, 2, 3]);
  });

  it('a port without offload refuses headers: the datapath must have made the frames plain', () => {
    const p = new MemoryPort({ name: 'plain0' });
    expect(() => p.send([frame(60)], ZERO_VNET_HDR)).toThrow(/plain0 .*no offload/);
    expect(() => p.inject([frame(60)], [ZERO_VNET_HDR])).toThrow(/no offload/);
  });

  it('keeps copies: the caller may reuse its memory at once', () => {
    const p = new MemoryPort();
    const f = frame(60, 1);
    p.send([f]);
    f.fill(0);
    expect(p.take()[0]?.[20]).toBe(1);
  });
});

describe('events are typed where they are declared', () => {
  it('link carries a LinkState, gone a reason', () => {
    expectTypeOf<PortEvents['link']>().toEqualTypeOf<[state: LinkState]>();
    expectTypeOf<PortEvents['gone']>().toEqualTypeOf<[reason: string]>();
    const p: FramePort = new MemoryPort();
    const seen: string[] = [];
    p.on('link', (s) => seen.push(`link ${s.up} ${s.carrier}`)); // s: LinkState, not any
    p.on('gone', (r) => seen.push(`gone ${r.toUpperCase()}`));
    (p as MemoryPort).setLink({ carrier: false });
    (p as MemoryPort).vanish('unplugged');
    expect(seen).toEqual(['link true false', 'gone UNPLUGGED']);
  });
});

describe('wires', () => {
  function pair(opts: { aOffload?: boolean; bOffload?: boolean } = {}) {
    const a = new MemoryPort({ name: 'wa', offload: opts.aOffload ?? false });
    const b = new MemoryPort({ name: 'wb', offload: opts.bOffload ?? false });
    const got: { frames: Buffer[]; hdrs: (Buffer | undefined)[] }[] = [];
    b.start((batch) => {
      const frames: Buffer[] = [];
      const hdrs: (Buffer | undefined)[] = [];
      for (let i = 0; i < batch.count; i++) {
        frames.push(Buffer.from(batch.frame(i)));
        const h = batch.offload(i);
        hdrs.push(h && Buffer.from(h));
      }
      got.push({ frames, hdrs });
    });
    return { a, b, got, w: wire(a, b) };
  }

  it('delivers later (not during send), in order, in batches of at most 64', async () => {
    const { a, got } = pair();
    const frames = Array.from({ length: 150 }, (_, i) => frame(60 + i, i));
    a.send(frames.slice(0, 100));
    a.send(frames.slice(100));
    expect(got).toEqual([]);
    await turn();
    expect(got.map((g) => g.frames.length)).toEqual([64, 64, 22]);
    expect(got.flatMap((g) => g.frames)).toEqual(frames);
    expect(a.take()).toEqual([]); // a wired port keeps nothing for take()
  });

  it('both ways, and a frame sent while delivering goes on a later turn, after what was queued', async () => {
    const { a, b, got } = pair();
    const back: number[] = [];
    a.start((batch) => {
      for (let i = 0; i < batch.count; i++) back.push(batch.frame(i)[20] as number);
      a.send([frame(60, 99)]); // an answer, while the wire is delivering
    });
    b.stop();
    b.start((batch) => {
      got.push({ frames: [Buffer.from(batch.frame(0))], hdrs: [] });
      b.send([frame(60, 7)]);
    });
    a.send([frame(60, 1)]);
    await turn();
    await turn();
    await turn();
    expect(back).toEqual([7]);
    expect(got.map((g) => g.frames[0]?.[20])).toEqual([1, 99]);
  });

  it('a super-frame reaching an end without offload arrives cut, with checksums; plain frames get a zero header at an end with offload', async () => {
    const { a, got } = pair({ aOffload: true, bOffload: false });
    const sb = superFrame({ payload: Buffer.alloc(10000, 3) });
    a.send([sb.frame], gsoHeader(sb, VNET.GSO_TCPV4, 1448));
    await turn();
    const frames = got.flatMap((g) => g.frames);
    expect(frames).toHaveLength(Math.ceil(10000 / 1448));
    for (const f of frames) expect(plainFrameProblems(f)).toEqual([]);
    expect(got.flatMap((g) => g.hdrs).every((h) => h === undefined)).toBe(true);

    const r = pair({ aOffload: false, bOffload: true });
    r.a.send([frame(60)]);
    await turn();
    expect(r.got[0]?.hdrs).toEqual([ZERO_VNET_HDR]);
  });

  it('frames for an end that is not started count in its rxDropped', async () => {
    const { a, b } = pair();
    b.stop();
    a.send([frame(60), frame(60)]);
    await turn();
    expect(b.counters().rxDropped).toBe(2);
  });

  it('cutting it, or closing one end, takes the carrier down; frames in flight are lost', async () => {
    const { a, b, got, w } = pair();
    const links: string[] = [];
    a.on('link', (s) => links.push(`a ${s.carrier}`));
    b.on('link', (s) => links.push(`b ${s.carrier}`));
    a.send([frame(60)]);
    w.unplug();
    await turn();
    expect(got).toEqual([]);
    expect(links).toEqual(['a false', 'b false']);
    expect(w.cut).toBe(true);

    const p = pair();
    const seen: boolean[] = [];
    p.b.on('link', (s) => seen.push(s.carrier));
    p.a.close();
    expect(seen).toEqual([false]);
    expect(p.b.wiredTo).toBeUndefined();
  });

  it('refuses to wire a port twice, to itself, or when closed', () => {
    const { a } = pair();
    const c = new MemoryPort();
    expect(() => wire(a, c)).toThrow(/wired to wb already/);
    expect(() => wire(c, c)).toThrow(/itself/);
    c.close();
    expect(() => wire(new MemoryPort(), c)).toThrow(/closed/);
  });

  it('a wire holds at most txQueueLimit frames in flight; the rest are dropped and counted', async () => {
    const a = new MemoryPort({ txQueueLimit: 10 });
    const b = new MemoryPort();
    let n = 0;
    b.start((batch) => (n += batch.count));
    wire(a, b);
    a.send(Array.from({ length: 25 }, () => frame(60)));
    await turn();
    expect([n, a.counters().txDropped]).toEqual([10, 15]);
  });
});

describe('the receive side keeps the batch contract', () => {
  it('hands out views that die after the batch, records copies, counts and reports link changes', () => {
    const p = new MemoryPort({ name: 't0' });
    const F = frame(64, 1);
    const G = frame(70, 2);
    let kept: Buffer | undefined;
    p.start((batch) => {
      expect(batch.count).toBe(2);
      kept = batch.frame(1);
      expect(batch.offload(0)).toBeUndefined();
      p.send([batch.frame(0), batch.frame(1)]);
    });
    p.inject([F, G]);
    expect(kept?.toString('hex')).toBe('ee'.repeat(G.length));
    expect(p.take()).toEqual([F, G]);
    expect(p.counters()).toMatchObject({ rxPackets: 2, rxBytes: F.length + G.length, txPackets: 2 });
    p.stop();
    p.inject([F]);
    expect(p.counters().rxDropped).toBe(1);
  });
});
