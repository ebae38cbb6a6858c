/**
 * Ryu's ofctl_rest (ryu/app/ofctl_rest.py) for OpenFlow 1.3 switches: the same routes under /stats, the
 * same JSON bodies and answers (`{"<dpid in decimal>": [...]}`), on fastify. The conversions are
 * ofctl/; this file reads the URL and body, sends through the controller's datapath handle, and answers.
 *
 *   GET  /stats/switches                               GET  /stats/desc/<dpid>
 *   GET|POST /stats/flow/<dpid>  (and /flowdesc)       GET|POST /stats/aggregateflow/<dpid>
 *   GET  /stats/table/<dpid>                           GET  /stats/tablefeatures/<dpid>
 *   GET  /stats/port/<dpid>[/<port>]                   GET  /stats/portdesc/<dpid>[/<port_no>]
 *   GET  /stats/queue/<dpid>[/<port>[/<queue_id>]]     GET  /stats/queueconfig/<dpid>[/<port>]
 *   GET  /stats/group/<dpid>[/<group_id>]              GET  /stats/groupdesc/<dpid>[/<group_id>]
 *   GET  /stats/groupfeatures/<dpid>                   GET  /stats/meter/<dpid>[/<meter_id>]
 *   GET  /stats/meterconfig/<dpid>[/<meter_id>]        GET  /stats/meterfeatures/<dpid>
 *   GET  /stats/role/<dpid>                            POST /stats/role
 *   POST /stats/flowentry/{add,modify,modify_strict,delete,delete_strict}
 *   DELETE /stats/flowentry/clear/<dpid>
 *   POST /stats/groupentry/{add,modify,delete}         POST /stats/meterentry/{add,modify,delete}
 *   POST /stats/portdesc/modify                        POST /stats/experimenter/<dpid>
 *   GET  /stats/queuedesc/..., /stats/meterdesc/...: 501, as ofctl_rest answers for OpenFlow 1.3.
 *
 * As in Ryu: a dpid is decimal or 0x-hex text; commands take it from the body's "dpid" (the URL's where
 * the route has one and the body does not); "ALL" in an optional id means all; a command answers 200 with
 * no body. Unlike Ryu, which sends and forgets, a command waits for the switch (request() follows it with a
 * barrier), so a refused flow-mod is a 400 carrying the OpenFlow error, and a stats request the switch
 * refuses is that 400 too rather than an empty list after a second's wait.
 *
 * Errors are `{"error": "<what and where>", "code": "<ControllerErrorCode>", ...}`: 400 for bad JSON, a
 * bad key or value (ofctl/ names the key path), or a switch's refusal (with err_type, err_code and their
 * names); 404 for an unknown dpid, command or port; 501 for OpenFlow 1.4+ routes; 504 when the switch
 * does not answer in time; 503 with Retry-After when too many requests already wait for switches (below).
 * The routes live in their own fastify scope with their own body parser (any content type: curl -d sends
 * form-encoded JSON, as Ryu accepts) and error and not-found handlers, so they answer the same in any
 * fastify instance.
 *
 * Requests to switches are bounded (SwitchRequestBound): at most `maxInFlightPerSwitch` at once per
 * switch, so one burst of clients cannot bury a switch's channel under replies; more wait their turn in
 * arrival order, at most `maxWaiting` over all switches and each at most `maxWaitMs`. Beyond either,
 * the request is refused with 503 and Retry-After, and counted (`stats()`, /metrics in rest.ts). Routes
 * that need no switch (/stats/switches, bad requests) never wait.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Json, OFPCodecError, type OFPMessage, parseJson, stringifyJson } from '../openflow/index.js';
import type { ControllerHandle, DatapathHandle } from './api.js';
import { ControllerError, httpStatus } from './errors.js';
import * as ofctl from './ofctl/index.js';

export interface OfctlRestOptions {
  /** Milliseconds to wait for a switch's answer (default: the controller's request timeout). */
  readonly timeoutMs?: number;
  /** Requests one switch may have in flight from this API at once; more wait. Default 32. */
  readonly maxInFlightPerSwitch?: number;
  /** Requests waiting for a turn, over all switches; beyond, 503. Default 1024. */
  readonly maxWaiting?: number;
  /** Longest wait for a turn (ms); then 503. Default timeoutMs, else 5000. */
  readonly maxWaitMs?: number;
}

