/**
 * openflow/builders.ts: the messages the builders make encode byte for byte as the hand-spelled messages
 * the apps sent before they used them (the table-miss flow, the learning app's flow-mod, the packet-outs of
 * the learning and hub apps, a delete); match() checks names, values, masks and prerequisites against the
 * OXM table and keeps the written order; what the builders make decodes back to itself (the values are
 * in the codec's own form).
 */
import { describe, expect, it } from 'vitest';
import {
  type Match,
  type MessageOf,
  type OFPMessage,
  OFPBMC,
  OFPCML,
  OFPCodecError,
  OFPET,
  OFPFC,
  OFPFF,
  OFPIT,
  OFPP,
  OFP_DEFAULT_PRIORITY,
  OFP_NO_BUFFER,
  applyActions,
  clearActions,
  decode,
  deleteFlows,
  encode,
  flowMod,
  gotoTable,
  match,
  output,
  packetInPort,
  packetOut,
  popVlan,
  pushVlan,
  setField,
  toGroup,
  writeActions,
  writeMetadata,
} from '../../openflow/index.js';

/** The first byte offset where two encodings differ, for a readable failure. */
function sameBytes(built: OFPMessage, spelled: OFPMessage): void {
  const a = encode(built);
  const b = encode(spelled);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  expect(i === a.length && i === b.length ? 'identical' : `differ at byte ${i} (lengths ${a.length}, ${b.length})`).toBe('identical');
}

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const FRAME = Buffer.concat([Buffer.from('020000000002020000000001', 'hex'), Buffer.from([0x08, 0x00]), Buffer.alloc(46, 7)]);

function packetIn(bufferId: number, inPort = 3): MessageOf<'OFPPacketIn'> {
  return {
    type: 'OFPPacketIn', xid: 0, buffer_id: bufferId, total_len: FRAME.length, reason: 0, table_id: 0, cookie: 0n,
    match: [{ field: 'in_port', value: inPort }], data: bufferId === OFP_NO_BUFFER ? FRAME : FRAME.subarray(0, 20),
  };
}

// The messages as controller/apps/learning.ts and hub.ts spelled them before the builders (git history).
const spelled = {
  tableMiss: (tableId: number): OFPMessage => ({
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: tableId, command: OFPFC.ADD,
    idle_timeout: 0, hard_timeout: 0, priority: 0, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: 0xffffffff,
    flags: 0, match: [],
    instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: OFPCML.NO_BUFFER }] }],
  }),
  learnt: (bufferId: number): OFPMessage => ({
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD,
    idle_timeout: 30, hard_timeout: 0, priority: 1, buffer_id: bufferId, out_port: OFPP.ANY,
    out_group: 0xffffffff, flags: 0,
    match: [
      { field: 'in_port', value: 3 },
      { field: 'eth_dst', value: H2 },
      { field: 'eth_src', value: H1 },
    ],
    instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionOutput', port: 2, max_len: 0 }] }],
  }),
  packetOut: (pin: MessageOf<'OFPPacketIn'>, port: number): OFPMessage => ({
    type: 'OFPPacketOut', xid: 0, buffer_id: pin.buffer_id, in_port: 3,
    actions: [{ kind: 'OFPActionOutput', port, max_len: 0 }],
    data: pin.buffer_id === OFP_NO_BUFFER ? pin.data : Buffer.alloc(0),
  }),
};

