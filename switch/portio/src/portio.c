/*
 * tinflow port I/O: TAP devices and existing interfaces (AF_PACKET), for the switch.
 *
 * Each port is a non-blocking file descriptor watched by libuv (uv_poll: no thread, no busy polling).
 * When it is readable, up to RX_BATCH frames are read in one go (recvmmsg on packet sockets, a read
 * loop on TAPs) into a slab that JavaScript sees as one Buffer, and JavaScript is called once with the
 * count; lengths and offsets are in two shared Uint32Arrays. The frames are valid until the callback
 * returns (the switch forwards synchronously; what it keeps, it copies). Sends take a batch of Buffers
 * (views are fine) and go out with sendmmsg / writev, synchronously.
 *
 * Optionally (TINFLOW_PORTIO_DRAIN=1, see read_options) one wake-up drains every ready port: after a
 * port's frames are handled, one more epoll set holding all the process's reading ports says which became
 * readable meanwhile (a veth hands a frame to its peer, and a host in a namespace often answers, inside
 * the send itself), and those are read at once instead of one event-loop turn later.
 *
 * Offloads: with a virtio-net header (TAP IFF_VNET_HDR + TUNSETOFFLOAD, AF_PACKET PACKET_VNET_HDR) the
 * kernel hands over GSO super-frames with partial checksums; each frame's 10-byte header sits in its
 * slot just before the frame area, and send() takes headers alongside frames. A port with a header
 * passes them to the kernel; one without completes checksums and segments in software (gso.c). The
 * switch's datapath sends headers only to ports with offload (it makes frames plain itself, through
 * segmentInto below when this addon is loaded); the software path here serves sendFrom forwarders.
 *
 * The flow cache (flowcache.c; switch/flow-cache.ts is its JavaScript half): a port attached to its
 * datapath's cache forwards, before JavaScript sees the batch, every frame whose decision the cache holds,
 * batched per output port; only the rest reach the callback. A cache made threaded reads its ports and
 * forwards on a thread of its own instead of libuv's loop (see flowcache_t below).
 *
 * AF_PACKET strips a VLAN tag the NIC (or veth) accelerated; PACKET_AUXDATA tells us, and the tag is
 * put back so the switch sees the frame as it was sent. Frames the switch itself sent are not read
 * back (PACKET_IGNORE_OUTGOING). A port whose interface goes down reports -ENETDOWN and keeps waiting;
 * one whose interface disappears reports -ENODEV and stops, without spinning.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "flowcache.h"
#include "gro.h"
#include "gso.h"

#define RX_BATCH 64
#define TX_BATCH 64
#define SLOT_HEAD 16                  /* frame area starts here; the vnet header is just before it */
#define VLAN_ROOM 4                   /* a re-inserted VLAN tag moves the frame start back by 4 */
#define MAX_SEGS 256

enum { KIND_TAP = 1, KIND_PACKET = 2 };

typedef struct {
  double rx_packets, rx_bytes, rx_dropped, rx_errors, tx_packets, tx_bytes, tx_dropped, tx_errors;
} counters_t;

struct port;
#define FC_MAX_PORTS 1024

/* A datapath's flow cache (flowcache.c), shared by the ports attached to it. Freed when its JavaScript
 * object is collected and no port holds it.
 *
 * Threaded (a forwarding thread of its own, as an ovs-vswitchd PMD thread): the thread reads the attached
 * ports (epoll, one-shot per port) and forwards what the table decides; a batch with frames the table does
 * not know stays in the port's slab, the port is not read again, and JavaScript is woken (uv_async) to
 * run the pipeline on them, after which the port is armed again. `mu` guards the table, the port list
 * and every reading of an attached port, on either thread. */
typedef struct flowcache {
  fc_table_t t;
  int refs;
  pthread_mutex_t mu;
  int threaded;
  int ep;                  /* the thread's epoll set */
  int wake_fd;             /* eventfd: tells the thread to stop */
  int stop;
  pthread_t thread;
  uv_async_t *async;       /* wakes JavaScript for misses and read errors */
  struct port *ports[FC_MAX_PORTS];
  int n_ports;
} flowcache_t;

typedef struct port {
  napi_env env;
  napi_ref self;          /* strong while polling, so the object outlives its poll */
  napi_ref cb;            /* rx callback */
  napi_ref slab_ref;      /* the ArrayBuffer behind the slab */
  napi_async_context actx;
  uv_poll_t poll;
  int fd;
  int kind;
  int vnet;
  int gro;                /* merge TCP segments on receive (gro.c); AF_PACKET ports with vnet only */
  int ifindex;
  int polling;
  int poll_inited;
  int closed;
  char name[IF_NAMESIZE];
  uint8_t *slab;
  size_t slot;            /* bytes per slot */
  size_t cap;             /* largest frame a slot holds */
  uint32_t *lens;         /* shared with JS: frame lengths */
  uint32_t *offs;         /* shared with JS: frame offsets in the slab */
  napi_ref lens_ref, offs_ref;
  counters_t c;
  counters_t tc;          /* sends of the flow cache's forwarding (another thread when threaded) */
  flowcache_t *fc;        /* the flow cache of the port's datapath, when attached */
  uint32_t fc_no;         /* the port's number in that datapath */
  int t_state;            /* threaded: T_READING, T_MISSES (t_count frames wait for JS), T_ERROR (t_err) */
  int t_count;
  int t_err;
} port_t;

enum { T_READING = 0, T_MISSES = 1, T_ERROR = 2 };

/* Set on a forwarding thread: it never calls JavaScript. */
static __thread int on_io_thread;

/* Software GSO output, one area per thread (JavaScript's, and each forwarding thread's), reused per frame. */
#define TX_SCRATCH (65536 * 3)
static __thread uint8_t *tx_scratch;

/* A batch of frames on its way out: iovecs of 1 (plain) or 2 (virtio-net header + frame) entries. */
typedef struct txq {
  struct iovec iov[TX_BATCH][2];
  int iovcnt[TX_BATCH];
  int n;
  counters_t *c;           /* whose counters the sends go to: the port's own (c), or its forwarding ones (tc) */
} txq_t;

/* ---- the ports of this process, to drain every ready port in one wake-up ---------------------------- */

#define MAX_LIVE 1024
static port_t *live[MAX_LIVE];
static int n_live;
/* Options, read from the environment once (at the first port opened or started), to compare them in one
 * run of bench/latency.ts (--tinflow-env). None is on by default: none gave a gain that stood out of the
 * noise of a shared 2-core machine (the figures are in issue 16's report).
 * - TINFLOW_PORTIO_DRAIN=1: drain every ready port in one wake-up (drain_all). Saves an event-loop turn
 *   per hop between two ports of one process; costs one epoll_wait per wake-up.
 * - TINFLOW_PORTIO_SPIN_US=N (with DRAIN): keep asking for N µs (at most 10000) after the last frame;
 *   spends CPU while traffic trickles.
 * - TINFLOW_PORTIO_BUSY_POLL=N: SO_BUSY_POLL / SO_PREFER_BUSY_POLL on packet sockets; a veth has no NAPI
 *   context to busy-poll, so it changes nothing there. */
static int opt_busy_poll = -1;
static int opt_drain = -1;
static int opt_spin_us = 0;

static void read_options(void) {
  if (opt_drain >= 0) return;
  const char *v = getenv("TINFLOW_PORTIO_BUSY_POLL");
  opt_busy_poll = v ? atoi(v) : -1;
  v = getenv("TINFLOW_PORTIO_DRAIN");
  opt_drain = v ? atoi(v) != 0 : 0;
  v = getenv("TINFLOW_PORTIO_SPIN_US");
  opt_spin_us = v ? atoi(v) : 0;
  if (opt_spin_us < 0 || opt_spin_us > 10000) opt_spin_us = 0;
}

/* One epoll set holding every reading port of the process (beside libuv's own), so that one call tells
 * which ports became readable while frames were being handled. */
static int drain_ep = -1;

static void live_add(port_t *p) {
  if (!opt_drain) return; /* without draining, nothing is added to a second epoll set */
  for (int i = 0; i < n_live; i++) if (live[i] == p) return;
  if (n_live >= MAX_LIVE) return;
  if (drain_ep < 0) drain_ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.ptr = p}};
  if (drain_ep >= 0 && epoll_ctl(drain_ep, EPOLL_CTL_ADD, p->fd, &ev) == 0) live[n_live++] = p;
}

static void live_del(port_t *p) {
  for (int i = 0; i < n_live; i++) {
    if (live[i] == p) {
      live[i] = live[--n_live];
      epoll_ctl(drain_ep, EPOLL_CTL_DEL, p->fd, NULL);
      return;
    }
  }
}