/** The bound's state, for metrics: requests at switches now, requests waiting now, requests refused so far. */
export interface OfctlRestStats {
  readonly inFlight: number;
  readonly waiting: number;
  readonly rejected: number;
}

/** What registerOfctlRoutes hands back: the request bound's counters. */
export interface OfctlRest {
  stats(): OfctlRestStats;
}

/** A failure with an HTTP status of its own (no such command or port, not in OpenFlow 1.3). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds, sent as Retry-After (503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

interface Waiter {
  readonly go: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Turns at the switches for REST requests: `perSwitch` at once per datapath, the rest queued in arrival
 * order (at most `maxWaiting` in all, each for at most `maxWaitMs`). A finished request hands its turn
 * to the next waiter of the same switch. Refusals are 503 + Retry-After, counted in `rejected`.
 */
class SwitchRequestBound {
  private readonly busy = new Map<bigint, number>();
  private readonly queues = new Map<bigint, Waiter[]>();
  private inFlight = 0;
  private waiting = 0;
  private rejected = 0;

  constructor(
    private readonly perSwitch: number,
    private readonly maxWaiting: number,
    private readonly maxWaitMs: number,
  ) {}

  stats(): OfctlRestStats {
    return { inFlight: this.inFlight, waiting: this.waiting, rejected: this.rejected };
  }

  async run<T>(dp: bigint, fn: () => Promise<T>): Promise<T> {
    await this.acquire(dp);
    try {
      return await fn();
    } finally {
      this.release(dp);
    }
  }

  private refuse(why: string): HttpError {
    this.rejected++;
    return new HttpError(503, `too many requests for switches: ${why}; try again shortly`, 1);
  }

  private acquire(dp: bigint): Promise<void> {
    const n = this.busy.get(dp) ?? 0;
    if (n < this.perSwitch) {
      this.busy.set(dp, n + 1);
      this.inFlight++;
      return Promise.resolve();
    }
    if (this.waiting >= this.maxWaiting) return Promise.reject(this.refuse(`${this.waiting} already wait for a turn`));
    let q = this.queues.get(dp);
    if (q === undefined) this.queues.set(dp, (q = []));
    const queue = q;
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        go: () => {
          clearTimeout(w.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const i = queue.indexOf(w);
          if (i >= 0) queue.splice(i, 1);
          if (queue.length === 0 && this.queues.get(dp) === queue) this.queues.delete(dp);
          this.waiting--;
          reject(this.refuse(`no turn at switch ${dp} within ${this.maxWaitMs} ms`));
        }, this.maxWaitMs),
      };
      queue.push(w);
      this.waiting++;
    });
  }

  private release(dp: bigint): void {
    const q = this.queues.get(dp);
    const next = q?.shift();
    if (q !== undefined && q.length === 0) this.queues.delete(dp);
    if (next !== undefined) {
      // the turn passes straight to the next waiter: busy and inFlight stay as they are
      this.waiting--;
      next.go();
      return;
    }
    const n = (this.busy.get(dp) ?? 1) - 1;
    if (n <= 0) this.busy.delete(dp);
    else this.busy.set(dp, n);
    this.inFlight--;
  }
}

type Params = Readonly<Record<string, string | undefined>>;
type Req = FastifyRequest<{ Params: Params }>;

