/**
 * The switch and the in-tree controller joined in-process (overlay/local-channel.ts): an app sees the
 * switch enter with its ports, gets packet-ins (copies: the port's receive slab is reused) in order, and
 * its flow-mods and packet-outs act on the switch; a request the switch refuses rejects with the
 * switch's error, which also reaches the apps as an 'error' event; stats requests get their replies;
 * port-status keeps the handle's ports current; close() is a switch leaving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import type { App } from '../../controller/app.js';
import { Controller } from '../../controller/controller.js';
import { OFPP, type OFPMessage, flowMod, output, packetOut } from '../../openflow/index.js';
import { LocalChannel } from '../../overlay/local-channel.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { waitFor } from '../helpers/wait.js';

const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

interface Seen {
  enters: number[][];
  leaves: string[];
  packetIns: { port: number; data: Buffer }[];
  errors: number[];
  portAdds: string[];
}

async function setup(reply?: (inPort: number) => OFPMessage[]): Promise<{ dp: Datapath; local: LocalChannel; ports: MemoryPort[]; seen: Seen; controller: Controller }> {
  const seen: Seen = { enters: [], leaves: [], packetIns: [], errors: [], portAdds: [] };
  const app: App = {
    name: 'recorder',
    on: {
      switchEnter: ({ dp }) => {
        seen.enters.push([...dp.ports.keys()].sort((a, b) => a - b));
        return [flowMod({ priority: 0, actions: [output(OFPP.CONTROLLER)] })];
      },
      switchLeave: ({ reason }) => void seen.leaves.push(reason),
      portAdd: ({ port }) => void seen.portAdds.push(port.name),
      error: ({ msg }) => void seen.errors.push(msg.err_type),
      packetIn: ({ msg, inPort }) => {
        seen.packetIns.push({ port: inPort, data: msg.data });
        return reply?.(inPort);
      },
    },
  };
  const controller = new Controller({ apps: [app], logger: nullLogger });
  await controller.start();
  stops.push(() => controller.stop());
  const dp = new Datapath({ name: 'lc', dpid: 0x42n, tables: 1, failMode: 'secure', log: nullLogger });
  stops.push(() => dp.stop());
  const ports = [new MemoryPort({ name: 'p1' }), new MemoryPort({ name: 'p2' })];
  dp.addPort(ports[0] as MemoryPort, 1);
  dp.addPort(ports[1] as MemoryPort, 2);
  const local = new LocalChannel(dp, 0x42n, nullLogger);
  local.connect(controller);
  return { dp, local, ports, seen, controller };
}

const frame = (tag: number): Buffer => {
  const f = Buffer.alloc(60, tag);
  Buffer.from('ffffffffffff02000000000102', 'hex').copy(f, 0, 0, 12);
  f.writeUInt16BE(0x88b5, 12);
  return f;
};

describe('the in-process channel', () => {
  it('the switch enters with its ports; packet-ins arrive in order as copies; packet-outs leave the switch', async () => {
    const { ports, seen, local, controller } = await setup((inPort) => [packetOut({ data: frame(0xee), actions: [output(inPort === 1 ? 2 : 1)] })]);
    expect(seen.enters).toEqual([[1, 2]]);
    expect(controller.datapath(0x42n)).toBe(local);
    await waitFor('the table-miss flow', () => local.connected === 1);
    (ports[0] as MemoryPort).inject([frame(1), frame(2), frame(3)]);
    await waitFor('three packet-ins', () => seen.packetIns.length === 3);
    expect(seen.packetIns.map((p) => [p.port, p.data[20]])).toEqual([[1, 1], [1, 2], [1, 3]]);
    // The port's receive slab was scribbled over after the batch: what the app kept is intact.
    expect(seen.packetIns.every((p, i) => p.data.equals(frame(i + 1)))).toBe(true);
    expect((ports[1] as MemoryPort).take().map((f) => f[20])).toEqual([0xee, 0xee, 0xee]);
  });

  it('a refused request rejects with the switch\'s error, which also reaches the apps; stats have replies', async () => {
    const { local, seen } = await setup();
    await expect(local.request(flowMod({ table_id: 7, priority: 1, actions: [output(1)] }))).rejects.toMatchObject({ name: 'ControllerError', code: 'switch-error' });
    await waitFor('the error event', () => seen.errors.length === 1);
    const replies = await local.request({ type: 'OFPPortDescStatsRequest', xid: 0, flags: 0 });
    expect(replies.map((r) => r.type)).toEqual(['OFPPortDescStatsReply']);
    expect(await local.request({ type: 'OFPBarrierRequest', xid: 0 })).toMatchObject([{ type: 'OFPBarrierReply' }]);
    expect(await local.request(flowMod({ priority: 5, actions: [] }))).toEqual([]);
  });

  it('port-status keeps the ports current; close() is the switch leaving', async () => {
    const { dp, local, seen } = await setup();
    dp.addPort(new MemoryPort({ name: 'p3' }), 3);
    await waitFor('the port add', () => seen.portAdds.includes('p3'));
    expect([...local.ports.keys()].sort()).toEqual([1, 2, 3]);
    dp.removePort(3);
    await waitFor('the port gone', () => !local.ports.has(3));
    local.close('the node is stopping');
    expect(seen.leaves).toEqual(['the node is stopping']);
    await expect(local.request({ type: 'OFPBarrierRequest', xid: 0 })).rejects.toMatchObject({ code: 'disconnected' });
    expect(local.connected).toBe(0);
  });
});