static int live_has(port_t *p) {
  for (int i = 0; i < n_live; i++) if (live[i] == p) return 1;
  return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

#define NAPI_OK(call)                                                 \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "ERR_TINFLOW_PORTIO", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *what, const char *name) {
  char msg[256];
  const char *hint = "";
  if (err == EPERM || err == EACCES) hint = " (needs root or CAP_NET_ADMIN/CAP_NET_RAW)";
  else if (err == ENODEV || err == ENXIO) hint = " (no such interface)";
  else if (err == EBUSY) hint = " (device busy: another process holds it)";
  snprintf(msg, sizeof msg, "%s %s: %s%s", what, name, strerror(err), hint);
  napi_value code, m, e;
  char codebuf[32];
  snprintf(codebuf, sizeof codebuf, "E%s", err == EPERM ? "PERM" : err == EACCES ? "ACCES" : err == ENODEV ? "NODEV" :
                                             err == EBUSY ? "BUSY" : err == ENXIO ? "NXIO" : "IO");
  napi_create_string_utf8(env, codebuf, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_value en;
  napi_create_int32(env, err, &en);
  napi_set_named_property(env, e, "errno", en);
  napi_throw(env, e);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &n) != napi_ok) return -1;
  return (int)n;
}

static int get_bool_prop(napi_env env, napi_value obj, const char *k, int dflt) {
  napi_value v;
  bool has = false, b = false;
  napi_valuetype t;
  if (napi_has_named_property(env, obj, k, &has) != napi_ok || !has) return dflt;
  napi_get_named_property(env, obj, k, &v);
  napi_typeof(env, v, &t);
  if (t != napi_boolean) return dflt;
  napi_get_value_bool(env, v, &b);
  return b ? 1 : 0;
}

static int ctl_fd(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

/* Sets or clears IFF_UP (what `ip link set NAME up|down` does); nothing when it already is so. */
static int set_admin(const char *name, int up) {
  int s = ctl_fd();
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IF_NAMESIZE, "%s", (const char *)(name));
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0 && !(ifr.ifr_flags & IFF_UP) != !up) {
    if (up) ifr.ifr_flags |= IFF_UP;
    else ifr.ifr_flags &= ~IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int err = rc ? errno : 0;
  close(s);
  return -err;
}

/* ---- rx ----------------------------------------------------------------------------------------- */

static void deliver(port_t *p, int count) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, arg, result;
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && napi_get_reference_value(env, p->self, &self) == napi_ok &&
      cb != NULL) {
    napi_create_int32(env, count, &arg);
    napi_status st = napi_make_callback(env, p->actx, self, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void stop_polling(port_t *p);

/* Re-inserts an accelerated VLAN tag in front of the EtherType: the frame start moves back 4 bytes. */
static size_t put_back_vlan(port_t *p, uint8_t *slot, size_t len, const struct tpacket_auxdata *aux) {
  uint8_t *f = slot + SLOT_HEAD;
  if (len < 12) return len;
  memmove(f - VLAN_ROOM, f, 12);
  uint8_t *t = f - VLAN_ROOM + 12;
  uint16_t tpid = (aux->tp_status & TP_STATUS_VLAN_TPID_VALID) && aux->tp_vlan_tpid ? aux->tp_vlan_tpid : 0x8100;
  t[0] = (uint8_t)(tpid >> 8);
  t[1] = (uint8_t)tpid;
  t[2] = (uint8_t)(aux->tp_vlan_tci >> 8);
  t[3] = (uint8_t)aux->tp_vlan_tci;
  if (p->vnet) {
    struct virtio_net_hdr *h = (struct virtio_net_hdr *)(slot + SLOT_HEAD - VNET_HDR_LEN);
    struct virtio_net_hdr moved = *h;
    if (moved.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) moved.csum_start = (uint16_t)(moved.csum_start + VLAN_ROOM);
    if (moved.hdr_len) moved.hdr_len = (uint16_t)(moved.hdr_len + VLAN_ROOM);
    /* the header now lives just before the new frame start */
    memcpy(slot + SLOT_HEAD - VLAN_ROOM - VNET_HDR_LEN, &moved, sizeof moved);
  }
  return len + VLAN_ROOM;
}

/* What to do after a read error: 1 to keep waiting, 0 stopped. */
static int read_error(port_t *p, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return 1;
  if (on_io_thread) {
    /* JavaScript decides, on its thread (fc_on_async); the port is not read until then */
    p->t_err = err;
    p->t_state = T_ERROR;
    return 0;
  }
  if (err == ENETDOWN && p->kind == KIND_PACKET) {
    unsigned idx = if_nametoindex(p->name);
    if (idx != 0 && (int)idx == p->ifindex) {
      deliver(p, -ENETDOWN);
      return 1;
    }
    err = ENODEV;
  }
  if (err == EBADFD || err == EIO || err == ENXIO) err = ENODEV;
  p->c.rx_errors += 1;
  stop_polling(p);
  deliver(p, -err);
  return 0;
}

static int rx_packet(port_t *p) {
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iov[RX_BATCH];
  char ctrl[RX_BATCH][CMSG_SPACE(sizeof(struct tpacket_auxdata))];
  size_t pre = p->vnet ? VNET_HDR_LEN : 0;
  for (int i = 0; i < RX_BATCH; i++) {
    iov[i].iov_base = p->slab + (size_t)i * p->slot + SLOT_HEAD - pre;
    iov[i].iov_len = p->cap + pre;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctrl[i];
    msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
  }
  int n = recvmmsg(p->fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) return read_error(p, errno) ? 0 : -1;
  int out = 0;
  for (int i = 0; i < n; i++) {
    size_t len = msgs[i].msg_len;
    if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len < pre) {
      p->c.rx_errors += 1;
      continue;
    }
    len -= pre;
    uint8_t *slot = p->slab + (size_t)i * p->slot;
    size_t off = SLOT_HEAD;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm; cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
      if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA) continue;
      struct tpacket_auxdata aux;
      memcpy(&aux, CMSG_DATA(cm), sizeof aux);
      if ((aux.tp_status & TP_STATUS_VLAN_VALID) || aux.tp_vlan_tci) {
        len = put_back_vlan(p, slot, len, &aux);
        off = SLOT_HEAD - VLAN_ROOM;
      }
    }
    /* compact: frames are reported in order, slot i may hold frame `out` */
    p->lens[out] = (uint32_t)len;
    p->offs[out] = (uint32_t)((size_t)i * p->slot + off);
    p->c.rx_packets += 1;
    p->c.rx_bytes += (double)len;
    out++;
  }
  return out;
}

static int rx_tap(port_t *p) {
  size_t pre = p->vnet ? VNET_HDR_LEN : 0;
  int out = 0;
  for (int i = 0; i < RX_BATCH; i++) {
    uint8_t *slot = p->slab + (size_t)i * p->slot;
    ssize_t n = read(p->fd, slot + SLOT_HEAD - pre, p->cap + pre);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      if (out > 0) break; /* deliver what we have; the error comes back on the next wake-up */
      return read_error(p, errno) ? 0 : -1;
    }
    if ((size_t)n < pre) {
      p->c.rx_errors += 1;
      continue;
    }
    p->lens[out] = (uint32_t)((size_t)n - pre);
    p->offs[out] = (uint32_t)((size_t)i * p->slot + SLOT_HEAD);
    p->c.rx_packets += 1;
    p->c.rx_bytes += (double)((size_t)n - pre);
    out++;
  }
  return out;
}

static void on_async_closed(uv_handle_t *h) {
  flowcache_t *fc = h->data;
  free(h);
  pthread_mutex_destroy(&fc->mu);
  fc_free(&fc->t);
  free(fc);
}

static void fc_release(flowcache_t *fc) {
  if (--fc->refs > 0) return;
  if (fc->threaded) {
    pthread_mutex_lock(&fc->mu);
    fc->stop = 1;
    pthread_mutex_unlock(&fc->mu);
    uint64_t one = 1;
    if (write(fc->wake_fd, &one, sizeof one) < 0) { /* the thread also sees `stop` at its next wake-up */ }
    pthread_join(fc->thread, NULL);
    close(fc->ep);
    close(fc->wake_fd);
    uv_close((uv_handle_t *)fc->async, on_async_closed);
    return;
  }
  pthread_mutex_destroy(&fc->mu);
  fc_free(&fc->t);
  free(fc);
}

static int fc_has_port(const flowcache_t *fc, const port_t *p) {
  for (int i = 0; i < fc->n_ports; i++) if (fc->ports[i] == p) return 1;
  return 0;
}

