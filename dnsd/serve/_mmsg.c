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
 *   Batch.serve/prepare/send_prepared/pending: the same with the fast path's hits answered in
 *        C, in _serve.c (the DNS it needs is in _hits.c, none here).
 */
#include "_mmsg.h"

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

PyObject *address_tuple(const struct sockaddr_in6 *name, socklen_t length) {
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

int receive_batch(Batch *self) {
    self->prepared = self->received = 0;
    for (unsigned int i = 0; i < self->count; i++)
        self->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    /* Non-blocking: the GIL stays held (releasing it costs more than the call waits). */
    int got = recvmmsg(self->fd, self->msgs, self->count, MSG_DONTWAIT, NULL);
    if (got >= 0)
        return got;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

static PyObject *Batch_recv(Batch *self, PyObject *unused) {
    int got = receive_batch(self);
    if (got < 0)
        return NULL;
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

int fill_address(PyObject *addr, struct sockaddr_in6 *name, socklen_t *length) {
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

PyObject *send_messages(Batch *self, struct mmsghdr *msgs, Py_ssize_t n) {
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
