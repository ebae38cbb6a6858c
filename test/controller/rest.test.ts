/**
 * Ryu's ofctl_rest routes (controller/rest-ofctl.ts) against live `tinflow switch` processes connected
 * to the controller: every route, with the results checked on the switch by reading them back (a flow
 * added is listed by /stats/flow in ofctl's form, a port modified shows in /stats/portdesc, a clear
 * empties the tables), the bad requests (unknown dpid, malformed JSON, bad match field or action, a
 * flow-mod the switch refuses, a switch that stops answering), and that afterwards the controller still
 * serves that switch and a second one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { Controller } from '../../controller/controller.js';
import { type RestServer, startRest } from '../../controller/rest.js';
import { type Json, parseJson, stringifyJson } from '../../openflow/index.js';
import { Lab } from '../../scripts/netlab.js';
import { waitFor } from '../helpers/wait.js';
import { startSwitch, stop } from '../switch/switch-lab.js';

const OF_PORT = 6821;
const A = 0xa1n;
/** Beyond 2^53: the dpid must stay exact in URLs, bodies and JSON keys. */
const B = 0xfedcba9876543210n;
const a = A.toString();
const b = B.toString();
const TIMEOUT_MS = 1500;

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: Json | undefined;
}

let base = '';

async function http(method: string, path: string, body?: Json | string, contentType: string | null = 'application/json'): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (body !== undefined && contentType !== null) headers['content-type'] = contentType;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : stringifyJson(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let json: Json | undefined;
  try {
    json = text === '' ? undefined : parseJson(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** A GET with a body (curl -X GET -d '...', which Ryu reads); fetch cannot send one. */
function getWithBody(path: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method: 'GET', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: text ? parseJson(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function get(path: string, body?: Json): Promise<Json> {
  const r = await http(body === undefined ? 'GET' : 'POST', path, body);
  expect(r.status, `${path}: ${r.text}`).toBe(200);
  return r.json as Json;
}

/** The list under a dpid key. */
async function list(path: string, dpid: string, body?: Json): Promise<Record<string, Json>[]> {
  const j = (await get(path, body)) as Record<string, Json>;
  expect(Object.keys(j)).toEqual([dpid]);
  return j[dpid] as Record<string, Json>[];
}

async function ok(path: string, body: Json, method = 'POST'): Promise<void> {
  const r = await http(method, path, body);
  expect(r.status, `${method} ${path} ${stringifyJson(body)}: ${r.text}`).toBe(200);
  expect(r.text).toBe('');
}

async function fails(method: string, path: string, body: Json | string | undefined, status: number, error: RegExp, contentType?: string): Promise<Record<string, Json>> {
  const r = await http(method, path, body, contentType ?? 'application/json');
  expect(r.status, r.text).toBe(status);
  const j = r.json as Record<string, Json>;
  expect(typeof j['error'], r.text).toBe('string');
  expect(j['error']).toMatch(error);
  return j;
}

function waitEnter(ctl: Controller, id: bigint): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (ctl.datapath(id)) {
        ctl.off('switchEnter', check);
        resolve();
      }
    };
    ctl.on('switchEnter', check);
    check();
  });
}

describe('ofctl REST routes on live switches', () => {
  const lab = new Lab('or');
  let ctl: Controller;
  let rest: RestServer;
  let swA: ChildProcess;
  let swB: ChildProcess | undefined;
  const brA = lab.name('bra');

  beforeAll(async () => {
    // Quiet ports (netlab.ts): the veths, and the LOCAL port's TAP made here with IPv6 off for the
    // switch to attach to. Kernel chatter on any of them would hit flows whose counters are checked.
    for (const i of [1, 2]) lab.veth(lab.name(`a${i}`), lab.name(`x${i}`));
    lab.tap(brA);
    ctl = new Controller({ listen: [`tcp:127.0.0.1:${OF_PORT}`], apps: [] });
    await ctl.start();
    rest = await startRest(ctl, { host: '127.0.0.1', port: 0, timeoutMs: TIMEOUT_MS });
    base = rest.url;
    const entered = waitEnter(ctl, A);
    swA = startSwitch(lab, [
      '--name', brA, '--dpid', A.toString(16), '--controller', `tcp:127.0.0.1:${OF_PORT}`, '--tables', '8',
      '--port', `1=${lab.name('a1')}`, '--port', `2=${lab.name('a2')}`, '--log-level', 'warn',
    ]);
    await entered;
  }, 30_000);

  afterAll(async () => {
    if (swA) await stop(swA);
    if (swB) await stop(swB);
    await rest?.close();
    await ctl?.stop();
    lab.cleanup();
  });

  it('GET /stats/switches lists the connected datapath', async () => {
    expect(await get('/stats/switches')).toEqual([161]);
  });

  it('GET /stats/desc, by decimal and by 0x-hex dpid', async () => {
    const want = { [a]: { mfr_desc: 'tinflow', hw_desc: 'tinflow userspace switch', sw_desc: 'tinflow 0.1.0', serial_num: 'None', dp_desc: brA } };
    expect(await get(`/stats/desc/${a}`)).toEqual(want);
    expect(await get('/stats/desc/0xa1')).toEqual(want);
  });

  it('GET /stats/portdesc: every port, and one by number or name', async () => {
    const ports = await list(`/stats/portdesc/${a}`, a);
    expect(ports.map((p) => [p['port_no'], p['name']])).toEqual([[1, lab.name('a1')], [2, lab.name('a2')], ['LOCAL', brA]]);
    for (const p of ports) {
      expect(Object.keys(p).sort()).toEqual(['advertised', 'config', 'curr', 'curr_speed', 'hw_addr', 'max_speed', 'name', 'peer', 'port_no', 'state', 'supported']);
      expect(p['hw_addr']).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
    expect((await list(`/stats/portdesc/${a}/2`, a)).map((p) => p['port_no'])).toEqual([2]);
    expect((await list(`/stats/portdesc/${a}/LOCAL`, a)).map((p) => p['port_no'])).toEqual(['LOCAL']);
  });

  it('GET /stats/port: all, one, ALL; an unknown port is the switch\'s error', async () => {
    const all = await list(`/stats/port/${a}`, a);
    expect(all.map((p) => p['port_no'])).toEqual([1, 2, 'LOCAL']);
    expect(Object.keys(all[0] ?? {}).sort()).toEqual([
      'collisions', 'duration_nsec', 'duration_sec', 'port_no', 'rx_bytes', 'rx_crc_err', 'rx_dropped', 'rx_errors', 'rx_frame_err', 'rx_over_err',
      'rx_packets', 'tx_bytes', 'tx_dropped', 'tx_errors', 'tx_packets',
    ]);
    expect((await list(`/stats/port/${a}/1`, a)).map((p) => p['port_no'])).toEqual([1]);
    expect((await list(`/stats/port/${a}/ALL`, a)).length).toBe(3);
    const e = await fails('GET', `/stats/port/${a}/9`, undefined, 400, /refused OFPPortStatsRequest/);
    expect(e).toMatchObject({ code: 'switch-error', err_type_name: 'OFPET_BAD_REQUEST', err_code_name: 'OFPBRC_BAD_PORT' });
  });

  it('GET /stats/table and /stats/tablefeatures', async () => {
    const tables = await list(`/stats/table/${a}`, a);
    expect(tables.map((t) => t['table_id'])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(tables[0]).toEqual({ active_count: 0, lookup_count: expect.any(Number), matched_count: expect.any(Number), table_id: 0 });
    const features = await list(`/stats/tablefeatures/${a}`, a);
    expect(features).toHaveLength(8);
    const f0 = features[0] as Record<string, Json>;
    expect(f0['table_id']).toBe(0);
    const types = (f0['properties'] as Record<string, Json>[]).map((p) => p['type']);
    expect(types).toContain('INSTRUCTIONS');
    expect(types).toContain('MATCH');
    const match = (f0['properties'] as Record<string, Json>[]).find((p) => p['type'] === 'MATCH') as Record<string, Json>;
    expect(match['oxm_ids']).toContainEqual({ hasmask: 0, length: 4, type: 'in_port' });
  });

  it('starts with no flows', async () => {
    expect(await list(`/stats/flow/${a}`, a)).toEqual([]);
    expect(await list(`/stats/aggregateflow/${a}`, a)).toEqual([{ packet_count: 0, byte_count: 0, flow_count: 0 }]);
  });

  const WEB = {
    dpid: A, table_id: 0, priority: 100, cookie: 7, idle_timeout: 0, hard_timeout: 0, flags: 1,
    match: { in_port: 1, dl_type: 2048, nw_dst: '10.0.0.0/24', nw_proto: 6, tp_dst: 80 },
    actions: [
      { type: 'SET_FIELD', field: 'eth_dst', value: '00:00:00:00:00:02' }, { type: 'DEC_NW_TTL' }, { type: 'OUTPUT', port: 2 },
      { type: 'WRITE_METADATA', metadata: 1, metadata_mask: 255 }, { type: 'GOTO_TABLE', table_id: 1 },
    ],
  };

  it('POST /stats/flowentry/add; GET /stats/flow shows it in ofctl\'s form', async () => {
    await ok('/stats/flowentry/add', WEB);
    await ok('/stats/flowentry/add', { dpid: a, table_id: 1, priority: 5, match: { dl_vlan: 5, dl_src: '00:00:00:00:00:0a/ff:ff:ff:00:00:00' }, actions: [{ type: 'POP_VLAN' }, { type: 'OUTPUT', port: 'CONTROLLER', max_len: 128 }] });
    await ok('/stats/flowentry/add', { dpid: '0xa1', table_id: 1, priority: 6, match: { eth_type: 0x86dd, ipv6_src: '2001:db8::/32', ip_proto: 17, tp_src: 53 }, actions: [{ type: 'WRITE_ACTIONS', actions: [{ type: 'OUTPUT', port: 1 }] }, { type: 'CLEAR_ACTIONS' }] });
    const flows = await list(`/stats/flow/${a}`, a);
    expect(flows).toHaveLength(3);
    const web = flows.find((f) => f['priority'] === 100) as Record<string, Json>;
    expect(web).toMatchObject({
      priority: 100, cookie: 7, idle_timeout: 0, hard_timeout: 0, flags: 1, packet_count: 0, byte_count: 0, table_id: 0,
      match: { in_port: 1, dl_type: 2048, nw_dst: '10.0.0.0/255.255.255.0', nw_proto: 6, tp_dst: 80 },
      actions: ['WRITE_METADATA:0x1/0xff', 'GOTO_TABLE:1', 'SET_FIELD: {eth_dst:00:00:00:00:00:02}', 'DEC_NW_TTL', 'OUTPUT:2'],
    });
    expect(Object.keys(web).sort()).toEqual(['actions', 'byte_count', 'cookie', 'duration_nsec', 'duration_sec', 'flags', 'hard_timeout', 'idle_timeout', 'length', 'match', 'packet_count', 'priority', 'table_id']);
    expect(web['length']).toBe(48 + 48 + 24 + 8 + 48); // ofp_flow_stats, match, write-metadata, goto, apply-actions
    expect(flows.find((f) => f['priority'] === 5)).toMatchObject({
      table_id: 1, match: { dl_vlan: '5', dl_src: '00:00:00:00:00:00/ff:ff:ff:00:00:00' }, actions: ['POP_VLAN', 'OUTPUT:CONTROLLER'],
    });
    expect(flows.find((f) => f['priority'] === 6)).toMatchObject({
      table_id: 1, match: { dl_type: 34525, ipv6_src: '2001:db8::/ffff:ffff::', nw_proto: 17, tp_src: 53 }, actions: [{ WRITE_ACTIONS: ['OUTPUT:1'] }, 'CLEAR_ACTIONS'],
    });
  });

  it('GET|POST /stats/flow and /stats/aggregateflow with filters', async () => {
    const prios = async (filter: Json): Promise<Json[]> => (await list(`/stats/flow/${a}`, a, filter)).map((f) => f['priority'] as Json).sort();
    expect(await prios({ table_id: 1 })).toEqual([5, 6]);
    expect(await prios({ match: { in_port: 1 } })).toEqual([100]);
    expect(await prios({ priority: 6 })).toEqual([6]);
    expect(await prios({ cookie: 7, cookie_mask: '0xffffffffffffffff' })).toEqual([100]);
    expect(await prios({ out_port: 2 })).toEqual([100]);
    expect(await prios({ table_id: 'ALL', out_port: 'CONTROLLER' })).toEqual([5]);
    expect((await list(`/stats/flowdesc/${a}`, a, { table_id: 0 })).map((f) => f['priority'])).toEqual([100]);
    expect(await list(`/stats/aggregateflow/${a}`, a)).toEqual([{ packet_count: 0, byte_count: 0, flow_count: 3 }]);
    expect(await list(`/stats/aggregateflow/${a}`, a, { table_id: 1 })).toEqual([{ packet_count: 0, byte_count: 0, flow_count: 2 }]);
    // curl -d sends form-encoded; a GET's body and a body without content type are read as well
    const form = await http('POST', `/stats/flow/${a}`, '{"table_id": 1, "priority": 5}', 'application/x-www-form-urlencoded');
    expect(form.status, form.text).toBe(200);
    expect((form.json as Record<string, Record<string, Json>[]>)[a]?.map((f) => f['priority'])).toEqual([5]);
    const withBody = await getWithBody(`/stats/flow/${a}`, '{"table_id": 1, "priority": 6}');
    expect(withBody.status, withBody.text).toBe(200);
    expect((withBody.json as Record<string, Record<string, Json>[]>)[a]?.map((f) => f['priority'])).toEqual([6]);
    expect((await getWithBody(`/stats/flow/${a}`, '{"table_id": ')).status).toBe(400);
    const bare = await http('POST', `/stats/aggregateflow/${a}`, '{"table_id": 0}', null);
    expect(bare.status, bare.text).toBe(200);
    expect(bare.json).toEqual({ [a]: [{ packet_count: 0, byte_count: 0, flow_count: 1 }] });
  });

  it('modify, modify_strict, delete_strict, delete', async () => {
    await ok('/stats/flowentry/modify', { dpid: A, table_id: 1, match: { dl_vlan: 5 }, actions: [{ type: 'OUTPUT', port: 2 }] });
    let flows = await list(`/stats/flow/${a}`, a, { table_id: 1 });
    expect(flows.find((f) => f['priority'] === 5)?.['actions']).toEqual(['OUTPUT:2']);
    // strict: a different priority matches nothing, the right one changes the flow
    await ok('/stats/flowentry/modify_strict', { dpid: A, table_id: 1, priority: 4, match: { dl_vlan: 5, dl_src: '00:00:00:00:00:0a/ff:ff:ff:00:00:00' }, actions: [{ type: 'OUTPUT', port: 1 }] });
    await ok('/stats/flowentry/modify_strict', { dpid: A, table_id: 1, priority: 5, match: { dl_vlan: 5, dl_src: '00:00:00:00:00:0a/ff:ff:ff:00:00:00' }, actions: [{ type: 'DEC_NW_TTL' }, { type: 'OUTPUT', port: 'IN_PORT' }] });
    flows = await list(`/stats/flow/${a}`, a, { table_id: 1, priority: 5 });
    expect(flows.map((f) => f['actions'])).toEqual([['DEC_NW_TTL', 'OUTPUT:IN_PORT']]);
    await ok('/stats/flowentry/delete_strict', { dpid: A, table_id: 1, priority: 6, match: { eth_type: 0x86dd } });
    expect((await list(`/stats/flow/${a}`, a, { table_id: 1 })).map((f) => f['priority'])).toEqual([6, 5]);
    await ok('/stats/flowentry/delete_strict', { dpid: A, table_id: 1, priority: 6, match: { eth_type: 0x86dd, ipv6_src: '2001:db8::/32', ip_proto: 17, tp_src: 53 } });
    expect((await list(`/stats/flow/${a}`, a, { table_id: 1 })).map((f) => f['priority'])).toEqual([5]);
    await ok('/stats/flowentry/delete', { dpid: A, table_id: 255, out_port: 'IN_PORT' });
    expect((await list(`/stats/flow/${a}`, a)).map((f) => f['priority'])).toEqual([100]);
  });

  it('groups: add, desc, stats, features, modify, delete', async () => {
    await ok('/stats/groupentry/add', { dpid: A, group_id: 1, type: 'ALL', buckets: [{ actions: [{ type: 'OUTPUT', port: 1 }] }, { actions: [{ type: 'PUSH_VLAN', ethertype: 33024 }, { type: 'SET_FIELD', field: 'vlan_vid', value: 4101 }, { type: 'OUTPUT', port: 2 }] }] });
    await ok('/stats/groupentry/add', { dpid: A, group_id: 2, type: 'FF', buckets: [{ watch_port: 1, actions: [{ type: 'OUTPUT', port: 1 }] }, { watch_port: 2, actions: [{ type: 'OUTPUT', port: 2 }] }] });
    await ok('/stats/groupentry/add', { dpid: A, group_id: 3, type: 'SELECT', buckets: [{ weight: 1, actions: [{ type: 'GROUP', group_id: 1 }] }] });
    const desc = await list(`/stats/groupdesc/${a}`, a);
    expect(desc).toEqual([
      { group_id: 1, type: 'ALL', buckets: [
        { weight: 0, watch_port: 4294967295, watch_group: 4294967295, actions: ['OUTPUT:1'] },
        { weight: 0, watch_port: 4294967295, watch_group: 4294967295, actions: ['PUSH_VLAN:33024', 'SET_FIELD: {vlan_vid:4101}', 'OUTPUT:2'] },
      ] },
      { group_id: 2, type: 'FF', buckets: [
        { weight: 0, watch_port: 1, watch_group: 4294967295, actions: ['OUTPUT:1'] },
        { weight: 0, watch_port: 2, watch_group: 4294967295, actions: ['OUTPUT:2'] },
      ] },
      { group_id: 3, type: 'SELECT', buckets: [{ weight: 1, watch_port: 4294967295, watch_group: 4294967295, actions: ['GROUP:1'] }] },
    ]);
    expect((await list(`/stats/groupdesc/${a}/2`, a)).map((g) => g['group_id'])).toEqual([2]);
    await ok('/stats/flowentry/add', { dpid: A, priority: 9, match: { in_port: 2 }, actions: [{ type: 'GROUP', group_id: 1 }] });
    const stats = await list(`/stats/group/${a}/1`, a);
    // the switch counts the flows that use a group (as OVS does), not group 3's bucket
    expect(stats).toEqual([{
      length: 40 + 2 * 16, ref_count: 1, packet_count: 0, byte_count: 0, duration_sec: expect.any(Number), duration_nsec: expect.any(Number),
      bucket_stats: [{ packet_count: 0, byte_count: 0 }, { packet_count: 0, byte_count: 0 }], group_id: 1,
    }]);
    expect((await list(`/stats/group/${a}`, a)).map((g) => g['group_id'])).toEqual([1, 2, 3]);
    const [features] = await list(`/stats/groupfeatures/${a}`, a);
    expect(Object.keys(features ?? {}).sort()).toEqual(['actions', 'capabilities', 'max_groups', 'types']);
    expect(features?.['types']).toEqual(['ALL', 'SELECT', 'INDIRECT', 'FF']);
    expect((features?.['actions'] as Record<string, string[]>[])[0]?.['ALL']).toContain('OUTPUT');
    await ok('/stats/groupentry/modify', { dpid: A, group_id: 2, type: 'INDIRECT', buckets: [{ actions: [{ type: 'OUTPUT', port: 'LOCAL' }] }] });
    expect(await list(`/stats/groupdesc/${a}/2`, a)).toEqual([{ group_id: 2, type: 'INDIRECT', buckets: [{ weight: 0, watch_port: 4294967295, watch_group: 4294967295, actions: ['OUTPUT:LOCAL'] }] }]);
    await ok('/stats/groupentry/delete', { dpid: A, group_id: 2 });
    expect((await list(`/stats/groupdesc/${a}`, a)).map((g) => g['group_id'])).toEqual([1, 3]);
  });

  it('meters: add, config, stats, features, modify, delete', async () => {
    await ok('/stats/meterentry/add', { dpid: A, meter_id: 1, flags: ['KBPS', 'BURST', 'STATS'], bands: [{ type: 'DROP', rate: 1000, burst_size: 100 }] });
    await ok('/stats/meterentry/add', { dpid: A, meter_id: 2, flags: 'PKTPS', bands: [{ type: 'DSCP_REMARK', rate: 50, prec_level: 1 }] });
    expect(await list(`/stats/meterconfig/${a}`, a)).toEqual([
      { flags: ['KBPS', 'BURST', 'STATS'], bands: [{ rate: 1000, burst_size: 100, type: 'DROP' }], meter_id: 1 },
      { flags: ['PKTPS'], bands: [{ rate: 50, burst_size: 0, type: 'DSCP_REMARK', prec_level: 1 }], meter_id: 2 },
    ]);
    expect((await list(`/stats/meterconfig/${a}/2`, a)).map((m) => m['meter_id'])).toEqual([2]);
    await ok('/stats/flowentry/add', { dpid: A, priority: 11, match: { in_port: 1, dl_type: 2054 }, actions: [{ type: 'METER', meter_id: 1 }, { type: 'OUTPUT', port: 2 }] });
    const flows = await list(`/stats/flow/${a}`, a, { priority: 11 });
    expect(flows.map((f) => [f['match'], f['actions']])).toEqual([[{ in_port: 1, dl_type: 2054 }, ['METER:1', 'OUTPUT:2']]]);
    expect(await list(`/stats/meter/${a}/1`, a)).toEqual([{
      len: 56, flow_count: 1, packet_in_count: 0, byte_in_count: 0, duration_sec: expect.any(Number), duration_nsec: expect.any(Number),
      band_stats: [{ packet_band_count: 0, byte_band_count: 0 }], meter_id: 1,
    }]);
    expect((await list(`/stats/meter/${a}/ALL`, a)).map((m) => m['meter_id'])).toEqual([1, 2]);
    const [mf] = await list(`/stats/meterfeatures/${a}`, a);
    expect(mf).toMatchObject({ band_types: ['DROP', 'DSCP_REMARK'], capabilities: expect.arrayContaining(['KBPS', 'PKTPS']) });
    await ok('/stats/meterentry/modify', { dpid: A, meter_id: 2, flags: ['KBPS'], bands: [{ type: 'DROP', rate: 7 }] });
    expect(await list(`/stats/meterconfig/${a}/2`, a)).toEqual([{ flags: ['KBPS'], bands: [{ rate: 7, burst_size: 0, type: 'DROP' }], meter_id: 2 }]);
    // deleting meter 1 removes the flow that used it, as the switch does
    await ok('/stats/meterentry/delete', { dpid: A, meter_id: 1 });
    expect((await list(`/stats/meterconfig/${a}`, a)).map((m) => m['meter_id'])).toEqual([2]);
    expect(await list(`/stats/flow/${a}`, a, { priority: 11 })).toEqual([]);
  });

  it('queues: stats and config (the switch has none)', async () => {
    expect(await list(`/stats/queue/${a}`, a)).toEqual([]);
    expect(await list(`/stats/queue/${a}/ALL/ALL`, a)).toEqual([]);
    expect(await list(`/stats/queue/${a}/1`, a)).toEqual([]);
    expect(await list(`/stats/queueconfig/${a}/1`, a)).toEqual([{ queues: [], port: 1 }]);
    expect(await list(`/stats/queueconfig/${a}`, a)).toEqual([{ queues: [], port: 'ANY' }]);
    const e = await fails('GET', `/stats/queue/${a}/1/5`, undefined, 400, /refused OFPQueueStatsRequest/);
    expect(e).toMatchObject({ err_type_name: 'OFPET_QUEUE_OP_FAILED', err_code_name: 'OFPQOFC_BAD_QUEUE' });
  });

  it('role: GET /stats/role and POST /stats/role', async () => {
    expect(await list(`/stats/role/${a}`, a)).toEqual([{ generation_id: 0, role: 'EQUAL' }]);
    await ok('/stats/role', { dpid: A, role: 'MASTER' });
    expect(await list(`/stats/role/${a}`, a)).toMatchObject([{ role: 'MASTER' }]);
    await ok('/stats/role', { dpid: A });
    expect(await list(`/stats/role/${a}`, a)).toMatchObject([{ role: 'EQUAL' }]);
  });

  it('POST /stats/portdesc/modify changes the port\'s config as portdesc shows it', async () => {
    const config = async (): Promise<Json> => (await list(`/stats/portdesc/${a}/2`, a))[0]?.['config'] as Json;
    expect(await config()).toBe(0);
    await ok('/stats/portdesc/modify', { dpid: A, port_no: 2, config: 1 | 64, mask: 1 | 64 });
    expect(await config()).toBe(65);
    await waitFor('the port-status to reach the controller', async () => ctl.datapath(A)?.ports.get(2)?.config === 65);
    await ok('/stats/portdesc/modify', { dpid: A, port_no: 2, config: 0, mask: 64 });
    expect(await config()).toBe(1);
    await ok('/stats/portdesc/modify', { dpid: A, port_no: 2, config: 0, mask: 1 });
    expect(await config()).toBe(0);
    await fails('POST', '/stats/portdesc/modify', { dpid: A, port_no: 9, config: 1, mask: 1 }, 404, /no such port: 9/);
    await fails('POST', '/stats/portdesc/delete', { dpid: A, port_no: 2 }, 404, /no such command: delete/);
    const e = await fails('POST', '/stats/portdesc/modify', { dpid: A, port_no: 2, hw_addr: '02:00:00:00:00:99', config: 1, mask: 1 }, 400, /refused OFPPortMod/);
    expect(e).toMatchObject({ err_type_name: 'OFPET_PORT_MOD_FAILED', err_code_name: 'OFPPMFC_BAD_HW_ADDR' });
  });

  it('POST /stats/experimenter: the switch refuses an unknown experimenter (400 with its error)', async () => {
    const e = await fails('POST', `/stats/experimenter/${a}`, { experimenter: 101, exp_type: 1, data: 'hello' }, 400, /refused OFPExperimenter/);
    expect(e).toMatchObject({ code: 'switch-error', err_type: 1, err_code: 3, err_type_name: 'OFPET_BAD_REQUEST', err_code_name: 'OFPBRC_BAD_EXPERIMENTER' });
  });

  it('a flow-stats reply in several parts comes back whole', async () => {
    const N = 700;
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) =>
        ok('/stats/flowentry/add', { dpid: A, table_id: 2, priority: 1000 + i + j, match: { dl_type: 2048, nw_src: `10.1.${(i + j) >> 8}.${(i + j) & 255}` }, actions: [{ type: 'OUTPUT', port: 1 }] }),
      ));
    }
    const flows = await list(`/stats/flow/${a}`, a, { table_id: 2 });
    expect(flows).toHaveLength(N);
    expect(N * (flows[0]?.['length'] as number)).toBeGreaterThan(0xffff);
    expect(new Set(flows.map((f) => f['priority'])).size).toBe(N);
    expect(await list(`/stats/aggregateflow/${a}`, a, { table_id: 2 })).toEqual([{ packet_count: 0, byte_count: 0, flow_count: N }]);
  });

  it('DELETE /stats/flowentry/clear empties every table', async () => {
    expect((await list(`/stats/flow/${a}`, a)).length).toBeGreaterThan(700);
    const r = await http('DELETE', `/stats/flowentry/clear/${a}`);
    expect(r.status, r.text).toBe(200);
    expect(await list(`/stats/flow/${a}`, a)).toEqual([]);
    expect((await list(`/stats/table/${a}`, a)).map((t) => t['active_count'])).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  describe('bad requests', () => {
    it('unknown or malformed dpid', async () => {
      expect(await fails('GET', '/stats/desc/999', undefined, 404, /no datapath with dpid 999/)).toMatchObject({ code: 'unknown-dpid' });
      await fails('GET', '/stats/flow/12abc', undefined, 400, /^dpid: expected an integer .* got "12abc"/);
      await fails('POST', '/stats/flowentry/add', { dpid: 999, actions: [] }, 404, /no datapath with dpid 999/);
      await fails('POST', '/stats/groupentry/add', { group_id: 1 }, 400, /dpid: missing/);
      await fails('DELETE', '/stats/flowentry/clear/77', undefined, 404, /dpid 77/);
    });

    it('malformed JSON bodies', async () => {
      const e = await fails('POST', '/stats/flowentry/add', `{"dpid": ${a}, "match": {`, 400, /^the body is not valid JSON/);
      expect(e['code']).toBe('bad-request');
      await fails('POST', `/stats/flow/${a}`, '{table_id: 1}', 400, /^the body is not valid JSON/);
      await fails('POST', '/stats/meterentry/add', '[1, 2]', 400, /^the body must be a JSON object, got \[1,2\]/);
      await fails('POST', '/stats/flowentry/add', `{"dpid": ${a}, "priority": 1`, 400, /not valid JSON/, 'application/x-www-form-urlencoded');
    });

    it('bad fields and actions name the key and the value', async () => {
      await fails('POST', '/stats/flowentry/add', { dpid: A, match: { in_port: 1, ip_src: '10.0.0.1' } }, 400, /^match\.ip_src: unknown match field/);
      await fails('POST', '/stats/flowentry/add', { dpid: A, match: { dl_dst: '00:00:00:00:00:0g' } }, 400, /^match\.dl_dst: "00:00:00:00:00:0g" is not a MAC address/);
      await fails('POST', '/stats/flowentry/add', { dpid: A, actions: [{ type: 'OUTPUT', port: 1 }, { type: 'FLOOD' }] }, 400, /^actions\[1\]\.type: unknown action type "FLOOD"/);
      await fails('POST', '/stats/flowentry/add', { dpid: A, actions: [{ type: 'OUTPUT', port: 'CONTROLER' }] }, 400, /^actions\[0\]\.port: "CONTROLER" is not a number or one of/);
      await fails('POST', '/stats/flowentry/add', { dpid: A, priority: 70000 }, 400, /^priority: 70000 is out of range/);
      await fails('POST', '/stats/groupentry/add', { dpid: A, type: 'SOME' }, 400, /^type: unknown group type "SOME"/);
      await fails('POST', '/stats/meterentry/add', { dpid: A, flags: ['KBPS', 'SLOW'] }, 400, /^flags\[1\]: unknown meter flag "SLOW"/);
      await fails('POST', `/stats/flow/${a}`, { match: { nw_dst: 10 } }, 400, /^match\.nw_dst: expected a string, got 10/);
      await fails('GET', `/stats/port/${a}/one`, undefined, 400, /^port: "one" is not a number/);
    });

    it('flow-mods the switch refuses: 400 with the OpenFlow error', async () => {
      const goto = await fails('POST', '/stats/flowentry/add', { dpid: A, table_id: 2, actions: [{ type: 'GOTO_TABLE', table_id: 1 }] }, 400, /the switch refused OFPFlowMod/);
      expect(goto).toMatchObject({ code: 'switch-error', err_type: 3, err_code: 2, err_type_name: 'OFPET_BAD_INSTRUCTION', err_code_name: 'OFPBIC_BAD_TABLE_ID' });
      const group = await fails('POST', '/stats/flowentry/add', { dpid: A, actions: [{ type: 'GROUP', group_id: 77 }] }, 400, /refused/);
      expect(group).toMatchObject({ err_type_name: 'OFPET_BAD_ACTION', err_code_name: 'OFPBAC_BAD_OUT_GROUP' });
      const table = await fails('POST', '/stats/flowentry/add', { dpid: A, table_id: 9 }, 400, /refused/);
      expect(table).toMatchObject({ err_type_name: 'OFPET_FLOW_MOD_FAILED', err_code_name: 'OFPFMFC_BAD_TABLE_ID' });
      const prereq = await fails('POST', '/stats/flowentry/add', { dpid: A, match: { nw_src: '10.0.0.1' } }, 400, /refused/);
      expect(prereq).toMatchObject({ err_type_name: 'OFPET_BAD_MATCH', err_code_name: 'OFPBMC_BAD_PREREQ' });
      const meter = await fails('POST', '/stats/meterentry/add', { dpid: A, meter_id: 5, bands: [{ type: 'DROP', rate: 1 }] }, 400, /refused OFPMeterMod/);
      expect(meter).toMatchObject({ err_type_name: 'OFPET_METER_MOD_FAILED', err_code_name: 'OFPMMFC_BAD_FLAGS' });
      const dup = await fails('POST', '/stats/groupentry/add', { dpid: A, group_id: 1, type: 'ALL' }, 400, /refused OFPGroupMod/);
      expect(dup).toMatchObject({ err_type_name: 'OFPET_GROUP_MOD_FAILED', err_code_name: 'OFPGMFC_GROUP_EXISTS' });
      expect(await list(`/stats/flow/${a}`, a)).toEqual([]);
    });

    it('unknown routes and commands; OpenFlow 1.4 routes', async () => {
      await fails('POST', '/stats/flowentry/replace', { dpid: A }, 404, /no such command: replace \(expected add, modify, modify_strict, delete, delete_strict\)/);
      await fails('POST', '/stats/groupentry/insert', { dpid: A }, 404, /no such command: insert/);
      await fails('POST', '/stats/meterentry/clear', { dpid: A }, 404, /no such command: clear/);
      await fails('GET', `/stats/nothing/${a}`, undefined, 404, /no route GET \/stats\/nothing/);
      await fails('GET', `/stats/meterdesc/${a}`, undefined, 501, /OpenFlow 1\.4/);
      await fails('GET', `/stats/queuedesc/${a}/1/2`, undefined, 501, /OpenFlow 1\.4/);
    });

    it('a switch that stops answering: 504, then it recovers', async () => {
      const pid = swA.pid as number;
      process.kill(pid, 'SIGSTOP');
      try {
        await fails('GET', `/stats/desc/${a}`, undefined, 504, /did not answer OFPDescStatsRequest/);
        await fails('POST', '/stats/flowentry/add', { dpid: A, actions: [] }, 504, /did not answer/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    });
  });

  it('after all that, the controller still serves the switch', async () => {
    await ok('/stats/flowentry/add', { dpid: A, priority: 3, match: { in_port: 2 }, actions: [{ type: 'OUTPUT', port: 1 }] });
    const flows = await list(`/stats/flow/${a}`, a);
    // the flow-mod sent while the switch was stopped arrives too, once it runs again
    expect(flows.map((f) => [f['priority'], f['match'], f['actions']]).sort()).toEqual([[0, {}, []], [3, { in_port: 2 }, ['OUTPUT:1']]]);
    expect(await get('/stats/switches')).toEqual([161]);
  });

  it('and a second switch, with a dpid beyond 2^53', async () => {
    const entered = waitEnter(ctl, B);
    swB = startSwitch(lab, ['--name', lab.name('brb'), '--dpid', B.toString(16), '--controller', `tcp:127.0.0.1:${OF_PORT}`, '--no-local', '--log-level', 'warn']);
    await entered;
    const sw = await http('GET', '/stats/switches');
    expect(sw.text).toBe(`[161,${b}]`);
    const desc = await http('GET', `/stats/desc/${b}`);
    expect(desc.text.startsWith(`{"${b}":{`), desc.text).toBe(true);
    expect((desc.json as Record<string, Record<string, Json>>)[b]?.['dp_desc']).toBe(lab.name('brb'));
    expect(await get(`/stats/desc/0x${B.toString(16)}`)).toEqual(desc.json);
    await ok('/stats/flowentry/add', { dpid: b, priority: 1, actions: [{ type: 'OUTPUT', port: 'CONTROLLER', max_len: 'NO_BUFFER' }] });
    const fb = await http('POST', `/stats/flow/${b}`, {});
    expect(fb.status).toBe(200);
    expect(fb.text.startsWith(`{"${b}":[`)).toBe(true);
    expect(((fb.json as Record<string, Record<string, Json>[]>)[b] ?? []).map((f) => f['actions'])).toEqual([['OUTPUT:CONTROLLER']]);
    expect((await list(`/stats/flow/${a}`, a)).map((f) => f['priority']).sort()).toEqual([0, 3]);
  });
});