/* Reading a port: on its flow cache's thread when that is threaded, else on libuv's loop. */
static void on_poll(uv_poll_t *h, int status, int events);
static void rx_arm(port_t *p, int add) {
  if (p->fc && p->fc->threaded) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data = {.ptr = p}};
    if (epoll_ctl(p->fc->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, p->fd, &ev) != 0 && errno == ENOENT)
      epoll_ctl(p->fc->ep, EPOLL_CTL_ADD, p->fd, &ev);
    return;
  }
  uv_poll_start(&p->poll, UV_READABLE, on_poll);
}

static void rx_disarm(port_t *p) {
  if (p->fc && p->fc->threaded) epoll_ctl(p->fc->ep, EPOLL_CTL_DEL, p->fd, NULL);
  else uv_poll_stop(&p->poll);
}

/* The port leaves its flow cache: every cached decision goes, as one may send to or come from it. */
static void fc_detach(port_t *p) {
  flowcache_t *fc = p->fc;
  if (!fc) return;
  pthread_mutex_lock(&fc->mu);
  if (p->polling) rx_disarm(p);
  for (int i = 0; i < fc->n_ports; i++) {
    if (fc->ports[i] == p) {
      fc->ports[i] = fc->ports[--fc->n_ports];
      break;
    }
  }
  fc_flush(&fc->t);
  p->fc = NULL;
  p->t_state = T_READING;
  pthread_mutex_unlock(&fc->mu);
  if (p->polling && !p->closed) rx_arm(p, 1); /* back to libuv's loop */
  fc_release(fc);
}

/* Joins p to fc (see port_attach). 0 when fc has no room for another port. */
static int fc_join(port_t *p, flowcache_t *fc, uint32_t no) {
  pthread_mutex_lock(&fc->mu);
  if (fc->n_ports >= FC_MAX_PORTS) {
    pthread_mutex_unlock(&fc->mu);
    return 0;
  }
  if (p->polling) uv_poll_stop(&p->poll);
  if (fc->threaded) live_del(p); /* read by the thread only */
  fc->ports[fc->n_ports++] = p;
  fc_flush(&fc->t);
  fc->refs++;
  p->fc = fc;
  p->fc_no = no;
  p->t_state = T_READING;
  if (p->polling) rx_arm(p, 1);
  pthread_mutex_unlock(&fc->mu);
  return 1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void txq_add(port_t *p, txq_t *q, uint8_t *data, size_t len, const struct virtio_net_hdr *h);
static void txq_flush(port_t *p, txq_t *q);
static const struct virtio_net_hdr ZERO_HDR;

#define FC_OUTQ 8

/* Forwards the frames of p's batch whose decision is cached, batched per output port, and compacts the
 * rest (in order) for the pipeline. Returns how many are left. */
static int fc_forward(port_t *p, int n) {
  fc_table_t *t = &p->fc->t;
  struct { port_t *port; txq_t q; } oq[FC_OUTQ];
  int noq = 0, keep = 0;
  uint64_t now = now_ms();
  uint8_t sig[FC_SIG_MAX];
  for (int i = 0; i < n; i++) {
    uint8_t *data = p->slab + p->offs[i];
    size_t len = p->lens[i];
    int sl = fc_signature(data, len, p->fc_no, sig);
    fc_entry_t *e = sl > 0 ? fc_lookup(t, sig, sl) : NULL;
    if (!e) {
      t->misses += 1;
      p->offs[keep] = p->offs[i];
      p->lens[keep] = p->lens[i];
      keep++;
      continue;
    }
    const struct virtio_net_hdr *h = p->vnet ? (const struct virtio_net_hdr *)(data - VNET_HDR_LEN) : &ZERO_HDR;
    for (int o = 0; o < e->n_out; o++) {
      port_t *q = e->out[o];
      int k = 0;
      while (k < noq && oq[k].port != q) k++;
      if (k == noq) {
        if (noq == FC_OUTQ) {
          for (int j = 0; j < noq; j++) txq_flush(oq[j].port, &oq[j].q);
          noq = 0;
          k = 0;
        }
        oq[k].port = q;
        oq[k].q.n = 0;
        oq[k].q.c = &q->tc;
        noq++;
      }
      txq_add(q, &oq[k].q, data, len, h);
    }
    fc_hit(t, e, len, now);
  }
  for (int j = 0; j < noq; j++) txq_flush(oq[j].port, &oq[j].q);
  return keep;
}

/* Reads and delivers up to 4 batches, then yields so other ports get their turn. Returns frames read. */
static int rx_rounds(port_t *p) {
  int total = 0;
  for (int round = 0; round < 4 && p->polling && !p->closed; round++) {
    int n = p->kind == KIND_PACKET ? rx_packet(p) : rx_tap(p);
    if (n <= 0) break;
    total += n;
    int full = n == RX_BATCH;
    if (p->gro && n > 1) n = gro_merge(p->slab, p->offs, p->lens, n, p->cap);
    flowcache_t *fc = p->fc;
    if (fc && fc->t.live > 0) {
      pthread_mutex_lock(&fc->mu);
      n = fc_forward(p, n);
      pthread_mutex_unlock(&fc->mu);
    }
    if (n > 0) deliver(p, n);
    if (!full) break;
  }
  return total;
}

/* ---- the forwarding thread of a threaded flow cache ---------------------------------------------- */

/* Reads p on the forwarding thread (fc->mu held): up to 4 batches, each forwarded by the table; a batch
 * with misses or a read error stops the reading until JavaScript has seen it. Returns 1 to wake it. */
static int io_read(flowcache_t *fc, port_t *p) {
  for (int round = 0; round < 4; round++) {
    int n = p->kind == KIND_PACKET ? rx_packet(p) : rx_tap(p);
    if (p->t_state == T_ERROR) return 1;
    if (n <= 0) break;
    int full = n == RX_BATCH;
    if (p->gro && n > 1) n = gro_merge(p->slab, p->offs, p->lens, n, p->cap);
    if (fc->t.live > 0) n = fc_forward(p, n);
    if (n > 0) {
      p->t_count = n;
      p->t_state = T_MISSES;
      return 1;
    }
    if (!full) break;
  }
  rx_arm(p, 0);
  return 0;
}

static void *io_thread(void *arg) {
  flowcache_t *fc = arg;
  on_io_thread = 1;
  struct epoll_event evs[64];
  for (;;) {
    int k = epoll_wait(fc->ep, evs, 64, -1);
    if (k < 0 && errno != EINTR) break;
    int wake = 0;
    pthread_mutex_lock(&fc->mu);
    if (fc->stop) {
      pthread_mutex_unlock(&fc->mu);
      break;
    }
    for (int i = 0; i < k; i++) {
      port_t *p = evs[i].data.ptr;
      if (!p) continue; /* the wake-up eventfd: `stop` is checked above */
      /* a port may have left (detached, closed) between the wait and the lock */
      if (!fc_has_port(fc, p) || p->closed || !p->polling || p->t_state != T_READING) continue;
      wake |= io_read(fc, p);
    }
    pthread_mutex_unlock(&fc->mu);
    if (wake) uv_async_send(fc->async);
  }
  free(tx_scratch);
  tx_scratch = NULL;
  return NULL;
}

/* On JavaScript's thread: hands each port's waiting misses to the pipeline (or its read error to
 * read_error), then arms it again. */
static void fc_on_async(uv_async_t *h) {
  flowcache_t *fc = h->data;
  port_t *todo[FC_MAX_PORTS];
  int n = 0;
  pthread_mutex_lock(&fc->mu);
  for (int i = 0; i < fc->n_ports; i++) if (fc->ports[i]->t_state != T_READING) todo[n++] = fc->ports[i];
  pthread_mutex_unlock(&fc->mu);
  fc->refs++; /* JavaScript may drop the cache meanwhile */
  for (int i = 0; i < n; i++) {
    port_t *p = todo[i];
    /* an earlier port's pipeline run may have closed or detached this one */
    if (p->fc != fc || p->closed || !p->polling) continue;
    int keep = 1;
    if (p->t_state == T_MISSES) deliver(p, p->t_count);
    else if (p->t_state == T_ERROR) keep = read_error(p, p->t_err);
    if (p->fc != fc || p->closed || !p->polling) continue;
    pthread_mutex_lock(&fc->mu);
    p->t_state = T_READING;
    if (keep) rx_arm(p, 0);
    pthread_mutex_unlock(&fc->mu);
  }
  fc_release(fc);
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* After a wake-up's frames: the sends they caused may already have made ports readable (a veth hands a
 * frame to its peer inside the send, and a host may answer inside it too). Asks the process's epoll set
 * which ports are ready and reads them, until none is (at most 16 rounds, then libuv's loop takes over
 * so that timers and the control channel get their turn); with a spin time, keeps asking until nothing
 * came for that long. */
static void drain_all(port_t *first) {
  struct epoll_event evs[64];
  uint64_t last = opt_spin_us > 0 ? now_us() : 0;
  int busy = 0;
  for (;;) {
    int k = epoll_wait(drain_ep, evs, 64, 0);
    int got = 0;
    for (int i = 0; i < k; i++) {
      port_t *q = evs[i].data.ptr;
      /* a port handled earlier in this round may have closed q */
      if (!live_has(q) || q->closed || !q->polling || q->env != first->env || (q->fc && q->fc->threaded)) continue;
      got += rx_rounds(q);
    }
    if (got > 0) {
      if (++busy >= 16) break;
      if (opt_spin_us > 0) last = now_us();
      continue;
    }
    if (opt_spin_us <= 0 || now_us() - last >= (uint64_t)opt_spin_us) break;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  port_t *p = (port_t *)h->data;
  if (p->closed || !p->polling) return;
  if (status < 0) {
    /* POLLERR: libuv has stopped the handle. Fetch (and clear) the socket error, then decide. */
    int err = 0;
    socklen_t sl = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err == 0) err = EIO;
    if (read_error(p, err) && p->polling) uv_poll_start(&p->poll, UV_READABLE, on_poll);
    return;
  }
  if (!(events & UV_READABLE)) return;
  if (rx_rounds(p) > 0 && opt_drain) drain_all(p);
}

static void stop_polling(port_t *p) {
  if (!p->polling) return;
  p->polling = 0;
  live_del(p);
  if (p->fc) {
    pthread_mutex_lock(&p->fc->mu);
    rx_disarm(p);
    pthread_mutex_unlock(&p->fc->mu);
  } else {
    uv_poll_stop(&p->poll);
  }
  uint32_t rc;
  napi_reference_unref(p->env, p->self, &rc);
}

/* ---- tx ----------------------------------------------------------------------------------------- */

/* A send error that means "the device cannot take this frame" rather than a fault: its queue is full
 * (EAGAIN, ENOBUFS), the frame is longer than the device's MTU (EMSGSIZE; AF_PACKET checks it, a TAP
 * takes any size), or the device is down (ENETDOWN; a TAP's write says EIO, tun_get_user's answer to a
 * device without IFF_UP). The port contract (switch/port.ts) counts these as tx_dropped, the rest as
 * tx_errors. */
static int tx_is_drop(const port_t *p, int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EMSGSIZE || err == ENETDOWN ||
         (err == EIO && p->kind == KIND_TAP);
}

/* Sends n plain frames (iov lists of 1 or 2 entries). Returns frames sent. */
static int tx_raw(port_t *p, counters_t *c, struct iovec (*iov)[2], int *iovcnt, int n) {
  int sent = 0;
  if (p->kind == KIND_PACKET) {
    struct mmsghdr msgs[TX_BATCH];
    while (sent < n) {
      int k = n - sent < TX_BATCH ? n - sent : TX_BATCH;
      for (int i = 0; i < k; i++) {
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = iov[sent + i];
        msgs[i].msg_hdr.msg_iovlen = (size_t)iovcnt[sent + i];
      }
      int r = sendmmsg(p->fd, msgs, (unsigned)k, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        /* skip the frame at the head of the batch and go on */
        if (tx_is_drop(p, errno)) c->tx_dropped += 1; else c->tx_errors += 1;
        sent += 1;
        continue;
      }
      for (int i = 0; i < r; i++) {
        c->tx_packets += 1;
        c->tx_bytes += (double)(iov[sent + i][iovcnt[sent + i] - 1].iov_len);
      }
      sent += r;
    }
    return n;
  }
  for (int i = 0; i < n; i++) {
    ssize_t r;
    do r = writev(p->fd, iov[i], iovcnt[i]); while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (tx_is_drop(p, errno)) c->tx_dropped += 1;
      else c->tx_errors += 1;
      continue;
    }
    c->tx_packets += 1;
    c->tx_bytes += (double)iov[i][iovcnt[i] - 1].iov_len;
  }
  return n;
}

