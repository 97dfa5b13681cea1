/* Batched UDP datagram I/O: recvmmsg(2) and sendmmsg(2) for dnsd/serve/batch.py (Linux only).
 *
 * One job: move up to N datagrams per system call between a non-blocking UDP socket and Python
 * bytes, with addresses in the socket module's tuple form. It must not know DNS, keep Python
 * state between calls beyond its buffers, or block (every call uses MSG_DONTWAIT).
 *
 *   Batch(fd, count, size)          buffers for `count` datagrams of up to `size` bytes
 *   Batch.recv() -> list[(bytes, addr)]   [] when nothing is waiting; raises OSError otherwise
 *   Batch.send(list[(bytes, addr)], start) -> (sent, errno)   sends items[start:] in one call;
 *        `sent` counts the items the kernel took; errno is that of the first one it refused
 *        (0 if all went). The caller decides what to do with the rest (skip one, retry later).
 *        An item whose address is not a numeric IP tuple ends the call before it; if it is the
 *        first, send raises (ValueError/TypeError/OverflowError) and sends nothing.
 *
 * With the fast path's hits served in C (_hits.c; its tables are the only DNS it sees):
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
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "_hits.h"

#define MAX_VLEN 1024 /* UIO_MAXIOV: sendmmsg takes at most this many per call */

typedef struct {
    PyObject_HEAD
    int fd;
    unsigned int count;
    Py_ssize_t size;
    char *buffers;
    struct sockaddr_in6 *names;
    struct iovec *iov;
    struct mmsghdr *msgs;
    struct sockaddr_in6 *send_names;
    struct iovec *send_iov;
    struct mmsghdr *send_msgs;
    Py_ssize_t send_capacity; /* entries in send_names, send_iov, send_msgs, origin */
    Py_ssize_t *reply_length; /* per received datagram: its reply's length if served, else 0 */
    Py_ssize_t received;      /* datagrams the last serve received */
    Py_ssize_t *origin;       /* per prepared reply: receive buffer index, or -1 - item index */
    Py_ssize_t prepared;      /* replies prepared */
    PyObject *prepared_items; /* the list given to prepare (keeps its bytes alive) */
} Batch;

