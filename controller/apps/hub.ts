/**
 * The hub: every packet is flooded by the controller (no flows beyond the table-miss entry). A baseline
 * for comparisons, and the simplest example of an app.
 */
import { OFPP, OFP_NO_BUFFER } from '../../openflow/index.js';
import type { App } from '../app.js';
import { tableMissFlow } from './learning.js';

export function hub(): () => App {
  return () => ({
    name: 'hub',
    on: {
      switchEnter: () => [tableMissFlow()],
      packetIn: ({ msg, inPort }) => [
        {
          type: 'OFPPacketOut', xid: 0, buffer_id: msg.buffer_id, in_port: inPort,
          actions: [{ kind: 'OFPActionOutput', port: OFPP.FLOOD, max_len: 0 }],
          data: msg.buffer_id === OFP_NO_BUFFER ? msg.data : Buffer.alloc(0),
        },
      ],
    },
  });
}