static void txq_flush(port_t *p, txq_t *q) {
  if (q->n) tx_raw(p, q->c, q->iov, q->iovcnt, q->n);
  q->n = 0;
}

/* Queues one frame for p: with its header on a port that takes one, as is when it needs nothing,
 * else completed / segmented in software first. */
static void txq_add(port_t *p, txq_t *q, uint8_t *data, size_t len, const struct virtio_net_hdr *h) {
  if (p->vnet) {
    q->iov[q->n][0].iov_base = (void *)h;
    q->iov[q->n][0].iov_len = VNET_HDR_LEN;
    q->iov[q->n][1].iov_base = data;
    q->iov[q->n][1].iov_len = len;
    q->iovcnt[q->n++] = 2;
  } else if (vnet_hdr_is_plain(h)) {
    q->iov[q->n][0].iov_base = data;
    q->iov[q->n][0].iov_len = len;
    q->iovcnt[q->n++] = 1;
  } else {
    uint32_t seg_lens[MAX_SEGS];
    txq_flush(p, q); /* the scratch area is reused per frame */
    if (!tx_scratch) {
      tx_scratch = malloc(TX_SCRATCH);
      if (!tx_scratch) { q->c->tx_errors += 1; return; }
    }
    int k = gso_to_frames(data, len, h, tx_scratch, TX_SCRATCH, seg_lens, MAX_SEGS);
    if (k < 0) { q->c->tx_errors += 1; return; }
    size_t o = 0;
    for (int s = 0; s < k; s++) {
      q->iov[q->n][0].iov_base = tx_scratch + o;
      q->iov[q->n][0].iov_len = seg_lens[s];
      q->iovcnt[q->n++] = 1;
      o += seg_lens[s];
      if (q->n == TX_BATCH) txq_flush(p, q);
    }
    txq_flush(p, q);
    return;
  }
  if (q->n == TX_BATCH) txq_flush(p, q);
}

/* send(frames: Buffer[], hdrs?: Buffer) → frames accepted. hdrs holds one 10-byte virtio-net header per
 * frame (all zero for a plain frame). */
static napi_value port_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  if (p->closed) {
    napi_throw_error(env, "ERR_TINFLOW_PORT_CLOSED", "send on a closed port");
    return NULL;
  }
  bool isarr = false;
  napi_is_array(env, argv[0], &isarr);
  if (!isarr) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send: frames must be an array of Buffers");
    return NULL;
  }
  uint32_t n;
  NAPI_OK(napi_get_array_length(env, argv[0], &n));
  uint8_t *hdrs = NULL;
  size_t hdrs_len = 0;
  napi_valuetype ht = napi_undefined;
  if (argc > 1) napi_typeof(env, argv[1], &ht);
  if (ht != napi_undefined && ht != napi_null) {
    bool isbuf = false;
    napi_is_buffer(env, argv[1], &isbuf);
    if (!isbuf || napi_get_buffer_info(env, argv[1], (void **)&hdrs, &hdrs_len) != napi_ok || hdrs_len < (size_t)n * VNET_HDR_LEN) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send: hdrs must be a Buffer of 10 bytes per frame");
      return NULL;
    }
  }
  txq_t q;
  q.n = 0;
  q.c = &p->c;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    uint8_t *data;
    size_t len;
    bool isbuf = false;
    napi_get_element(env, argv[0], i, &el);
    napi_is_buffer(env, el, &isbuf);
    if (!isbuf) {
      /* a typed array view works too */
      bool ista = false;
      napi_is_typedarray(env, el, &ista);
      if (!ista) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send: every frame must be a Buffer");
        return NULL;
      }
    }
    if (napi_get_buffer_info(env, el, (void **)&data, &len) != napi_ok) {
      napi_typedarray_type tt;
      size_t elen, boff;
      napi_value ab;
      void *base;
      NAPI_OK(napi_get_typedarray_info(env, el, &tt, &elen, &base, &ab, &boff));
      data = base;
      len = elen;
    }
    const struct virtio_net_hdr *h = hdrs ? (const struct virtio_net_hdr *)(hdrs + (size_t)i * VNET_HDR_LEN) : &ZERO_HDR;
    txq_add(p, &q, data, len, h);
  }
  txq_flush(p, &q);
  napi_value r;
  napi_create_uint32(env, n, &r);
  return r;
}

/* sendFrom(src: NativePort, count) → frames sent: forwards the first `count` frames of src's current
 * receive batch, straight from its slab (no JavaScript objects per frame). */
