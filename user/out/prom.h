/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) of a cumulative bbs_report,
 * served over HTTP on one socket, polled from the hist loop: no threads.
 * Prometheus does the aggregation across hosts; this only exposes.
 */
#ifndef BBS_PROM_H
#define BBS_PROM_H

#include <stdio.h>

#include "out/hist.h"

struct bbs_prom;

/* addr is "HOST:PORT" ("127.0.0.1:9435" when NULL). 0 or -errno, after one error line. */
int bbs_prom_open(struct bbs_prom **out, const char *addr);
void bbs_prom_close(struct bbs_prom *p);
/* The listening socket, to poll() for readability. */
int bbs_prom_fd(const struct bbs_prom *p);
/* Accept and answer one scrape with the metrics of r (cumulative). */
void bbs_prom_serve(struct bbs_prom *p, const struct bbs_report *r);

/* Write the exposition text of r to f (also used by tests without HTTP). */
void bbs_prom_write(FILE *f, const struct bbs_report *r);

#endif
