/* The hit path of dnsd/serve/_mmsg.c's Batch: receive a batch, answer the fast path's hits in
 * place (_hits.c), hand the misses to Python, then send hits and Python's replies in order.
 *
 * One job: arrange the datagrams of one batch; what a hit is, is _hits.c's business, what a
 * miss becomes is Python's. It must not block or keep state beyond the last batch.
 *
 *   Batch.serve(tables) -> (received, [(index, bytes, addr)])   receives like recv, answers every
 *        hit in place in its receive buffer and hands back only the misses, with their index.
 *   Batch.prepare([(index, bytes, addr)]) -> (total, skipped)   lines up the last serve's hits and
 *        these replies (each after the datagram `index`) in arrival order for sending; items
 *        whose address is not a numeric IP are skipped and counted.
 *   Batch.send_prepared(start) -> (sent, errno)   as send, over the prepared replies.
 *   Batch.pending(start) -> list[(bytes, addr)]   the prepared replies from `start` as objects,
 *        for the caller to keep when the kernel cannot take them now.
 * The prepared replies point into the receive buffers: the next serve or recv replaces them.
 */
#include "_mmsg.h"
#include "_hits.h"

/* The client's address as text (inet_ntop, as address_tuple gives it) and its port; 0 if the
 * address is neither IPv4 nor IPv6. */
static int client_host(const struct sockaddr_in6 *name, socklen_t length, char *host, int *port) {
    if (name->sin6_family == AF_INET && length >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)name;
        *port = ntohs(v4->sin_port);
        return inet_ntop(AF_INET, &v4->sin_addr, host, INET6_ADDRSTRLEN) != NULL;
    }
    if (name->sin6_family == AF_INET6 && length >= sizeof(struct sockaddr_in6)) {
        *port = ntohs(name->sin6_port);
        return inet_ntop(AF_INET6, &name->sin6_addr, host, INET6_ADDRSTRLEN) != NULL;
    }
    return 0;
}

