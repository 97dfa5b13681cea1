/* What _mmsg.c (the batched I/O) and _serve.c (its hit path) share: the Batch object. */
#ifndef DNSD_MMSG_H
#define DNSD_MMSG_H
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

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

/* The socket module's address form: (host, port) or (host, port, flowinfo, scope_id). */
PyObject *address_tuple(const struct sockaddr_in6 *name, socklen_t length);
/* Fill `name` from an address tuple; -1 with an exception set if it is not one. */
int fill_address(PyObject *addr, struct sockaddr_in6 *name, socklen_t *length);
/* recvmmsg into the receive buffers (never waiting): how many came, 0 if none was waiting, -1
 * with an exception set on any other error. Resets the prepared and received counts. */
int receive_batch(Batch *self);
/* sendmmsg over msgs[0:n] -> (sent, errno of the first refused or 0). */
PyObject *send_messages(Batch *self, struct mmsghdr *msgs, Py_ssize_t n);

/* _serve.c: the methods of the hit path. */
PyObject *Batch_serve(Batch *self, PyObject *tables);
PyObject *Batch_prepare(Batch *self, PyObject *items);
PyObject *Batch_send_prepared(Batch *self, PyObject *args);
PyObject *Batch_pending(Batch *self, PyObject *args);

#endif