static void Batch_dealloc(Batch *self) {
    PyMem_Free(self->buffers);
    PyMem_Free(self->names);
    PyMem_Free(self->iov);
    PyMem_Free(self->msgs);
    PyMem_Free(self->send_names);
    PyMem_Free(self->send_iov);
    PyMem_Free(self->send_msgs);
    PyMem_Free(self->reply_length);
    PyMem_Free(self->origin);
    Py_XDECREF(self->prepared_items);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Batch_init(Batch *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fd", "count", "size", NULL};
    int fd;
    unsigned int count = 32;
    Py_ssize_t size = 4096;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|In", kwlist, &fd, &count, &size))
        return -1;
    if (count < 1 || count > 1024 || size < 512 || size > 65536) {
        PyErr_SetString(PyExc_ValueError, "count must be 1..1024 and size 512..65536");
        return -1;
    }
    self->fd = fd;
    self->count = count;
    self->size = size;
    self->buffers = PyMem_Malloc((size_t)count * (size_t)size);
    self->names = PyMem_Calloc(count, sizeof(struct sockaddr_in6));
    self->iov = PyMem_Calloc(count, sizeof(struct iovec));
    self->msgs = PyMem_Calloc(count, sizeof(struct mmsghdr));
    self->send_names = PyMem_Calloc(count, sizeof(struct sockaddr_in6));
    self->send_iov = PyMem_Calloc(count, sizeof(struct iovec));
    self->send_msgs = PyMem_Calloc(count, sizeof(struct mmsghdr));
    self->reply_length = PyMem_Calloc(count, sizeof(Py_ssize_t));
    self->origin = PyMem_Calloc(count, sizeof(Py_ssize_t));
    self->send_capacity = count;
    if (!self->buffers || !self->names || !self->iov || !self->msgs || !self->send_names ||
        !self->send_iov || !self->send_msgs || !self->reply_length || !self->origin) {
        PyErr_NoMemory();
        return -1;
    }
    for (unsigned int i = 0; i < count; i++) {
        self->iov[i].iov_base = self->buffers + (size_t)i * (size_t)size;
        self->iov[i].iov_len = (size_t)size;
        self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
        self->msgs[i].msg_hdr.msg_iovlen = 1;
        self->msgs[i].msg_hdr.msg_name = &self->names[i];
    }
    return 0;
}

/* The socket module's address form: (host, port) or (host, port, flowinfo, scope_id). */
static PyObject *address_tuple(const struct sockaddr_in6 *name, socklen_t length) {
    char host[INET6_ADDRSTRLEN];
    if (name->sin6_family == AF_INET && length >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)name;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(v4->sin_port));
    }
    if (name->sin6_family == AF_INET6 && length >= sizeof(struct sockaddr_in6)) {
        inet_ntop(AF_INET6, &name->sin6_addr, host, sizeof host);
        return Py_BuildValue("(siII)", host, ntohs(name->sin6_port),
                             (unsigned int)ntohl(name->sin6_flowinfo),
                             (unsigned int)name->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

static PyObject *Batch_recv(Batch *self, PyObject *unused) {
    self->prepared = self->received = 0;
    for (unsigned int i = 0; i < self->count; i++)
        self->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    /* Non-blocking: the GIL stays held (releasing it costs more than the call waits). */
    int got = recvmmsg(self->fd, self->msgs, self->count, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return PyList_New(0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *out = PyList_New(got);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < got; i++) {
        struct msghdr *hdr = &self->msgs[i].msg_hdr;
        PyObject *data = PyBytes_FromStringAndSize(hdr->msg_iov->iov_base,
                                                   (Py_ssize_t)self->msgs[i].msg_len);
        PyObject *addr = data ? address_tuple(&self->names[i], hdr->msg_namelen) : NULL;
        PyObject *item = addr ? PyTuple_Pack(2, data, addr) : NULL;
        Py_XDECREF(data);
        Py_XDECREF(addr);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* Fill `name` from an address tuple; -1 with an exception set if it is not one. */
static int fill_address(PyObject *addr, struct sockaddr_in6 *name, socklen_t *length) {
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyArg_ParseTuple(addr, "si|II", &host, &port, &flowinfo, &scope_id))
        return -1;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_OverflowError, "port must be 0-65535");
        return -1;
    }
    memset(name, 0, sizeof *name);
    struct sockaddr_in *v4 = (struct sockaddr_in *)name;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *length = sizeof(struct sockaddr_in);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &name->sin6_addr) == 1) {
        name->sin6_family = AF_INET6;
        name->sin6_port = htons((uint16_t)port);
        name->sin6_flowinfo = htonl(flowinfo);
        name->sin6_scope_id = scope_id;
        *length = sizeof(struct sockaddr_in6);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not a numeric IP address: %s", host);
    return -1;
}

/* sendmmsg over msgs[0:n] -> (sent, errno of the first refused or 0). */
static PyObject *send_messages(Batch *self, struct mmsghdr *msgs, Py_ssize_t n) {
    int sent = sendmmsg(self->fd, msgs, (unsigned int)n, MSG_DONTWAIT);
    if (sent < 0)
        return Py_BuildValue("(ii)", 0, errno);
    if (sent < n) {
        /* The kernel stopped at item `sent`; ask it once more to learn why. */
        int again = sendmmsg(self->fd, msgs + sent, 1, MSG_DONTWAIT);
        if (again == 1)
            return Py_BuildValue("(ii)", sent + 1, 0);
        return Py_BuildValue("(ii)", sent, errno);
    }
    return Py_BuildValue("(ii)", sent, 0);
}

static PyObject *Batch_send(Batch *self, PyObject *args) {
    PyObject *items;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTuple(args, "O!|n", &PyList_Type, &items, &start))
        return NULL;
    Py_ssize_t total = PyList_GET_SIZE(items);
    if (start < 0 || start > total) {
        PyErr_SetString(PyExc_IndexError, "start out of range");
        return NULL;
    }
    Py_ssize_t n = total - start;
    if (n > (Py_ssize_t)self->count)
        n = (Py_ssize_t)self->count;
    if (n == 0)
        return Py_BuildValue("(ii)", 0, 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, start + i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(item, 0))) {
            PyErr_SetString(PyExc_TypeError, "items must be (bytes, address) tuples");
            return NULL;
        }
        PyObject *data = PyTuple_GET_ITEM(item, 0);
        struct msghdr *hdr = &self->send_msgs[i].msg_hdr;
        hdr->msg_iov = &self->send_iov[i];
        hdr->msg_iovlen = 1;
        hdr->msg_name = &self->send_names[i];
        self->send_iov[i].iov_base = PyBytes_AS_STRING(data);
        self->send_iov[i].iov_len = (size_t)PyBytes_GET_SIZE(data);
        socklen_t length;
        if (fill_address(PyTuple_GET_ITEM(item, 1), &self->send_names[i], &length) < 0) {
            if (i == 0)
                return NULL; /* the caller skips this one item */
            PyErr_Clear();   /* send the good ones before it; the next call raises for it */
            n = i;
            break;
        }
        hdr->msg_namelen = length;
    }
    self->prepared = 0; /* send_msgs now holds these items */
    /* The bytes objects stay alive: `items` holds them and the GIL is held throughout. */
    return send_messages(self, self->send_msgs, n);
}

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