describe('builders make the messages the apps spelled out, byte for byte', () => {
  it.each([0, 3])('the table-miss flow (table %i)', (table) => {
    sameBytes(flowMod({ table_id: table, priority: 0, actions: [output(OFPP.CONTROLLER)] }), spelled.tableMiss(table));
  });

  it.each([OFP_NO_BUFFER, 0x42])('the learning flow-mod (buffer 0x%s), its match from frame bytes', (bufferId) => {
    const built = flowMod({
      priority: 1, idle_timeout: 30, buffer_id: bufferId, actions: [output(2)],
      match: { in_port: 3, eth_dst: FRAME.subarray(0, 6), eth_src: FRAME.subarray(6, 12) },
    });
    sameBytes(built, spelled.learnt(bufferId));
    expect(built).toEqual(spelled.learnt(bufferId));
  });

  it.each([
    ['unbuffered: the frame goes back as data', OFP_NO_BUFFER],
    ['buffered: the buffer id, no data', 0x42],
  ])('the packet-out answering a packet-in, %s', (_what, bufferId) => {
    const pin = packetIn(bufferId);
    for (const port of [2, OFPP.FLOOD]) sameBytes(packetOut({ packetIn: pin, actions: [output(port)] }), spelled.packetOut(pin, port));
  });

  it('a delete of every flow in every table, and one by cookie (as the framework test spells it)', () => {
    const all: OFPMessage = {
      type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0xff, command: OFPFC.DELETE, idle_timeout: 0, hard_timeout: 0,
      priority: OFP_DEFAULT_PRIORITY, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: 0xffffffff, flags: 0, match: [], instructions: [],
    };
    sameBytes(deleteFlows(), all);
    sameBytes(deleteFlows({ cookie: 5n, cookie_mask: 0xffffffffffffffffn }), { ...all, cookie: 5n, cookie_mask: 0xffffffffffffffffn } as OFPMessage);
    sameBytes(deleteFlows({ table_id: 0, out_port: 4, strict: true, priority: 1, match: { in_port: 4 } }), {
      ...all, table_id: 0, out_port: 4, command: OFPFC.DELETE_STRICT, priority: 1, match: [{ field: 'in_port', value: 4 }],
    } as OFPMessage);
  });

  it('flowMod defaults are OpenFlow 1.3\'s (Ryu\'s OFPFlowMod): an empty spec is a drop-all ADD at 0x8000', () => {
    expect(flowMod({})).toEqual({
      type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: 0, hard_timeout: 0,
      priority: 0x8000, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: 0xffffffff, flags: 0, match: [], instructions: [],
    });
  });

  it('actions: is short for one apply-actions instruction; other instructions are given as such', () => {
    const acts = [setField('vlan_vid', 0x1005), output(1)];
    sameBytes(flowMod({ actions: acts }), flowMod({ instructions: [applyActions(...acts)] }));
    const m = flowMod({
      table_id: 1, flags: OFPFF.SEND_FLOW_REM,
      instructions: [writeMetadata(7n), writeActions(pushVlan(), toGroup(9)), clearActions(), gotoTable(2)],
    });
    expect(m.instructions).toEqual([
      { kind: 'OFPInstructionWriteMetadata', metadata: 7n, metadata_mask: 0xffffffffffffffffn },
      { kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions: [{ kind: 'OFPActionPushVlan', ethertype: 0x8100 }, { kind: 'OFPActionGroup', group_id: 9 }] },
      { kind: 'OFPInstructionActions', type: OFPIT.CLEAR_ACTIONS, actions: [] },
      { kind: 'OFPInstructionGotoTable', table_id: 2 },
    ]);
    expect(decode(encode(m))).toEqual(m);
    expect(popVlan()).toEqual({ kind: 'OFPActionPopVlan' });
  });

  it('packetOut without a packet-in: data from the controller, unbuffered, in_port CONTROLLER', () => {
    const po = packetOut({ actions: [output(OFPP.FLOOD)], data: FRAME });
    expect(po).toEqual({ type: 'OFPPacketOut', xid: 0, buffer_id: OFP_NO_BUFFER, in_port: OFPP.CONTROLLER, actions: [output(OFPP.FLOOD)], data: FRAME });
    expect(packetInPort(packetIn(OFP_NO_BUFFER, 7))).toBe(7);
  });

  it('output() sends whole frames to the controller and max_len 0 elsewhere', () => {
    expect(output(OFPP.CONTROLLER)).toEqual({ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: OFPCML.NO_BUFFER });
    expect(output(5)).toEqual({ kind: 'OFPActionOutput', port: 5, max_len: 0 });
    expect(output(OFPP.CONTROLLER, 128)).toEqual({ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: 128 });
  });
});