static napi_value port_send_from(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  port_t *p, *src;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  if (argc < 2 || napi_unwrap(env, argv[0], (void **)&src) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "sendFrom(port, count)");
    return NULL;
  }
  uint32_t n;
  NAPI_OK(napi_get_value_uint32(env, argv[1], &n));
  if (n > RX_BATCH) n = RX_BATCH;
  if (p->closed) {
    napi_throw_error(env, "ERR_TINFLOW_PORT_CLOSED", "send on a closed port");
    return NULL;
  }
  txq_t q;
  q.n = 0;
  q.c = &p->c;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *data = src->slab + src->offs[i];
    const struct virtio_net_hdr *h = src->vnet ? (const struct virtio_net_hdr *)(data - VNET_HDR_LEN) : &ZERO_HDR;
    txq_add(p, &q, data, src->lens[i], h);
  }
  txq_flush(p, &q);
  napi_value r;
  napi_create_uint32(env, n, &r);
  return r;
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

static void free_port(port_t *p) {
  fc_detach(p);
  free(p);
}

static void on_poll_closed(uv_handle_t *h) {
  port_t *p = (port_t *)h->data;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (p->closed == 2) free_port(p); /* finalizer already ran */
  else p->closed = 1;
}

static void do_close(port_t *p) {
  if (p->closed) return;
  stop_polling(p);
  fc_detach(p);
  if (p->poll_inited) {
    p->poll_inited = 0;
    uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    return; /* fd closed once libuv lets go of it */
  }
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  p->closed = 1;
}

static void finalize_port(napi_env env, void *data, void *hint) {
  port_t *p = (port_t *)data;
  if (p->cb) napi_delete_reference(env, p->cb);
  if (p->slab_ref) napi_delete_reference(env, p->slab_ref);
  if (p->lens_ref) napi_delete_reference(env, p->lens_ref);
  if (p->offs_ref) napi_delete_reference(env, p->offs_ref);
  if (p->actx) napi_async_destroy(env, p->actx);
  if (p->closed == 1 || (!p->poll_inited && p->closed == 0)) {
    if (p->fd >= 0) close(p->fd);
    free_port(p);
  } else {
    /* uv_close still pending: on_poll_closed frees it */
    if (p->poll_inited) { p->poll_inited = 0; uv_close((uv_handle_t *)&p->poll, on_poll_closed); }
    p->closed = 2;
  }
}

static napi_value port_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  napi_valuetype t = napi_undefined;
  if (argc > 0) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "start: expects a callback");
    return NULL;
  }
  if (p->closed) {
    napi_throw_error(env, "ERR_TINFLOW_PORT_CLOSED", "start on a closed port");
    return NULL;
  }
  if (p->cb) napi_delete_reference(env, p->cb);
  NAPI_OK(napi_create_reference(env, argv[0], 1, &p->cb));
  if (!p->poll_inited) {
    uv_loop_t *loop;
    NAPI_OK(napi_get_uv_event_loop(env, &loop));
    if (uv_poll_init(loop, &p->poll, p->fd) != 0) {
      napi_throw_error(env, "ERR_TINFLOW_PORTIO", "uv_poll_init failed");
      return NULL;
    }
    p->poll.data = p;
    p->poll_inited = 1;
  }
  read_options();
  if (!p->polling) {
    p->polling = 1;
    uint32_t rc;
    napi_reference_ref(env, p->self, &rc);
    if (!(p->fc && p->fc->threaded)) live_add(p);
    if (p->fc) {
      pthread_mutex_lock(&p->fc->mu);
      p->t_state = T_READING;
      rx_arm(p, 1);
      pthread_mutex_unlock(&p->fc->mu);
    } else {
      uv_poll_start(&p->poll, UV_READABLE, on_poll);
    }
  }
  return NULL;
}

static napi_value port_stop(napi_env env, napi_callback_info info) {
  napi_value thisv;
  NAPI_OK(napi_get_cb_info(env, info, NULL, NULL, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  stop_polling(p);
  return NULL;
}

static napi_value port_close(napi_env env, napi_callback_info info) {
  napi_value thisv;
  NAPI_OK(napi_get_cb_info(env, info, NULL, NULL, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  do_close(p);
  return NULL;
}

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

static napi_value port_stats(napi_env env, napi_callback_info info) {
  napi_value thisv, o;
  NAPI_OK(napi_get_cb_info(env, info, NULL, NULL, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  if (p->kind == KIND_PACKET && p->fd >= 0) {
    struct tpacket_stats st;
    socklen_t sl = sizeof st;
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) p->c.rx_dropped += st.tp_drops;
  }
  NAPI_OK(napi_create_object(env, &o));
  set_num(env, o, "rxPackets", p->c.rx_packets);
  set_num(env, o, "rxBytes", p->c.rx_bytes);
  set_num(env, o, "rxDropped", p->c.rx_dropped);
  set_num(env, o, "rxErrors", p->c.rx_errors);
  /* the forwarding thread's counts are read without its lock: a figure may lag by a batch */
  set_num(env, o, "txPackets", p->c.tx_packets + p->tc.tx_packets);
  set_num(env, o, "txBytes", p->c.tx_bytes + p->tc.tx_bytes);
  set_num(env, o, "txDropped", p->c.tx_dropped + p->tc.tx_dropped);
  set_num(env, o, "txErrors", p->c.tx_errors + p->tc.tx_errors);
  return o;
}

/* ---- open --------------------------------------------------------------------------------------- */

static int open_tap(const char *name, int vnet, int *created, char *actual) {
  int existed = if_nametoindex(name) != 0;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  snprintf(ifr.ifr_name, IF_NAMESIZE, "%s", (const char *)(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (vnet) {
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
    if (ioctl(fd, TUNSETOFFLOAD, off | TUN_F_USO4 | TUN_F_USO6) < 0)
#endif
      if (ioctl(fd, TUNSETOFFLOAD, off) < 0) {
        int e = errno;
        close(fd);
        return -e;
      }
    int sz = VNET_HDR_LEN;
    ioctl(fd, TUNSETVNETHDRSZ, &sz);
  }
  snprintf(actual, IF_NAMESIZE, "%s", (const char *)(ifr.ifr_name));
  *created = !existed;
  return fd;
}

static int open_packet(const char *name, int vnet, int *ifindex) {
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return -ENODEV;
  /* protocol 0 until bind: the socket sees no traffic from other interfaces meanwhile */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, e;
  if (vnet && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) goto fail;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) goto fail;
#ifdef PACKET_IGNORE_OUTGOING
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  read_options();
  if (opt_busy_poll >= 0) {
    int us = opt_busy_poll;
    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof us);
#ifdef SO_PREFER_BUSY_POLL
    setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one);
#endif
  }
  int buf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)idx;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) goto fail;
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = (int)idx;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) goto fail;
  *ifindex = (int)idx;
  return fd;
fail:
  e = errno;
  close(fd);
  return -e;
}

static int if_info(const char *name, int *mtu, uint8_t mac[6], int *flags) {
  int s = ctl_fd();
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IF_NAMESIZE, "%s", (const char *)(name));
  int rc = 0;
  if (ioctl(s, SIOCGIFMTU, &ifr) < 0) rc = -errno;
  else *mtu = ifr.ifr_mtu;
  if (!rc && ioctl(s, SIOCGIFHWADDR, &ifr) < 0) rc = -errno;
  else if (!rc) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  if (!rc && ioctl(s, SIOCGIFFLAGS, &ifr) < 0) rc = -errno;
  else if (!rc) *flags = ifr.ifr_flags;
  close(s);
  return rc;
}