static PyObject *Batch_serve(Batch *self, PyObject *tables) {
    Hits hits;
    if (hits_open(&hits, tables) < 0)
        return NULL;
    self->prepared = self->received = 0;
    for (unsigned int i = 0; i < self->count; i++)
        self->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    int got = recvmmsg(self->fd, self->msgs, self->count, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return Py_BuildValue("(iN)", 0, PyList_New(0));
        return PyErr_SetFromErrno(PyExc_OSError);
    }
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

static PyObject *Batch_prepare(Batch *self, PyObject *items) {
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

static PyObject *Batch_send_prepared(Batch *self, PyObject *args) {
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "n", &start))
        return NULL;
    if (start < 0 || start > self->prepared) {
        PyErr_SetString(PyExc_IndexError, "start out of range");
        return NULL;
    }
    Py_ssize_t n = self->prepared - start;
    if (n > MAX_VLEN)
        n = MAX_VLEN;
    if (n == 0)
        return Py_BuildValue("(ii)", 0, 0);
    return send_messages(self, self->send_msgs + start, n);
}

static PyObject *Batch_pending(Batch *self, PyObject *args) {
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "n", &start))
        return NULL;
    if (start < 0 || start > self->prepared) {
        PyErr_SetString(PyExc_IndexError, "start out of range");
        return NULL;
    }
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

static PyMethodDef Batch_methods[] = {
    {"recv", (PyCFunction)Batch_recv, METH_NOARGS, "Receive up to count datagrams."},
    {"send", (PyCFunction)Batch_send, METH_VARARGS, "Send items[start:] in one sendmmsg."},
    {"serve", (PyCFunction)Batch_serve, METH_O, "Receive, answer hits in place, return misses."},
    {"prepare", (PyCFunction)Batch_prepare, METH_O, "Line up hits and replies in order."},
    {"send_prepared", (PyCFunction)Batch_send_prepared, METH_VARARGS,
     "Send the prepared replies from start in one sendmmsg."},
    {"pending", (PyCFunction)Batch_pending, METH_VARARGS,
     "The prepared replies from start as (bytes, addr) items."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dnsd.serve._mmsg.Batch",
    .tp_basicsize = sizeof(Batch),
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "recvmmsg/sendmmsg buffers for one non-blocking UDP socket",
    .tp_methods = Batch_methods,
    .tp_init = (initproc)Batch_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_mmsg", "recvmmsg/sendmmsg for dnsd (Linux).", -1, NULL,
};

PyMODINIT_FUNC PyInit__mmsg(void) {
    if (PyType_Ready(&BatchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Batch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
