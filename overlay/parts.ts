/**
 * The real parts of a node (overlay/node.ts NodeParts): XMPP signaling (link/signal.ts's XmppCircle),
 * the link manager (link/manager.ts) and a TAP from the port I/O addon (switch/portio). Kept apart from
 * node.ts so that the composition can be run against stand-ins without loading the addon.
 *
 * May import: base/, switch/, link/.
 */
import { LinkManager } from '../link/manager.js';
import { XmppCircle } from '../link/signal.js';
import { openTap } from '../switch/portio/index.js';
import type { NodeParts, NodeSignal } from './node.js';

export function realParts(): NodeParts {
  return {
    signal({ config, nodeId, overlay, log }): NodeSignal {
      const x = new XmppCircle({ nodeId, overlayId: overlay, config, log });
      return {
        start: () => x.start(),
        stop: () => x.stop(),
        request: (peer, action, params, opts) => x.request(peer, action, params, opts),
        onRequest: (action, handler) => x.onRequest(action, handler),
        onPresence(fn) {
          x.on('peerPresent', (id) => fn(id, true));
          x.on('peerGone', (id) => fn(id, false));
        },
        onFatal: (fn) => void x.on('fatal', fn),
        online: () => x.state === 'online',
        stats: () => x.stats(),
      };
    },
    linkManager: (opts) => new LinkManager(opts),
    // Down: the node sets its MTU, address and IPv6 first, then brings it up.
    openTap: (name) => openTap(name, { up: false }),
  };
}