/* new NativePort(kind: 'tap'|'interface', name, {vnetHdr, up, gro, maxFrame}) */
static napi_value port_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  char kind[16], name[IF_NAMESIZE + 8];
  if (argc < 3 || get_string(env, argv[0], kind, sizeof kind) < 0 || get_string(env, argv[1], name, sizeof name) < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "NativePort(kind, name, options)");
    return NULL;
  }
  if (strlen(name) == 0 || strlen(name) >= IF_NAMESIZE) {
    napi_throw_range_error(env, "ERR_TINFLOW_BAD_NAME", "interface names are 1 to 15 bytes");
    return NULL;
  }
  int vnet = get_bool_prop(env, argv[2], "vnetHdr", 0);
  int up = get_bool_prop(env, argv[2], "up", 1);
  int gro = get_bool_prop(env, argv[2], "gro", 0);
  port_t *p = calloc(1, sizeof *p);
  if (!p) {
    napi_throw_error(env, "ERR_TINFLOW_PORTIO", "out of memory");
    return NULL;
  }
  p->env = env;
  p->vnet = vnet;
  p->fd = -1;
  int created = 0, fd;
  char actual[IF_NAMESIZE] = {0};
  if (strcmp(kind, "tap") == 0) {
    p->kind = KIND_TAP;
    fd = open_tap(name, vnet, &created, actual);
    if (fd < 0) { free(p); return throw_errno(env, -fd, "cannot open TAP", name); }
    snprintf(p->name, IF_NAMESIZE, "%s", (const char *)(actual));
    p->ifindex = (int)if_nametoindex(p->name);
    if (up) {
      int rc = set_admin(p->name, 1);
      if (rc < 0) { close(fd); free(p); return throw_errno(env, -rc, "cannot bring up TAP", name); }
    }
  } else if (strcmp(kind, "interface") == 0) {
    p->kind = KIND_PACKET;
    p->gro = vnet && gro;
    fd = open_packet(name, vnet, &p->ifindex);
    if (fd < 0) { free(p); return throw_errno(env, -fd, "cannot open interface", name); }
    snprintf(p->name, IF_NAMESIZE, "%s", (const char *)(name));
  } else {
    free(p);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "kind must be 'tap' or 'interface'");
    return NULL;
  }
  p->fd = fd;
  int mtu = 1500, flags = 0;
  uint8_t mac[6] = {0};
  if_info(p->name, &mtu, mac, &flags);
  /* a slot holds the largest frame the port can see: 64 KiB with GSO, else a 9216-byte jumbo frame (or
   * the MTU if larger) with its headers, so that an MTU raised after opening still fits */
  p->cap = vnet ? 65536 + 64 : (size_t)(mtu > 9216 ? mtu : 9216) + 64;
  p->slot = (SLOT_HEAD + p->cap + 63) & ~(size_t)63;
  napi_value slab_ab, lens_ab, offs_ab, slab, lens, offs;
  void *data;
  if (napi_create_arraybuffer(env, p->slot * RX_BATCH, &data, &slab_ab) != napi_ok) {
    close(fd);
    free(p);
    napi_throw_error(env, "ERR_TINFLOW_PORTIO", "cannot allocate the receive slab");
    return NULL;
  }
  p->slab = data;
  NAPI_OK(napi_create_typedarray(env, napi_uint8_array, p->slot * RX_BATCH, slab_ab, 0, &slab));
  NAPI_OK(napi_create_arraybuffer(env, RX_BATCH * 4, &data, &lens_ab));
  p->lens = data;
  NAPI_OK(napi_create_typedarray(env, napi_uint32_array, RX_BATCH, lens_ab, 0, &lens));
  NAPI_OK(napi_create_arraybuffer(env, RX_BATCH * 4, &data, &offs_ab));
  p->offs = data;
  NAPI_OK(napi_create_typedarray(env, napi_uint32_array, RX_BATCH, offs_ab, 0, &offs));
  NAPI_OK(napi_create_reference(env, slab_ab, 1, &p->slab_ref));
  NAPI_OK(napi_create_reference(env, lens, 1, &p->lens_ref));
  NAPI_OK(napi_create_reference(env, offs, 1, &p->offs_ref));
  napi_value rname;
  NAPI_OK(napi_create_string_utf8(env, "tinflow:port", NAPI_AUTO_LENGTH, &rname));
  NAPI_OK(napi_async_init(env, NULL, rname, &p->actx));
  NAPI_OK(napi_wrap(env, thisv, p, finalize_port, NULL, &p->self));
  napi_set_named_property(env, thisv, "rxSlab", slab);
  napi_set_named_property(env, thisv, "rxLens", lens);
  napi_set_named_property(env, thisv, "rxOffs", offs);
  napi_value v;
  napi_create_string_utf8(env, p->name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, thisv, "name", v);
  napi_create_int32(env, p->ifindex, &v);
  napi_set_named_property(env, thisv, "ifindex", v);
  napi_create_int32(env, mtu, &v);
  napi_set_named_property(env, thisv, "mtu", v);
  napi_create_int32(env, flags, &v);
  napi_set_named_property(env, thisv, "flags", v);
  napi_get_boolean(env, created, &v);
  napi_set_named_property(env, thisv, "created", v);
  napi_get_boolean(env, vnet, &v);
  napi_set_named_property(env, thisv, "vnetHdr", v);
  napi_create_uint32(env, (uint32_t)p->slot, &v);
  napi_set_named_property(env, thisv, "slotSize", v);
  char macs[18];
  snprintf(macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  napi_create_string_utf8(env, macs, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, thisv, "hwAddr", v);
  return thisv;
}

/* ---- link watcher (rtnetlink) ------------------------------------------------------------------- */

typedef struct {
  napi_env env;
  napi_ref cb, self;
  napi_async_context actx;
  uv_poll_t poll;
  int fd;
  int active;
} watcher_t;

static void watcher_deliver(watcher_t *w, int type, int ifindex, const char *name, unsigned flags) {
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, args[4], result;
  if (napi_get_reference_value(env, w->cb, &cb) == napi_ok && napi_get_reference_value(env, w->self, &self) == napi_ok) {
    napi_create_string_utf8(env, type == RTM_DELLINK ? "del" : "new", NAPI_AUTO_LENGTH, &args[0]);
    napi_create_int32(env, ifindex, &args[1]);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &args[2]);
    napi_create_uint32(env, flags, &args[3]);
    if (napi_make_callback(env, w->actx, self, cb, 4, args, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_netlink(uv_poll_t *h, int status, int events) {
  watcher_t *w = (watcher_t *)h->data;
  if (!w->active) return;
  if (status < 0) {
    int err = 0;
    socklen_t sl = sizeof err;
    getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &sl); /* ENOBUFS: events were lost; keep going */
    uv_poll_start(&w->poll, UV_READABLE, on_netlink);
    return;
  }
  char buf[16384] __attribute__((aligned(8)));
  for (int rounds = 0; rounds < 16; rounds++) {
    ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(nh);
      char name[IF_NAMESIZE] = {0};
      int alen = (int)IFLA_PAYLOAD(nh);
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == IFLA_IFNAME) snprintf(name, IF_NAMESIZE, "%s", (const char *)(RTA_DATA(a)));
      }
      watcher_deliver(w, nh->nlmsg_type, ifi->ifi_index, name, ifi->ifi_flags);
      if (!w->active) return;
    }
  }
}

static void on_watcher_closed(uv_handle_t *h) {
  watcher_t *w = (watcher_t *)h->data;
  close(w->fd);
  free(w);
}

static napi_value watcher_close(napi_env env, napi_callback_info info) {
  napi_value thisv;
  NAPI_OK(napi_get_cb_info(env, info, NULL, NULL, &thisv, NULL));
  watcher_t *w;
  if (napi_remove_wrap(env, thisv, (void **)&w) != napi_ok || !w) return NULL;
  w->active = 0;
  uv_poll_stop(&w->poll);
  napi_delete_reference(env, w->cb);
  napi_delete_reference(env, w->self);
  napi_async_destroy(env, w->actx);
  uv_close((uv_handle_t *)&w->poll, on_watcher_closed);
  return NULL;
}

/* watchLinks(cb(type: 'new'|'del', ifindex, name, flags)) → { close() } */
static napi_value watch_links(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t = napi_undefined;
  if (argc > 0) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "watchLinks: expects a callback");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, errno, "cannot open", "rtnetlink");
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "cannot bind", "rtnetlink");
  }
  watcher_t *w = calloc(1, sizeof *w);
  w->env = env;
  w->fd = fd;
  w->active = 1;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &w->poll, fd);
  w->poll.data = w;
  napi_value obj, fn, rname;
  napi_create_object(env, &obj);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, watcher_close, NULL, &fn);
  napi_set_named_property(env, obj, "close", fn);
  napi_wrap(env, obj, w, NULL, NULL, NULL);
  napi_create_reference(env, argv[0], 1, &w->cb);
  napi_create_reference(env, obj, 1, &w->self);
  napi_create_string_utf8(env, "tinflow:links", NAPI_AUTO_LENGTH, &rname);
  napi_async_init(env, NULL, rname, &w->actx);
  uv_poll_start(&w->poll, UV_READABLE, on_netlink);
  return obj;
}

/* ---- misc --------------------------------------------------------------------------------------- */

/* linkInfo(name) → { ifindex, mtu, hwAddr, flags } or null when there is no such interface */
static napi_value link_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o, v;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IF_NAMESIZE + 8];
  if (argc < 1 || get_string(env, argv[0], name, sizeof name) < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "linkInfo(name)");
    return NULL;
  }
  unsigned idx = if_nametoindex(name);
  if (idx == 0) {
    napi_get_null(env, &o);
    return o;
  }
  int mtu = 0, flags = 0;
  uint8_t mac[6] = {0};
  if_info(name, &mtu, mac, &flags);
  napi_create_object(env, &o);
  napi_create_uint32(env, idx, &v);
  napi_set_named_property(env, o, "ifindex", v);
  napi_create_int32(env, mtu, &v);
  napi_set_named_property(env, o, "mtu", v);
  napi_create_int32(env, flags, &v);
  napi_set_named_property(env, o, "flags", v);
  char macs[18];
  snprintf(macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  napi_create_string_utf8(env, macs, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "hwAddr", v);
  return o;
}

