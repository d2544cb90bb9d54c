/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) of a cumulative bbs_report, and
 * the HTTP endpoint that serves it.  Prometheus does the aggregation across
 * hosts; this only exposes.
 *
 * The endpoint is libmicrohttpd's, in its own thread, so that concurrent
 * scrapes are served while idle or slow clients are connected, connections
 * are bounded (BBS_PROM_MAX_CONNS, BBS_PROM_TIMEOUT_S), bytes that cannot
 * be an HTTP request are answered 400 at once (prom.c's gate), and the tracer's
 * loop never waits on a client: it renders the text once per update
 * (bbs_prom_publish()), and a scrape gets a copy of the latest.
 */
#ifndef BBS_PROM_H
#define BBS_PROM_H

#include <stdio.h>

#include "model/report.h"

#define BBS_PROM_DEF_ADDR "127.0.0.1:9435"
/*
 * Connections at once: the fd limit (its soft value raised to the hard one)
 * less BBS_PROM_FD_RESERVE, within these bounds; more wait in the listen
 * backlog until some close.  A service that must outlast many stalled
 * clients sets LimitNOFILE= (systemd) or ulimit -Hn.
 */
#define BBS_PROM_MIN_CONNS 64
#define BBS_PROM_MAX_CONNS 16384
#define BBS_PROM_FD_RESERVE 512 /* the tracer's own: BPF objects, links, files */
#define BBS_PROM_CONN_MEMORY 8192 /* bytes a connection may hold */
/* A request line not sent within this: closed (and as long again for its headers). */
#define BBS_PROM_REQUEST_TIMEOUT_S 3
#define BBS_PROM_TIMEOUT_S 10 /* an idle connection is closed after this */

struct bbs_prom;

/*
 * Listen on addr, "HOST:PORT" (BBS_PROM_DEF_ADDR when NULL; "[::1]:9435";
 * port 0: one the kernel picks; ":PORT": 127.0.0.1), and serve GET of
 * /metrics (any other path: 404).  An address beyond loopback is said on
 * stderr.  0 or -errno, after one error line.
 */
int bbs_prom_open(struct bbs_prom **out, const char *addr);
void bbs_prom_close(struct bbs_prom *p);
/* "http://HOST:PORT/metrics", with the port actually bound (for :0). */
const char *bbs_prom_url(const struct bbs_prom *p);
/* What scrapes get from now on: r's exposition.  0, or -ENOMEM (the old text stays). */
int bbs_prom_publish(struct bbs_prom *p, const struct bbs_report *r);

/* Write the exposition text of r to f (also used by tests without HTTP). */
void bbs_prom_write(FILE *f, const struct bbs_report *r);

#endif
