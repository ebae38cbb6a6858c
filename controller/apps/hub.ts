/**
 * The hub: every packet is flooded by the controller (no flows beyond the table-miss entry). A baseline
 * for comparisons, and the simplest example of an app.
 */
import { OFPP, output, packetOut } from '../../openflow/index.js';
import type { App } from '../app.js';
import { tableMissFlow } from './learning.js';

export function hub(): () => App {
  return () => ({
    name: 'hub',
    on: {
      switchEnter: () => [tableMissFlow()],
      packetIn: ({ msg }) => [packetOut({ packetIn: msg, actions: [output(OFPP.FLOOD)] })],
    },
  });
}