/* setAdminUp(name, up): brings the interface up or takes it down (IFF_UP), as a controller's port-mod
 * PORT_DOWN asks; throws with the errno when the kernel refuses */
static napi_value set_admin_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IF_NAMESIZE + 8];
  bool up = false;
  if (argc < 2 || get_string(env, argv[0], name, sizeof name) < 0 || napi_get_value_bool(env, argv[1], &up) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setAdminUp(name, up)");
    return NULL;
  }
  int rc = set_admin(name, up ? 1 : 0);
  if (rc < 0) return throw_errno(env, -rc, up ? "cannot bring up" : "cannot take down", name);
  return NULL;
}

/* mergeFrames(frames: Buffer[]) → [frame, hdr][]: receive coalescing (gro.c) on plain frames, for tests */
static napi_value merge_frames(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  uint32_t n = 0;
  bool is_array = false;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || n > RX_BATCH) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mergeFrames(frames: Buffer[] of at most 64)");
    return NULL;
  }
  const size_t cap = 65536 + 64, slot = SLOT_HEAD + cap;
  uint8_t *slab = calloc(n ? n : 1, slot);
  uint32_t offs[RX_BATCH], lens[RX_BATCH];
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    uint8_t *d;
    size_t len;
    if (napi_get_element(env, argv[0], i, &b) != napi_ok || napi_get_buffer_info(env, b, (void **)&d, &len) != napi_ok ||
        len > cap) {
      free(slab);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mergeFrames: every frame must be a Buffer of at most 64 KiB");
      return NULL;
    }
    offs[i] = (uint32_t)(i * slot + SLOT_HEAD);
    lens[i] = (uint32_t)len;
    memcpy(slab + offs[i], d, len);
  }
  int k = gro_merge(slab, offs, lens, (int)n, cap);
  NAPI_OK(napi_create_array_with_length(env, (size_t)k, &arr));
  for (int i = 0; i < k; i++) {
    napi_value pair, f, h;
    void *d;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_buffer_copy(env, lens[i], slab + offs[i], &d, &f);
    napi_create_buffer_copy(env, (size_t)VNET_HDR_LEN, slab + offs[i] - VNET_HDR_LEN, &d, &h);
    napi_set_element(env, pair, 0, f);
    napi_set_element(env, pair, 1, h);
    napi_set_element(env, arr, (uint32_t)i, pair);
  }
  free(slab);
  return arr;
}

/* toPlainFrames(frame: Buffer, hdr: Buffer) → Buffer[]: software checksum completion / segmentation */
static napi_value to_plain_frames(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], arr;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *f, *h;
  size_t flen, hlen;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], (void **)&f, &flen) != napi_ok ||
      napi_get_buffer_info(env, argv[1], (void **)&h, &hlen) != napi_ok || hlen < (size_t)VNET_HDR_LEN) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "toPlainFrames(frame: Buffer, hdr: Buffer of 10 bytes)");
    return NULL;
  }
  size_t cap = flen * 2 + 65536;
  uint8_t *out = malloc(cap);
  uint32_t lens[MAX_SEGS];
  struct virtio_net_hdr hdr;
  memcpy(&hdr, h, sizeof hdr);
  int k = gso_to_frames(f, flen, &hdr, out, cap, lens, MAX_SEGS);
  if (k < 0) {
    free(out);
    char msg[96];
    snprintf(msg, sizeof msg, "cannot segment this frame: %s", strerror(-k));
    napi_throw_error(env, "ERR_TINFLOW_GSO", msg);
    return NULL;
  }
  NAPI_OK(napi_create_array_with_length(env, (size_t)k, &arr));
  size_t o = 0;
  for (int i = 0; i < k; i++) {
    napi_value b;
    void *d;
    napi_create_buffer_copy(env, lens[i], out + o, &d, &b);
    napi_set_element(env, arr, (uint32_t)i, b);
    o += lens[i];
  }
  free(out);
  return arr;
}

/* segmentInto(frame, hdr, out, off, lens: Uint32Array) → count, or a negative errno: gso.c writing the plain
 * frames for (frame, hdr) into out[off...] (the caller's reused memory; switch/offload.ts's accelerator),
 * their lengths into lens. No JavaScript object is made per frame. */
static napi_value segment_into(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], r;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *f, *h, *out;
  size_t flen, hlen, olen, nlens;
  uint32_t off;
  void *lens_data;
  napi_typedarray_type lt;
  napi_value ab;
  size_t boff;
  if (argc < 5 || napi_get_buffer_info(env, argv[0], (void **)&f, &flen) != napi_ok ||
      napi_get_buffer_info(env, argv[1], (void **)&h, &hlen) != napi_ok || hlen < (size_t)VNET_HDR_LEN ||
      napi_get_buffer_info(env, argv[2], (void **)&out, &olen) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &off) != napi_ok || off > olen ||
      napi_get_typedarray_info(env, argv[4], &lt, &nlens, &lens_data, &ab, &boff) != napi_ok || lt != napi_uint32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "segmentInto(frame: Buffer, hdr: Buffer of 10 bytes, out: Buffer, off, lens: Uint32Array)");
    return NULL;
  }
  struct virtio_net_hdr hdr;
  memcpy(&hdr, h, sizeof hdr);
  int k = gso_to_frames(f, flen, &hdr, out + off, olen - off, (uint32_t *)lens_data, nlens > MAX_SEGS ? MAX_SEGS : (int)nlens);
  NAPI_OK(napi_create_int32(env, k, &r));
  return r;
}

/* ---- the flow cache (flowcache.c) ----------------------------------------------------------------- */

static void finalize_fc(napi_env env, void *data, void *hint) { fc_release((flowcache_t *)data); }

/* Starts fc's forwarding thread; 0 (errno set) when it cannot. */
static int fc_start_thread(napi_env env, flowcache_t *fc) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return 0;
  fc->ep = epoll_create1(EPOLL_CLOEXEC);
  fc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  fc->async = calloc(1, sizeof *fc->async);
  if (fc->ep < 0 || fc->wake_fd < 0 || !fc->async) goto fail;
  struct epoll_event ev = {.events = EPOLLIN, .data = {.ptr = NULL}};
  if (epoll_ctl(fc->ep, EPOLL_CTL_ADD, fc->wake_fd, &ev) != 0) goto fail;
  if (uv_async_init(loop, fc->async, fc_on_async) != 0) goto fail;
  fc->async->data = fc;
  uv_unref((uv_handle_t *)fc->async); /* the thread does not keep the process alive */
  int rc = pthread_create(&fc->thread, NULL, io_thread, fc);
  if (rc != 0) {
    uv_close((uv_handle_t *)fc->async, (uv_close_cb)free);
    fc->async = NULL;
    errno = rc;
    goto fail;
  }
  fc->threaded = 1;
  return 1;
fail:
  if (fc->ep >= 0) close(fc->ep);
  if (fc->wake_fd >= 0) close(fc->wake_fd);
  free(fc->async);
  fc->async = NULL;
  return 0;
}

/* new FlowCache(slots, threaded) */
static napi_value fc_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  uint32_t slots = 4096;
  bool threaded = false;
  if (argc > 0) napi_get_value_uint32(env, argv[0], &slots);
  if (argc > 1) napi_get_value_bool(env, argv[1], &threaded);
  flowcache_t *fc = calloc(1, sizeof *fc);
  if (!fc || !fc_init(&fc->t, slots)) {
    free(fc);
    napi_throw_error(env, "ERR_TINFLOW_PORTIO", "out of memory for the flow cache");
    return NULL;
  }
  pthread_mutex_init(&fc->mu, NULL);
  fc->ep = fc->wake_fd = -1;
  if (threaded && !fc_start_thread(env, fc)) {
    int e = errno;
    pthread_mutex_destroy(&fc->mu);
    fc_free(&fc->t);
    free(fc);
    return throw_errno(env, e, "cannot start the forwarding thread of", "a flow cache");
  }
  fc->refs = 1;
  NAPI_OK(napi_wrap(env, thisv, fc, finalize_fc, NULL, NULL));
  return thisv;
}

static flowcache_t *this_fc(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value thisv;
  flowcache_t *fc = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &thisv, NULL) != napi_ok || napi_unwrap(env, thisv, (void **)&fc) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a FlowCache");
    return NULL;
  }
  return fc;
}

