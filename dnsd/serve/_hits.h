/* The fast path's hits served in C (see _hits.c); used by _mmsg.c's Batch.serve. */
#ifndef DNSD_HITS_H
#define DNSD_HITS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define HITS_HEADER 10   /* header bytes 2-12: what PLAIN_HEADERS lists */
#define HITS_MAX_HEADERS 64
#define HITS_TALLY 16    /* distinct metric keys counted per call before folding early */

typedef struct {
    PyObject *metric; /* strong reference */
    Py_ssize_t count;
} HitTally;

/* One call's view of the fast path's tables (references borrowed from the `tables` tuple). */
typedef struct {
    PyObject *clients;  /* dict: client address str -> table (dict: key bytes -> entry) */
    PyObject *allowed;  /* dict: client address str -> bool (the recursion ACL's decisions) */
    double now;         /* the forwarder's clock, read once per call */
    PyObject *counter;  /* dict (Counter): metric key -> int */
    PyObject *metrics;  /* object with an int attribute cache_hits */
    PyTypeObject *entry_type;
    PyTypeObject *cached_type;
    unsigned char headers[HITS_MAX_HEADERS][HITS_HEADER];
    int header_count;
    HitTally tally[HITS_TALLY];
    int tally_count;
    Py_ssize_t cache_hits;
} Hits;

/* Read `tables` (FastPath.hit_tables()); -1 with an exception set if it is not that shape. */
int hits_open(Hits *hits, PyObject *tables);

/* Serve one datagram of `length` bytes in `buffer` (room for `capacity`) from `client`: the
 * reply's length, written over the query in place, or 0 for a miss (buffer untouched). */
Py_ssize_t hits_serve(Hits *hits, char *buffer, Py_ssize_t length, Py_ssize_t capacity,
                      PyObject *client);

/* Fold the counted hits into the counter and metrics.cache_hits; release references. */
int hits_close(Hits *hits);

#endif
