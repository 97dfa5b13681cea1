/* The fast path's hits, served in C while a batch is in the receive buffers.
 *
 * One job: for one received datagram, do what FastPath.lookup does on a hit, reading the fast
 * path's own tables (so whatever Python drops or clears is gone here too) -- or say "miss" and
 * leave the datagram untouched for the Python path. Only plain headers (wire.PLAIN_HEADERS) and
 * uncompressed names (packet.name_end) are looked up; anything odd is a miss. A hit writes
 *     reply = query[0:2] + head + query[12:end] + tail
 * over the query in place (ID and the question's case kept). Hits are counted per metric key
 * during the call and folded into the query counter when it ends (hits_close), so the totals are
 * exact whenever Python looks. It must not receive, send, call Python code or keep state
 * between calls.
 *
 * The layout it reads (dnsd/serve/entries.py defines it; keep both in step):
 *   tables = (clients, allowed, now, counter, metrics, entry_type, cached_type, headers)
 *   Entry  (a list): [head, slots, next, metric, ...]; slots[next] is the tail a hit serves,
 *           an int there is an empty slot (a miss: Python fills it); a hit moves next on.
 *   Cached (a list): [head, tail, until, metric, ...]; a hit while now < until and the
 *           client's recursion decision (allowed[client]) is True.
 */
#include "_hits.h"

#include <string.h>

#define HEADER_SIZE 12
#define MAX_LABEL 63

/* packet.name_end: the offset of the zero byte ending the first question's name, or -1. */
static Py_ssize_t name_end(const unsigned char *data, Py_ssize_t size) {
    Py_ssize_t i = HEADER_SIZE;
    while (i < size) {
        unsigned char length = data[i];
        if (length == 0)
            return i;
        if (length > MAX_LABEL)
            return -1;
        i += length + 1;
    }
    return -1;
}

static int plain_header(const Hits *hits, const unsigned char *data) {
    for (int i = 0; i < hits->header_count; i++)
        if (memcmp(hits->headers[i], data + 2, HITS_HEADER) == 0)
            return 1;
    return 0;
}

int hits_open(Hits *hits, PyObject *tables) {
    const char *headers;
    Py_ssize_t headers_size;
    memset(hits, 0, sizeof *hits);
    if (!PyArg_ParseTuple(tables, "O!O!dO!OO!O!y#", &PyDict_Type, &hits->clients, &PyDict_Type,
                          &hits->allowed, &hits->now, &PyDict_Type, &hits->counter,
                          &hits->metrics, &PyType_Type, &hits->entry_type, &PyType_Type,
                          &hits->cached_type, &headers, &headers_size))
        return -1;
    if (headers_size % HITS_HEADER || headers_size / HITS_HEADER > HITS_MAX_HEADERS) {
        PyErr_SetString(PyExc_ValueError, "headers must be up to 64 runs of 10 bytes");
        return -1;
    }
    hits->header_count = (int)(headers_size / HITS_HEADER);
    memcpy(hits->headers, headers, (size_t)headers_size);
    return 0;
}

/* counter[metric] += count for each tallied metric; every reference is released. */
static int fold_tally(Hits *hits) {
    int status = 0;
    for (int i = 0; i < hits->tally_count; i++) {
        HitTally *t = &hits->tally[i];
        if (status == 0) {
            PyObject *old = PyDict_GetItemWithError(hits->counter, t->metric); /* borrowed */
            PyObject *count = PyLong_FromSsize_t(t->count);
            PyObject *sum = NULL;
            if (count != NULL && old == NULL && !PyErr_Occurred())
                sum = Py_NewRef(count);
            else if (count != NULL && old != NULL)
                sum = PyNumber_Add(old, count);
            if (sum == NULL || PyDict_SetItem(hits->counter, t->metric, sum) < 0)
                status = -1;
            Py_XDECREF(count);
            Py_XDECREF(sum);
        }
        Py_DECREF(t->metric);
    }
    hits->tally_count = 0;
    return status;
}

static int count_hit(Hits *hits, PyObject *metric) {
    for (int i = 0; i < hits->tally_count; i++)
        if (hits->tally[i].metric == metric) {
            hits->tally[i].count++;
            return 0;
        }
    if (hits->tally_count == HITS_TALLY && fold_tally(hits) < 0)
        return -1;
    Py_INCREF(metric);
    hits->tally[hits->tally_count].metric = metric;
    hits->tally[hits->tally_count].count = 1;
    hits->tally_count++;
    return 0;
}

