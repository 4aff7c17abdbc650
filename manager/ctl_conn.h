/* The client side of the control protocol (control.h), shared by
 * fcgiwsgi-ctl's one-shot commands and `top`: connecting, sending a
 * request, reading the answer incrementally with its size bounded. Errors
 * go to the caller's buffer, never to stderr, so that top can show them in
 * its frame. */
#ifndef FW_CTL_CONN_H
#define FW_CTL_CONN_H

#include <stddef.h>

/* No answer is longer (status of thousands of workers is a few MiB). */
#define FW_CTL_ANSWER_MAX (64u << 20)

/* A connected socket, or -(enum fw_ctl_status) with err filled: no socket
 * (FW_CTL_NO_SOCKET), nobody accepting (FW_CTL_NOT_RUNNING), permission
 * (FW_CTL_DENIED), a path too long (FW_CTL_USAGE), anything else. */
int fw_ctl_connect(const char *path, char *err, size_t errcap);

/* The request for argv: each argument and '\n', then an empty line. The
 * caller checked the sizes (control.h's limits). */
size_t fw_ctl_request(char *out, size_t cap, int argc, char *const *argv);
/* 0, or -1 with errno (EAGAIN is retried through poll; EINTR too). */
int fw_ctl_send(int fd, const char *req, size_t len);

struct fw_ctl_answer {
    char *data; /* NUL-terminated once done */
    size_t len, cap;
};

/* One read: 1 when the master closed (the whole answer is in), 0 when
 * more is to come (or EINTR/EAGAIN), -1 on an error (err filled). */
int fw_ctl_answer_read(struct fw_ctl_answer *a, int fd, char *err, size_t errcap);
/* The exit status the answer names (0..99), with *text after its first
 * line; -1 with err filled if the answer is no answer. */
int fw_ctl_answer_status(const struct fw_ctl_answer *a, const char **text, char *err,
                         size_t errcap);
void fw_ctl_answer_free(struct fw_ctl_answer *a);

#endif
