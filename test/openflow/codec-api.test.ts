/** Struct sizes against the spec, and the codec's errors on bad bytes and bad JSON. */
import { describe, expect, it } from 'vitest';
import {
  type Json,
  OFPBAC,
  OFPBIC,
  OFPBMC,
  OFPBRC,
  OFPCodecError,
  OFPET,
  SIZES,
  decode,
  decodeAll,
  encode,
  fromRyuJson,
} from '../../openflow/index.js';
import { ActionOutput, ActionSetFieldCodec } from '../../openflow/actions.js';
import { Bucket, MeterBandDrop, MeterBandDscpRemark, PacketQueue, Port, QueuePropMinRate } from '../../openflow/common.js';
import { InstructionGotoTable, InstructionWriteMetadata, InstructionMeter } from '../../openflow/instructions.js';
import * as M from '../../openflow/messages.js';
import type { StructCodec } from '../../openflow/struct.js';

const fixed = (c: StructCodec<unknown>): number | undefined => c.fixedSize;
const base = (c: StructCodec<unknown>): number => c.fields.reduce((n, f) => n + (f.fixed ?? 0), 0);

describe('struct sizes match the spec (OFP_ASSERT)', () => {
  it.each<[keyof typeof SIZES, number | undefined]>([
    ['ofp_header', fixed(M.BarrierRequest)],
    ['ofp_switch_features', fixed(M.SwitchFeatures)],
    ['ofp_switch_config', fixed(M.SetConfig)],
    ['ofp_table_mod', fixed(M.TableMod)],
    ['ofp_port', fixed(Port)],
    ['ofp_port_status', base(M.PortStatus) + 64],
    ['ofp_port_mod', fixed(M.PortMod)],
    ['ofp_flow_mod', base(M.FlowMod) + 8],
    ['ofp_group_mod', base(M.GroupMod)],
    ['ofp_bucket', base(Bucket)],
    ['ofp_meter_mod', base(M.MeterMod)],
    ['ofp_meter_band_drop', fixed(MeterBandDrop)],
    ['ofp_meter_band_dscp_remark', fixed(MeterBandDscpRemark)],
    ['ofp_packet_out', base(M.PacketOut)],
    ['ofp_packet_in', base(M.PacketIn) + 8],
    ['ofp_flow_removed', base(M.FlowRemoved) + 8],
    ['ofp_multipart_request', fixed(M.DescStatsRequest)],
    ['ofp_desc', fixed(M.DescStats)],
    ['ofp_flow_stats_request', base(M.FlowStatsRequest) - 16 + 8],
    ['ofp_flow_stats', base(M.FlowStats) + 8],
    ['ofp_aggregate_stats_reply', fixed(M.AggregateStats)],
    ['ofp_table_stats', fixed(M.TableStats)],
    ['ofp_table_features', base(M.TableFeaturesStats)],
    ['ofp_port_stats', fixed(M.PortStats)],
    ['ofp_queue_stats', fixed(M.QueueStats)],
    ['ofp_group_stats', base(M.GroupStats)],
    ['ofp_bucket_counter', fixed(M.BucketCounter)],
    ['ofp_group_desc', base(M.GroupDescStats)],
    ['ofp_group_features', fixed(M.GroupFeaturesStats)],
    ['ofp_meter_stats', base(M.MeterStats)],
    ['ofp_meter_band_stats', fixed(M.MeterBandStats)],
    ['ofp_meter_config', base(M.MeterConfigStats)],
    ['ofp_meter_features', fixed(M.MeterFeaturesStats)],
    ['ofp_queue_get_config_request', fixed(M.QueueGetConfigRequest)],
    ['ofp_queue_get_config_reply', base(M.QueueGetConfigReply)],
    ['ofp_packet_queue', base(PacketQueue)],
    ['ofp_queue_prop_min_rate', fixed(QueuePropMinRate)],
    ['ofp_role_request', fixed(M.RoleRequest)],
    ['ofp_async_config', fixed(M.SetAsync)],
    ['ofp_action_output', fixed(ActionOutput)],
    ['ofp_instruction_goto_table', fixed(InstructionGotoTable)],
    ['ofp_instruction_write_metadata', fixed(InstructionWriteMetadata)],
    ['ofp_instruction_meter', fixed(InstructionMeter)],
    ['ofp_experimenter_header', base(M.Experimenter)],
  ])('%s', (name, got) => {
    expect(got).toBe(SIZES[name]);
  });

  it('set-field pads to a multiple of 8', () => {
    expect(ActionSetFieldCodec.size({ kind: 'OFPActionSetField', field: { field: 'vlan_vid', value: 0x1001 } })).toBe(16);
    expect(ActionSetFieldCodec.size({ kind: 'OFPActionSetField', field: { field: 'ipv6_src', value: '::1' } })).toBe(24);
  });
});