int hits_close(Hits *hits) {
    int status = fold_tally(hits);
    if (hits->cache_hits && status == 0) {
        PyObject *old = PyObject_GetAttrString(hits->metrics, "cache_hits");
        PyObject *count = old ? PyLong_FromSsize_t(hits->cache_hits) : NULL;
        PyObject *sum = count ? PyNumber_Add(old, count) : NULL;
        if (sum == NULL || PyObject_SetAttrString(hits->metrics, "cache_hits", sum) < 0)
            status = -1;
        Py_XDECREF(old);
        Py_XDECREF(count);
        Py_XDECREF(sum);
    }
    hits->cache_hits = 0;
    return status;
}

/* The tail an Entry serves now (borrowed, not moved on yet), or NULL for a miss. */
static PyObject *entry_tail(PyObject *entry, Py_ssize_t *slot) {
    PyObject *slots = PyList_GET_ITEM(entry, 1);
    PyObject *next = PyList_GET_ITEM(entry, 2);
    if (!PyList_CheckExact(slots) || !PyLong_CheckExact(next))
        return NULL;
    *slot = PyLong_AsSsize_t(next);
    if (*slot < 0 || *slot >= PyList_GET_SIZE(slots)) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *tail = PyList_GET_ITEM(slots, *slot);
    return PyBytes_CheckExact(tail) ? tail : NULL; /* an int: an empty slot Python fills */
}

/* The tail a Cached entry serves (borrowed), or NULL if expired or the client may not recurse. */
static PyObject *cached_tail(Hits *hits, PyObject *entry, PyObject *client) {
    PyObject *until = PyList_GET_ITEM(entry, 2);
    if (!PyFloat_CheckExact(until) || !(hits->now < PyFloat_AS_DOUBLE(until)))
        return NULL;
    PyObject *allowed = PyDict_GetItemWithError(hits->allowed, client);
    if (allowed != Py_True) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *tail = PyList_GET_ITEM(entry, 1);
    return PyBytes_CheckExact(tail) ? tail : NULL;
}

/* The entry for this datagram (borrowed), or NULL (a miss; no exception left set). */
static PyObject *find_entry(Hits *hits, const unsigned char *data, Py_ssize_t length,
                            Py_ssize_t end, PyObject *client) {
    PyObject *table = PyDict_GetItemWithError(hits->clients, client);
    if (table == NULL || !PyDict_Check(table)) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *key = PyBytes_FromStringAndSize(NULL, length - 2); /* query[2:end].lower() + ... */
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    unsigned char *k = (unsigned char *)PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 2; i < end; i++) {
        unsigned char c = data[i];
        k[i - 2] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
    }
    memcpy(k + end - 2, data + end, (size_t)(length - end));
    PyObject *entry = PyDict_GetItemWithError(table, key); /* bytes keys: no Python code runs */
    Py_DECREF(key);
    if (entry == NULL)
        PyErr_Clear();
    return entry;
}

Py_ssize_t hits_serve(Hits *hits, char *buffer, Py_ssize_t length, Py_ssize_t capacity,
                      PyObject *client) {
    const unsigned char *data = (const unsigned char *)buffer;
    if (length < HEADER_SIZE || !plain_header(hits, data))
        return 0;
    Py_ssize_t end = name_end(data, length);
    if (end < 0)
        return 0;
    PyObject *entry = find_entry(hits, data, length, end, client);
    if (entry == NULL)
        return 0;
    int cached = Py_IS_TYPE(entry, hits->cached_type);
    if ((!cached && !Py_IS_TYPE(entry, hits->entry_type)) || PyList_GET_SIZE(entry) < 4)
        return 0; /* a name to forward: the Python path */
    PyObject *head = PyList_GET_ITEM(entry, 0);
    PyObject *metric = PyList_GET_ITEM(entry, 3);
    Py_ssize_t slot = 0;
    PyObject *tail = cached ? cached_tail(hits, entry, client) : entry_tail(entry, &slot);
    if (tail == NULL || !PyBytes_CheckExact(head) || PyBytes_GET_SIZE(head) != HITS_HEADER ||
        end + PyBytes_GET_SIZE(tail) > capacity)
        return 0;
    PyObject *moved = NULL; /* an Entry's next slot, round the list */
    if (!cached) {
        Py_ssize_t count = PyList_GET_SIZE(PyList_GET_ITEM(entry, 1));
        moved = PyLong_FromSsize_t(slot + 1 < count ? slot + 1 : 0);
    }
    if ((!cached && moved == NULL) || count_hit(hits, metric) < 0) {
        Py_XDECREF(moved);
        PyErr_Clear();
        return 0;
    }
    if (moved != NULL)
        PyList_SetItem(entry, 2, moved); /* steals `moved`; cannot fail for index 2 of 4+ */
    hits->cache_hits += cached;
    memcpy(buffer + 2, PyBytes_AS_STRING(head), HITS_HEADER);
    memcpy(buffer + end, PyBytes_AS_STRING(tail), (size_t)PyBytes_GET_SIZE(tail));
    return end + PyBytes_GET_SIZE(tail);
}
