/* One request's streams on its FastCGI connection, as the conn module and
 * the app's I/O callbacks (struct fw_gw_io) use them: waiting on the socket
 * within client_timeout, STDIN records into the app's reads, its output
 * into STDOUT records, the look for ABORT_REQUEST while it streams, and
 * the cut when a response must end broken. The state lives in struct
 * fw_conn_thread, one per request thread; this header is shared by conn.c
 * and stream.c only (the rest of the worker sees conn.h). */
#ifndef FW_STREAM_H
#define FW_STREAM_H

#include "conn.h"
#include "environ.h"
#include "record.h"
#include "slot.h"
#include "pyhost/callclock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fw_gw_io;

#define IN_CAP (64 * 1024)
#define OUT_CAP 16384
/* Buffered STDOUT content: the rest of OUT_CAP holds its header, its
 * padding and the records that end the response. */
#define OUT_DATA_MAX (OUT_CAP - FW_RECORD_HEADER_LEN - 8 - FW_RECORD_END_LEN)
/* Writes this large go straight from the app's buffer, many records per
 * writev(). */
#define DIRECT_MIN 16384
#define RECORDS_PER_WRITEV 16
/* Unread body up to this much is read and dropped so the connection can be
 * kept; more than that and the connection is closed instead. */
#define DRAIN_MAX_BYTES (1024 * 1024)
#define LINGER_MS 2000
/* What an idle kept connection may keep of a request's params buffer. */
#define KEEP_PARAMS_BYTES 16384
/* A streaming response looks for the web server's ABORT_REQUEST at most
 * this often. */
#define ABORT_CHECK_MS 50

struct fw_conn {
    int fd;
    bool used; /* a byte has arrived */
    struct fw_record_parser p;
    /* with an access log: when this request's BEGIN_REQUEST was read (the
     * params may arrive over several threads' turns), for a refusal's line;
     * the one clock read a request pays for its line (the others share the
     * busy time's, fw_conn_thread's began_us and ended_us) */
    int64_t begin_us;
};

/* The app's I/O and fw_conn_emergency exclude each other through io_owner:
 * once the emergency answer took the connection, the app's thread (still
 * stuck, perhaps about to wake) can never write on it again. */
enum { IO_FREE, IO_BUSY, IO_TAKEN };

struct fw_conn_thread {
    struct fw_conn_settings s;
    struct fw_pythread *py;
    struct fw_environ env;
    struct fw_param *params;
    size_t cap_params;

    struct fw_conn *c; /* the connection being served */
    atomic_int cur_fd; /* for fw_conn_emergency, from another thread */
    atomic_uint cur_id;
    atomic_bool output_started;
    atomic_int io_owner; /* IO_* below: who may touch the connection now */
    struct fw_callclock clock;
    /* the last request served, for the slot's metrics */
    int last_status;      /* 0: no response went out */
    uint64_t last_app_us; /* the app's own time (no client waits) */

    /* this request's input */
    const unsigned char *stdin_data; /* STDIN bytes not yet given to the app */
    size_t stdin_len;
    bool stdin_done;
    bool peer_aborted; /* ABORT_REQUEST: the web server wants no more */
    bool in_failed;    /* the connection cannot be read any more */
    bool out_failed;   /* a write failed: never append END_REQUEST */
    bool cut;          /* we cut the response short (abort_out) */
    int64_t abort_checked_ms;

    unsigned char in[IN_CAP];
    size_t in_pos, in_len;
    unsigned char out[OUT_CAP]; /* a STDOUT header, then out_len bytes of content */
    size_t out_len;
    char uri[256];
    struct fw_slot_request *slot_request; /* where this thread says what it serves; or NULL */

    /* The access log's (NULL: off), and what its line says of the request. */
    struct fw_access_thread *access;
    int log_status;
    bool log_mounted; /* env.mount_index is this request's */
    uint64_t log_bytes;
    /* CLOCK_MONOTONIC when fw_conn_serve began and when its response was
     * out: the slot's busy time and the access log's total time and line
     * time, from the same two reads. */
    int64_t began_us, ended_us;
};

/* Reads more into t->in (block: wait up to client_timeout). Returns bytes
 * read, 0 at EOF, -1 on error or timeout, -2 if !block and nothing is there. */
ssize_t fw_stream_fill(struct fw_conn_thread *t, struct fw_conn *c, bool block);
int fw_stream_send(struct fw_conn_thread *t, struct fw_conn *c, const void *buf, size_t len);
/* Half-closes, reads what the peer still sends (bounded), then closes. */
void fw_stream_linger_close(struct fw_conn *c);
unsigned fw_stream_request_id(const struct fw_conn *c);

/* Sends the buffered output as a STDOUT record; with_end also the records
 * that end the response. */
int fw_stream_flush(struct fw_conn_thread *t, bool with_end);
/* Response bytes from us (an error page), not from the app. */
int fw_stream_write(void *ctx, const char *buf, size_t len);
void fw_stream_protocol_error(const struct fw_conn_thread *t, const char *what);
/* A non-blocking look for ABORT_REQUEST, at most every ABORT_CHECK_MS. */
void fw_stream_check_abort(struct fw_conn_thread *t);
/* Reads and drops the body the app did not read. True if the stream is at
 * its end (the connection may be kept). */
bool fw_stream_drain(struct fw_conn_thread *t);

/* The app's I/O callbacks on t (each fails once fw_conn_emergency took the
 * connection). */
void fw_stream_io(struct fw_conn_thread *t, struct fw_gw_io *io);

#endif