describe('match() from an object, through the OXM table', () => {
  it('keeps the written order, skips undefined, and holds values as the codec decodes them', () => {
    const vid: number | undefined = undefined;
    const m = match({
      in_port: 1, vlan_vid: vid, eth_dst: 'AA:BB:CC:00:00:01', eth_type: 0x86dd,
      ipv6_dst: { value: '2001:DB8:0:0:0:0:0:1', mask: 'ffff:ffff::' }, metadata: 9, ip_proto: 6, tcp_dst: 443,
    });
    expect(m).toEqual([
      { field: 'in_port', value: 1 },
      { field: 'eth_dst', value: 'aa:bb:cc:00:00:01' },
      { field: 'eth_type', value: 0x86dd },
      { field: 'ipv6_dst', value: '2001:db8::1', mask: 'ffff:ffff::' },
      { field: 'metadata', value: 9n },
      { field: 'ip_proto', value: 6 },
      { field: 'tcp_dst', value: 443 },
    ]);
    const fm = flowMod({ match: m });
    expect(decode(encode(fm))).toEqual(fm);
    // an OXM list is taken as it is
    const list: Match = [{ field: 'in_port', value: 2 }];
    expect(flowMod({ match: list }).match).toBe(list);
  });

  it.each([
    ['an unknown field', { in_prot: 1 }, OFPBMC.BAD_FIELD, /unknown field "in_prot"/],
    ['a mask on a field that takes none', { in_port: { value: 1, mask: 1 } }, OFPBMC.BAD_MASK, /in_port cannot be masked/],
    ['a value too wide', { vlan_vid: 0x10000 }, OFPBMC.BAD_VALUE, /vlan_vid value: 65536 does not fit in 16 bits/],
    ['a negative value', { in_port: -1 }, OFPBMC.BAD_VALUE, /in_port value/],
    ['text for an integer', { in_port: '1' }, OFPBMC.BAD_VALUE, /expected an integer/],
    ['a bad address', { eth_dst: '02:00:00:00:00' }, OFPBMC.BAD_VALUE, /eth_dst value/],
    ['address bytes of the wrong size', { ipv4_src: Buffer.alloc(6), eth_type: 0x800 }, OFPBMC.BAD_VALUE, /expected 4 bytes, got 6/],
    ['a field without its prerequisite', { ipv4_dst: '10.0.0.1' }, OFPBMC.BAD_PREREQ, /ipv4_dst needs eth_type 0x800 in the match/],
    ['a prerequisite with another value', { eth_type: 0x86dd, ipv4_dst: '10.0.0.1' }, OFPBMC.BAD_PREREQ, /ipv4_dst needs eth_type 0x800, the match has eth_type 34525/],
    ['a nested prerequisite missing', { eth_type: 0x800, tcp_dst: 80 }, OFPBMC.BAD_PREREQ, /tcp_dst needs ip_proto 0x6/],
    ['vlan_pcp without a VLAN present', { vlan_vid: 0, vlan_pcp: 3 }, OFPBMC.BAD_PREREQ, /vlan_pcp needs a VLAN/],
  ] as const)('refuses %s with the BAD_MATCH code a switch would send', (_what, fields, code, text) => {
    let err: unknown;
    try {
      match(fields);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OFPCodecError);
    expect((err as OFPCodecError).errType).toBe(OFPET.BAD_MATCH);
    expect((err as OFPCodecError).code).toBe(code);
    expect((err as OFPCodecError).message).toMatch(text);
  });

  it('setField checks its value as match does', () => {
    expect(setField('eth_src', Buffer.from('020000000009', 'hex'))).toEqual({ kind: 'OFPActionSetField', field: { field: 'eth_src', value: '02:00:00:00:00:09' } });
    expect(() => setField('nope', 1)).toThrow(/unknown field "nope"/);
  });
});