/* The address part of a socket name (family and IP, no port), to tell clients apart. */
static int same_host(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
    if (a->sin6_family != b->sin6_family)
        return 0;
    if (a->sin6_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
           a->sin6_scope_id == b->sin6_scope_id;
}

/* One received datagram: its reply length if served in place, else 0 and (index, bytes, addr)
 * appended to `misses`. `client` memoises the address text of `last`, the previous sender. */
static int serve_one(Batch *self, Hits *hits, int i, PyObject *misses, PyObject **client,
                     struct sockaddr_in6 *last) {
    struct msghdr *hdr = &self->msgs[i].msg_hdr;
    Py_ssize_t length = (Py_ssize_t)self->msgs[i].msg_len;
    char host[INET6_ADDRSTRLEN];
    int port = 0;
    self->reply_length[i] = 0;
    if (*client == NULL || !same_host(&self->names[i], last)) {
        Py_CLEAR(*client);
        if (client_host(&self->names[i], hdr->msg_namelen, host, &port)) {
            *client = PyUnicode_FromString(host);
            if (*client == NULL)
                return -1;
            *last = self->names[i];
        }
    }
    if (*client != NULL) {
        self->reply_length[i] = hits_serve(hits, hdr->msg_iov->iov_base, length, self->size,
                                           *client);
        if (self->reply_length[i] > 0)
            return 0;
    }
    PyObject *data = PyBytes_FromStringAndSize(hdr->msg_iov->iov_base, length);
    PyObject *addr = data ? address_tuple(&self->names[i], hdr->msg_namelen) : NULL;
    PyObject *item = addr ? Py_BuildValue("(iOO)", i, data, addr) : NULL;
    Py_XDECREF(data);
    Py_XDECREF(addr);
    int status = item ? PyList_Append(misses, item) : -1;
    Py_XDECREF(item);
    return status;
}

PyObject *Batch_serve(Batch *self, PyObject *tables) {
    Hits hits;
    if (hits_open(&hits, tables) < 0)
        return NULL;
    int got = receive_batch(self);
    if (got < 0)
        return NULL;
    PyObject *misses = PyList_New(0);
    PyObject *client = NULL;
    struct sockaddr_in6 last;
    memset(&last, 0, sizeof last);
    int status = misses ? 0 : -1;
    for (int i = 0; i < got && status == 0; i++)
        status = serve_one(self, &hits, i, misses, &client, &last);
    self->received = status == 0 ? got : 0;
    Py_XDECREF(client);
    if (hits_close(&hits) < 0 || status < 0) {
        Py_XDECREF(misses);
        return NULL;
    }
    return Py_BuildValue("(iN)", got, misses);
}

/* Room for `n` prepared replies. */
static int reserve(Batch *self, Py_ssize_t n) {
    if (n <= self->send_capacity)
        return 0;
    struct sockaddr_in6 *names = PyMem_Realloc(self->send_names, n * sizeof *names);
    if (names)
        self->send_names = names;
    struct iovec *iov = names ? PyMem_Realloc(self->send_iov, n * sizeof *iov) : NULL;
    if (iov)
        self->send_iov = iov;
    struct mmsghdr *msgs = iov ? PyMem_Realloc(self->send_msgs, n * sizeof *msgs) : NULL;
    if (msgs)
        self->send_msgs = msgs;
    Py_ssize_t *origin = msgs ? PyMem_Realloc(self->origin, n * sizeof *origin) : NULL;
    if (origin == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->origin = origin;
    self->send_capacity = n;
    return 0;
}

/* Prepared reply k: the hit in receive buffer i (origin >= 0) or the item (origin < 0). */
static void prepare_hit(Batch *self, Py_ssize_t k, Py_ssize_t i) {
    struct msghdr *hdr = &self->send_msgs[k].msg_hdr;
    memset(hdr, 0, sizeof *hdr);
    self->send_iov[k].iov_base = self->iov[i].iov_base;
    self->send_iov[k].iov_len = (size_t)self->reply_length[i];
    hdr->msg_iov = &self->send_iov[k];
    hdr->msg_iovlen = 1;
    hdr->msg_name = &self->names[i];
    hdr->msg_namelen = self->msgs[i].msg_hdr.msg_namelen;
    self->origin[k] = i;
}

static int prepare_item(Batch *self, Py_ssize_t k, PyObject *item, Py_ssize_t j) {
    struct msghdr *hdr = &self->send_msgs[k].msg_hdr;
    socklen_t length;
    if (fill_address(PyTuple_GET_ITEM(item, 2), &self->send_names[k], &length) < 0) {
        PyErr_Clear();
        return 0;
    }
    memset(hdr, 0, sizeof *hdr);
    self->send_iov[k].iov_base = PyBytes_AS_STRING(PyTuple_GET_ITEM(item, 1));
    self->send_iov[k].iov_len = (size_t)PyBytes_GET_SIZE(PyTuple_GET_ITEM(item, 1));
    hdr->msg_iov = &self->send_iov[k];
    hdr->msg_iovlen = 1;
    hdr->msg_name = &self->send_names[k];
    hdr->msg_namelen = length;
    self->origin[k] = -1 - j;
    return 1;
}

PyObject *Batch_prepare(Batch *self, PyObject *items) {
    if (!PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "items must be a list");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(items);
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *item = PyList_GET_ITEM(items, j);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3 ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "items must be (index, bytes, address) tuples");
            return NULL;
        }
    }
    if (reserve(self, self->received + count) < 0)
        return NULL;
    Py_INCREF(items);
    Py_XSETREF(self->prepared_items, items);
    Py_ssize_t k = 0, j = 0, skipped = 0;
    for (Py_ssize_t i = 0; i <= self->received; i++) {
        if (i < self->received && self->reply_length[i] > 0)
            prepare_hit(self, k++, i);
        /* the replies to datagram i (all that are left, after the last datagram) */
        for (; j < count; j++) {
            PyObject *item = PyList_GET_ITEM(items, j);
            if (i < self->received && PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0)) != i)
                break;
            if (prepare_item(self, k, item, j))
                k++;
            else
                skipped++;
        }
        PyErr_Clear(); /* an index beyond Py_ssize_t: placed at the end */
    }
    self->prepared = k;
    return Py_BuildValue("(nn)", k, skipped);
}

/* The prepared reply to start from (an index into the prepared replies); -1 with an exception. */
static int parse_start(Batch *self, PyObject *args, Py_ssize_t *start) {
    if (!PyArg_ParseTuple(args, "n", start))
        return -1;
    if (*start < 0 || *start > self->prepared) {
        PyErr_SetString(PyExc_IndexError, "start out of range");
        return -1;
    }
    return 0;
}

PyObject *Batch_send_prepared(Batch *self, PyObject *args) {
    Py_ssize_t start;
    if (parse_start(self, args, &start) < 0)
        return NULL;
    Py_ssize_t n = self->prepared - start;
    if (n > MAX_VLEN)
        n = MAX_VLEN;
    if (n == 0)
        return Py_BuildValue("(ii)", 0, 0);
    return send_messages(self, self->send_msgs + start, n);
}

PyObject *Batch_pending(Batch *self, PyObject *args) {
    Py_ssize_t start;
    if (parse_start(self, args, &start) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    for (Py_ssize_t k = start; out != NULL && k < self->prepared; k++) {
        Py_ssize_t i = self->origin[k];
        PyObject *item;
        if (i >= 0) {
            PyObject *data = PyBytes_FromStringAndSize(self->iov[i].iov_base,
                                                       self->reply_length[i]);
            PyObject *addr = data ? address_tuple(&self->names[i],
                                                  self->msgs[i].msg_hdr.msg_namelen) : NULL;
            item = addr ? PyTuple_Pack(2, data, addr) : NULL;
            Py_XDECREF(data);
            Py_XDECREF(addr);
        } else {
            PyObject *given = PyList_GET_ITEM(self->prepared_items, -1 - i);
            item = PyTuple_Pack(2, PyTuple_GET_ITEM(given, 1), PyTuple_GET_ITEM(given, 2));
        }
        if (item == NULL || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}