function err(fn: () => unknown): OFPCodecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OFPCodecError) return e;
    throw new Error(`expected OFPCodecError, got ${String(e)}`);
  }
  throw new Error('expected an error, got none');
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** flow-mod header + fixed part up to the match, for building bad inputs. */
const flowModHead = (len: number) =>
  `040e${len.toString(16).padStart(4, '0')}00000001 0000000000000000 0000000000000000 00 00 0000 0000 8000 ffffffff ffffffff ffffffff 0000 0000`;

describe('bad bytes raise the error a switch would send', () => {
  it.each<[string, string, number, number, RegExp]>([
    ['empty', '', OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, /truncated header/],
    ['short header', '0400', OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, /truncated header/],
    ['length below 8', '04000004 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, /below 8/],
    ['length beyond data', '04000010 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, /truncated message/],
    ['wrong version', '01000008 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_VERSION, /not OpenFlow 1.3/],
    ['unknown type', '04630008 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE, /unknown message type/],
    ['unknown multipart', '04120010 00000000 00630000 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_MULTIPART, /unknown multipart request type 99/],
    ['fixed message too long', '0414000c 00000000 00000000', OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, /expected 8/],
    ['match not OXM', `${flowModHead(56)} 0000 0004 00000000`, OFPET.BAD_MATCH, OFPBMC.BAD_TYPE, /not OXM/],
    ['match length 2', `${flowModHead(56)} 0001 0002 00000000`, OFPET.BAD_MATCH, OFPBMC.BAD_LEN, /below 4/],
    ['OXM value size', `${flowModHead(64)} 0001 000b 80000003 000001 0000000000`, OFPET.BAD_MATCH, OFPBMC.BAD_LEN, /expected 4/],
    ['OXM past match end', `${flowModHead(64)} 0001 000c 80000606 00000001 00000000`, OFPET.BAD_MATCH, OFPBMC.BAD_LEN, /truncated|claims/],
    ['unknown instruction', `${flowModHead(64)} 0001 0004 00000000 0063 0008 00000000`, OFPET.BAD_INSTRUCTION, OFPBIC.UNKNOWN_INST, /unknown instruction/],
    ['instruction length overrun', `${flowModHead(64)} 0001 0004 00000000 0001 0010 00000000`, OFPET.BAD_INSTRUCTION, OFPBIC.BAD_LEN, /length 16/],
    ['unknown action', `${flowModHead(72)} 0001 0004 00000000 0004 0010 00000000 0063 0008 00000000`, OFPET.BAD_ACTION, OFPBAC.BAD_TYPE, /unknown action/],
    ['action length not x8', `${flowModHead(72)} 0001 0004 00000000 0004 0010 00000000 0000 000c 00000000`, OFPET.BAD_ACTION, OFPBAC.BAD_LEN, /multiple of 8/],
    ['output action length 8', `${flowModHead(72)} 0001 0004 00000000 0004 0010 00000000 0000 0008 00000000`, OFPET.BAD_ACTION, OFPBAC.BAD_LEN, /expected 16/],
  ])('%s', (_name, bytes, errType, code, text) => {
    const e = err(() => decode(hex(bytes)));
    expect([e.errType, e.code, e.codeName]).toEqual([errType, code, e.codeName]);
    expect(e.message).toMatch(text);
  });

  it('decodeAll names the message index and the absolute offset', () => {
    const ok = encode({ type: 'OFPBarrierRequest', xid: 1 });
    const e = err(() => decodeAll(Buffer.concat([ok, ok, hex('04630008 00000000')])));
    expect(e.msgIndex).toBe(2);
    expect(e.offset).toBe(16);
    expect(e.message).toMatch(/message 2, byte 16/);
  });
});

describe('bad JSON names the key path', () => {
  const flowMod = (body: Record<string, Json>): Json => ({
    OFPFlowMod: {
      cookie: 0, cookie_mask: 0, table_id: 0, command: 0, idle_timeout: 0, hard_timeout: 0, priority: 1, buffer_id: 0xffffffff,
      out_port: 0, out_group: 0, flags: 0, match: { OFPMatch: { oxm_fields: [] } }, instructions: [], ...body,
    },
  });
  it.each<[string, Json, RegExp]>([
    ['not an object', 5, /\$: expected an object/],
    ['two classes', { OFPHello: {}, OFPEchoRequest: {} }, /one key/],
    ['unknown class', { OFPNoSuch: {} }, /unknown message class OFPNoSuch/],
    ['missing field', { OFPSetConfig: { flags: 0 } }, /OFPSetConfig\.miss_send_len: missing/],
    ['out of range', { OFPSetConfig: { flags: 70000, miss_send_len: 0 } }, /OFPSetConfig\.flags: expected an unsigned 16-bit integer/],
    ['string for number', flowMod({ priority: 'high' }), /OFPFlowMod\.priority: expected an unsigned 16-bit integer, got the string "high"/],
    ['negative cookie', flowMod({ cookie: -1 }), /OFPFlowMod\.cookie: expected an unsigned 64-bit integer/],
    ['cookie too big', flowMod({ cookie: 2n ** 64n }), /OFPFlowMod\.cookie/],
    ['unknown OXM', flowMod({ match: { OFPMatch: { oxm_fields: [{ OXMTlv: { field: 'eth_dest', value: 1, mask: null } }] } } }), /oxm_fields\[0\].*unknown OXM field "eth_dest"/],
    ['bad MAC', flowMod({ match: { OFPMatch: { oxm_fields: [{ OXMTlv: { field: 'eth_dst', value: '00:11', mask: null } }] } } }), /oxm_fields\[0\]\.OXMTlv\.value: expected a MAC address/],
    ['bad IPv4', flowMod({ match: { OFPMatch: { oxm_fields: [{ OXMTlv: { field: 'ipv4_dst', value: '10.0.0.256', mask: null } }] } } }), /expected an IPv4 address/],
    ['bad IPv6', flowMod({ match: { OFPMatch: { oxm_fields: [{ OXMTlv: { field: 'ipv6_dst', value: '1::2::3', mask: null } }] } } }), /expected an IPv6 address/],
    ['unknown action', flowMod({ instructions: [{ OFPInstructionActions: { type: 4, actions: [{ OFPActionFly: {} }] } }] }), /instructions\[0\]\.OFPInstructionActions\.actions\[0\]: unknown action class OFPActionFly/],
    ['bad base64', { OFPEchoRequest: { data: 'not base64!' } }, /OFPEchoRequest\.data: expected base64/],
    ['instructions not a list', flowMod({ instructions: {} }), /OFPFlowMod\.instructions: expected an array/],
  ])('%s', (_name, j, text) => {
    const e = err(() => fromRyuJson(j));
    expect(e.message).toMatch(text);
  });
});