function parseBody(text: string | undefined): Json | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseJson(text);
  } catch (e) {
    throw new ControllerError('bad-request', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

/** The request body as JSON (parsed by this scope's content-type parser as text); undefined when there is none. */
function bodyOf(req: Req): Json | undefined {
  const raw: unknown = req.body;
  return parseBody(typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : undefined);
}

/** Largest GET body read (fastify leaves GET bodies unread; ofctl_rest reads a filter from them). */
const GET_BODY_LIMIT = 1 << 20;

/** The body of a stats request: a POST's as parsed, a GET's read here (curl -X GET -d '{...}' works with Ryu). */
async function filterBody(req: Req): Promise<Json | undefined> {
  if (req.method !== 'GET' || req.body !== undefined) return bodyOf(req);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req.raw as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    n += b.length;
    if (n > GET_BODY_LIMIT) throw new HttpError(413, `the body is larger than ${GET_BODY_LIMIT} bytes`);
    chunks.push(b);
  }
  return parseBody(chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined);
}

function bodyObject(req: Req): Record<string, Json> {
  const b = bodyOf(req) ?? {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ControllerError('bad-request', `the body must be a JSON object, got ${ofctl.show(b)}`);
  return b as Record<string, Json>;
}

/** The JSON form of a datapath id: a number (written exactly by stringifyJson beyond 2^53). */
function dpidJson(id: bigint): number | bigint {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
}

function send(reply: FastifyReply, status: number, body: Json): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(stringifyJson(body));
}

function errorBody(err: unknown): { status: number; body: Record<string, Json> } {
  if (err instanceof ControllerError) {
    const body: Record<string, Json> = { error: err.message, code: err.code };
    if (err.switchError) {
      Object.assign(body, ofctl.switchErrorJson(err.switchError));
    }
    return { status: httpStatus(err.code), body };
  }
  if (err instanceof HttpError) return { status: err.status, body: { error: err.message } };
  // an out-of-range value ofctl/ let through reaches the codec; it is still the request's fault
  if (err instanceof OFPCodecError) return { status: 400, body: { error: err.message, code: 'bad-request' } };
  const e = err as { statusCode?: unknown; message?: unknown };
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  return { status, body: { error: typeof e.message === 'string' ? e.message : String(err) } };
}

export function registerOfctlRoutes(app: FastifyInstance, ctl: ControllerHandle, opts: OfctlRestOptions = {}): OfctlRest {
  const reqOpts = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {};
  const bound = new SwitchRequestBound(opts.maxInFlightPerSwitch ?? 32, opts.maxWaiting ?? 1024, opts.maxWaitMs ?? opts.timeoutMs ?? 5000);
  /** Every request to a switch goes through here: the bound above, then the controller's request(). */
  const ask = (dp: DatapathHandle, msg: OFPMessage): Promise<OFPMessage[]> => bound.run(dp.id, () => dp.request(msg, reqOpts));

  /** A datapath by the dpid text of a URL or body (int(str(dpid), 0), as ofctl_rest parses it). */
  const datapath = (v: Json | undefined): DatapathHandle => {
    const id = ofctl.strToInt(v, 'dpid');
    const dp = id >= 0n ? ctl.datapath(id) : undefined;
    if (!dp) throw new ControllerError('unknown-dpid', `no datapath with dpid ${id} is connected`);
    return dp;
  };

  const query = async (dp: DatapathHandle, q: ofctl.StatsQuery): Promise<Json> => {
    const replies = await ask(dp, q.request);
    return { [dp.id.toString()]: q.parse(replies) };
  };

  /** command_method: the body's dpid, else the URL's. */
  const commandTarget = (req: Req, body: Record<string, Json>): DatapathHandle => {
    const fromBody = body['dpid'];
    const dpid = fromBody === undefined || fromBody === null || fromBody === 0 || fromBody === '' ? req.params['dpid'] : fromBody;
    if (dpid === undefined) throw new ControllerError('bad-request', 'dpid: missing (give "dpid" in the body)');
    return datapath(dpid);
  };

  const command = (table: Readonly<Record<string, number>>, name: string | undefined): number => {
    const cmd = name !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
    if (cmd === undefined) throw new HttpError(404, `no such command: ${name ?? ''} (expected ${Object.keys(table).join(', ')})`);
    return cmd;
  };

  void app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
      scope.setErrorHandler((err, req, reply) => {
        const { status, body } = errorBody(err);
        if (err instanceof HttpError && err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
        if (status >= 500 && status !== 501 && status !== 503 && status !== 504) req.log.error({ err }, 'ofctl REST request failed');
        return send(reply, status, body);
      });
      scope.setNotFoundHandler((req, reply) => send(reply, 404, { error: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` }));

      const stats = (path: string, handler: (req: Req, body: Json | undefined) => ofctl.StatsQuery, methods: readonly ('GET' | 'POST')[] = ['GET']): void => {
        scope.route<{ Params: Params }>({
          method: [...methods],
          url: path,
          handler: async (req, reply) => {
            const dp = datapath(req.params['dpid']);
            const body = methods.includes('POST') ? await filterBody(req) : undefined;
            return send(reply, 200, await query(dp, handler(req, body)));
          },
        });
      };

      scope.get('/switches', async (_req, reply) => send(reply, 200, ctl.datapaths().map((dp) => dpidJson(dp.id))));

      stats('/desc/:dpid', () => ofctl.getDescStats());
      for (const p of ['/flow/:dpid', '/flowdesc/:dpid']) stats(p, (_req, body) => ofctl.getFlowStats(body), ['GET', 'POST']);
      stats('/aggregateflow/:dpid', (_req, body) => ofctl.getAggregateFlowStats(body), ['GET', 'POST']);
      stats('/table/:dpid', () => ofctl.getTableStats());
      stats('/tablefeatures/:dpid', () => ofctl.getTableFeatures());
      for (const p of ['/port/:dpid', '/port/:dpid/:port']) stats(p, (req) => ofctl.getPortStats(req.params['port']));
      for (const p of ['/portdesc/:dpid', '/portdesc/:dpid/:port_no']) stats(p, (req) => ofctl.getPortDesc(req.params['port_no']));
      for (const p of ['/queue/:dpid', '/queue/:dpid/:port', '/queue/:dpid/:port/:queue_id']) {
        stats(p, (req) => ofctl.getQueueStats(req.params['port'], req.params['queue_id']));
      }
      for (const p of ['/queueconfig/:dpid', '/queueconfig/:dpid/:port']) stats(p, (req) => ofctl.getQueueConfig(req.params['port']));
      for (const p of ['/group/:dpid', '/group/:dpid/:group_id']) stats(p, (req) => ofctl.getGroupStats(req.params['group_id']));
      for (const p of ['/groupdesc/:dpid', '/groupdesc/:dpid/:group_id']) stats(p, (req) => ofctl.getGroupDesc(req.params['group_id']));
      stats('/groupfeatures/:dpid', () => ofctl.getGroupFeatures());
      for (const p of ['/meter/:dpid', '/meter/:dpid/:meter_id']) stats(p, (req) => ofctl.getMeterStats(req.params['meter_id']));
      for (const p of ['/meterconfig/:dpid', '/meterconfig/:dpid/:meter_id']) stats(p, (req) => ofctl.getMeterConfig(req.params['meter_id']));
      stats('/meterfeatures/:dpid', () => ofctl.getMeterFeatures());
      stats('/role/:dpid', () => ofctl.getRole());

      // OpenFlow 1.4+ only: ofctl_rest answers 501 for an OpenFlow 1.3 switch (after finding it)
      for (const p of ['/queuedesc/:dpid', '/queuedesc/:dpid/:port', '/queuedesc/:dpid/:port/:queue', '/meterdesc/:dpid', '/meterdesc/:dpid/:meter_id']) {
        scope.get<{ Params: Params }>(p, async (req) => {
          datapath(req.params['dpid']);
          throw new HttpError(501, `${p.split('/')[1] ?? ''} needs OpenFlow 1.4 or later; this switch speaks OpenFlow 1.3`);
        });
      }

      const done = (reply: FastifyReply): FastifyReply => reply.code(200).send();

      scope.post<{ Params: Params }>('/flowentry/:cmd', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        await ask(dp, ofctl.modFlowEntry(body, command(ofctl.FLOW_COMMANDS, req.params['cmd'])));
        return done(reply);
      });
      scope.delete<{ Params: Params }>('/flowentry/clear/:dpid', async (req, reply) => {
        const dp = commandTarget(req, bodyObject(req));
        await ask(dp, ofctl.clearFlowEntries());
        return done(reply);
      });
      scope.post<{ Params: Params }>('/groupentry/:cmd', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        await ask(dp, ofctl.modGroupEntry(body, command(ofctl.GROUP_COMMANDS, req.params['cmd'])));
        return done(reply);
      });
      scope.post<{ Params: Params }>('/meterentry/:cmd', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        await ask(dp, ofctl.modMeterEntry(body, command(ofctl.METER_COMMANDS, req.params['cmd'])));
        return done(reply);
      });
      scope.post<{ Params: Params }>('/portdesc/:cmd', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        // ofctl_rest: the port must be known (its hw_addr and advertised bits are the defaults), then the command
        const portNo = ofctl.portFromUser(body['port_no'], 'port_no');
        const port = dp.ports.get(portNo);
        if (!port) throw new HttpError(404, `no such port: ${portNo} on datapath ${dp.id}`);
        command({ modify: 0 }, req.params['cmd']);
        await ask(dp, ofctl.modPortBehavior(body, port));
        return done(reply);
      });
      scope.post<{ Params: Params }>('/experimenter/:dpid', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        await ask(dp, ofctl.experimenterMessage(body));
        return done(reply);
      });
      scope.post<{ Params: Params }>('/role', async (req, reply) => {
        const body = bodyObject(req);
        const dp = commandTarget(req, body);
        await ask(dp, ofctl.roleRequest(body));
        return done(reply);
      });
    },
    { prefix: '/stats' },
  );
  return { stats: () => bound.stats() };
}