/* install(src: NativePort, index, outs: NativePort[], id) → whether cached. Caches, for frame `index` of
 * src's current receive batch (during its callback), that frames like it go out of outs, in order. Refused
 * (false) when the frame has no signature, a port is not attached to this cache or is closed, there are
 * more than FC_MAX_OUT outputs, or the table has no room near the frame's slot. */
static napi_value fc_install_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  flowcache_t *fc = this_fc(env, info, &argc, argv);
  if (!fc) return NULL;
  port_t *src;
  uint32_t index, id, n_out;
  bool isarr = false;
  if (argc < 4 || napi_unwrap(env, argv[0], (void **)&src) != napi_ok || napi_get_value_uint32(env, argv[1], &index) != napi_ok ||
      napi_is_array(env, argv[2], &isarr) != napi_ok || !isarr || napi_get_value_uint32(env, argv[3], &id) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "install(port, index, outs, id)");
    return NULL;
  }
  NAPI_OK(napi_get_array_length(env, argv[2], &n_out));
  int ok = src->fc == fc && !src->closed && index < RX_BATCH && n_out <= FC_MAX_OUT;
  void *outs[FC_MAX_OUT];
  for (uint32_t i = 0; ok && i < n_out; i++) {
    napi_value el;
    port_t *q;
    napi_get_element(env, argv[2], i, &el);
    if (napi_unwrap(env, el, (void **)&q) != napi_ok || q->fc != fc || q->closed) ok = 0;
    else outs[i] = q;
  }
  if (ok) {
    uint8_t sig[FC_SIG_MAX];
    int sl = fc_signature(src->slab + src->offs[index], src->lens[index], src->fc_no, sig);
    pthread_mutex_lock(&fc->mu);
    ok = sl > 0 && fc_install(&fc->t, sig, sl, outs, (int)n_out, id);
    pthread_mutex_unlock(&fc->mu);
  }
  NAPI_OK(napi_get_boolean(env, ok, &r));
  return r;
}

/* harvest(ids: Uint32Array, packets, bytes, ageMs: Float64Array) → entries written (at most the arrays'
 * length; call again while it fills them): the counts since the last harvest, and how long ago each
 * decision was last used. */
static napi_value fc_harvest_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  flowcache_t *fc = this_fc(env, info, &argc, argv);
  if (!fc) return NULL;
  void *arr[4];
  size_t lens[4];
  for (int i = 0; i < 4; i++) {
    napi_typedarray_type tt;
    napi_value ab;
    size_t boff;
    if ((size_t)i >= argc || napi_get_typedarray_info(env, argv[i], &tt, &lens[i], &arr[i], &ab, &boff) != napi_ok ||
        tt != (i == 0 ? napi_uint32_array : napi_float64_array)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "harvest(Uint32Array, Float64Array, Float64Array, Float64Array)");
      return NULL;
    }
  }
  size_t max = lens[0];
  for (int i = 1; i < 4; i++) if (lens[i] < max) max = lens[i];
  pthread_mutex_lock(&fc->mu);
  int k = fc_harvest(&fc->t, arr[0], arr[1], arr[2], arr[3], (int)(max > 1 << 20 ? 1 << 20 : max));
  pthread_mutex_unlock(&fc->mu);
  double now = (double)now_ms();
  double *age = arr[3];
  for (int i = 0; i < k; i++) age[i] = now > age[i] ? now - age[i] : 0;
  NAPI_OK(napi_create_int32(env, k, &r));
  return r;
}

static napi_value fc_flush_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  flowcache_t *fc = this_fc(env, info, &argc, NULL);
  if (!fc) return NULL;
  pthread_mutex_lock(&fc->mu);
  fc_flush(&fc->t);
  pthread_mutex_unlock(&fc->mu);
  return NULL;
}

static napi_value fc_stats_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value o;
  flowcache_t *fc = this_fc(env, info, &argc, NULL);
  if (!fc) return NULL;
  NAPI_OK(napi_create_object(env, &o));
  pthread_mutex_lock(&fc->mu);
  fc_table_t t = fc->t;
  pthread_mutex_unlock(&fc->mu);
  set_num(env, o, "threaded", fc->threaded);
  set_num(env, o, "entries", t.live);
  set_num(env, o, "slots", (double)t.mask + 1);
  set_num(env, o, "hits", t.hits);
  set_num(env, o, "misses", t.misses);
  set_num(env, o, "installs", t.installs);
  set_num(env, o, "refused", t.refused);
  set_num(env, o, "flushes", t.flushes);
  return o;
}

/* signature(frame: Buffer, inPort) → Buffer or null: what the cache keys a frame by (for tests). */
static napi_value fc_signature_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *data;
  size_t len;
  uint32_t in_no;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], (void **)&data, &len) != napi_ok || napi_get_value_uint32(env, argv[1], &in_no) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "flowSignature(frame: Buffer, inPort: number)");
    return NULL;
  }
  uint8_t sig[FC_SIG_MAX];
  int sl = fc_signature(data, len, in_no, sig);
  if (sl <= 0) {
    NAPI_OK(napi_get_null(env, &r));
    return r;
  }
  void *out;
  NAPI_OK(napi_create_buffer_copy(env, (size_t)sl, sig, &out, &r));
  return r;
}

/* attach(cache: FlowCache | null, portNo): the port's received frames are looked up in cache first (and
 * it may be an output of cached decisions); null detaches. Either way the caches involved are flushed. */
static napi_value port_attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], thisv;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &thisv, NULL));
  port_t *p;
  NAPI_OK(napi_unwrap(env, thisv, (void **)&p));
  flowcache_t *fc = NULL;
  napi_valuetype t = napi_undefined;
  if (argc > 0) napi_typeof(env, argv[0], &t);
  uint32_t no = 0;
  if (t != napi_null && t != napi_undefined &&
      (napi_unwrap(env, argv[0], (void **)&fc) != napi_ok || argc < 2 || napi_get_value_uint32(env, argv[1], &no) != napi_ok)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "attach(cache: FlowCache | null, portNo: number)");
    return NULL;
  }
  if (p->closed) {
    napi_throw_error(env, "ERR_TINFLOW_PORT_CLOSED", "attach on a closed port");
    return NULL;
  }
  fc_detach(p);
  if (fc && !fc_join(p, fc, no)) {
    napi_throw_range_error(env, "ERR_TINFLOW_PORTIO", "a flow cache serves at most 1024 ports");
    return NULL;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, port_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, port_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"send", NULL, port_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendFrom", NULL, port_send_from, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, port_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, port_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"attach", NULL, port_attach, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value ctor, fn;
  napi_define_class(env, "NativePort", NAPI_AUTO_LENGTH, port_ctor, NULL, sizeof methods / sizeof methods[0], methods, &ctor);
  napi_set_named_property(env, exports, "NativePort", ctor);
  napi_property_descriptor fc_methods[] = {
      {"install", NULL, fc_install_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"harvest", NULL, fc_harvest_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"flush", NULL, fc_flush_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, fc_stats_js, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_define_class(env, "FlowCache", NAPI_AUTO_LENGTH, fc_ctor, NULL, sizeof fc_methods / sizeof fc_methods[0], fc_methods, &ctor);
  napi_set_named_property(env, exports, "FlowCache", ctor);
  napi_create_function(env, "flowSignature", NAPI_AUTO_LENGTH, fc_signature_js, NULL, &fn);
  napi_set_named_property(env, exports, "flowSignature", fn);
  napi_create_function(env, "watchLinks", NAPI_AUTO_LENGTH, watch_links, NULL, &fn);
  napi_set_named_property(env, exports, "watchLinks", fn);
  napi_create_function(env, "linkInfo", NAPI_AUTO_LENGTH, link_info, NULL, &fn);
  napi_set_named_property(env, exports, "linkInfo", fn);
  napi_create_function(env, "setAdminUp", NAPI_AUTO_LENGTH, set_admin_up, NULL, &fn);
  napi_set_named_property(env, exports, "setAdminUp", fn);
  napi_create_function(env, "toPlainFrames", NAPI_AUTO_LENGTH, to_plain_frames, NULL, &fn);
  napi_set_named_property(env, exports, "toPlainFrames", fn);
  napi_create_function(env, "segmentInto", NAPI_AUTO_LENGTH, segment_into, NULL, &fn);
  napi_set_named_property(env, exports, "segmentInto", fn);
  napi_create_function(env, "mergeFrames", NAPI_AUTO_LENGTH, merge_frames, NULL, &fn);
  napi_set_named_property(env, exports, "mergeFrames", fn);
  napi_value hl;
  napi_create_int32(env, VNET_HDR_LEN, &hl);
  napi_set_named_property(env, exports, "VNET_HDR_LEN", hl);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
