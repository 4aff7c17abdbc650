/* fcgiwsgi-ctl top (ctl_top.h): the loop (a `status --json` request every
 * delay, read without blocking so keys and signals are served meanwhile;
 * signals through a self-pipe) and the terminal: raw mode, the alternate
 * screen and a hidden cursor, undone on every way out (q, Ctrl-C, a
 * signal, Ctrl-Z, exit()). The frame's text is ctl_top_frame.c's. */
#include "config.h"

#include "ctl_top.h"

#include "control.h"
#include "ctl_conn.h"
#include "ctl_top_frame.h"
#include "lib/buf.h"
#include "lib/json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DELAY_MIN_MS 100
#define DELAY_MAX_MS 3600000
#define SLOW_ANSWER_MS 2000 /* then the frame says it waits */

static int sig_pipe[2] = { -1, -1 };
static struct termios saved_tio;
static bool raw_on, screen_on;
static const int handled[] = { SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGTSTP, SIGCONT };

struct top {
    const char *path;
    char req[FW_CTL_REQUEST_MAX + 2];
    size_t req_len;
    int64_t delay_ms;
    int timeout_s;
    bool keys; /* stdin is a terminal: raw mode, keys read */
    int fd;    /* the status request in flight, or -1 */
    int64_t sent_ms;
    struct fw_ctl_answer ans;
    struct fw_json_doc *doc; /* the last status read, NULL after a failure */
    char notice[1024];       /* why not, "" */
    bool notice_is_answer;   /* the master's own text (it names the problem itself) */
    size_t width, height;
};

bool fw_ctl_top_args(int argc, char **argv, int64_t *delay_ms, const char **pool)
{
    int64_t delay = 1000;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--delay") || !strcmp(argv[i], "-d")) {
            char *end;
            double s = i + 1 < argc ? strtod(argv[i + 1], &end) : 0;
            if (i + 1 >= argc || *end || end == argv[i + 1] ||
                !(s * 1000 >= DELAY_MIN_MS && s * 1000 <= DELAY_MAX_MS)) {
                fprintf(stderr, "fcgiwsgi-ctl: top: --delay takes %g to %d seconds\n",
                        DELAY_MIN_MS / 1000.0, DELAY_MAX_MS / 1000);
                return false;
            }
            delay = (int64_t)(s * 1000 + 0.5);
            i++;
        } else if (argv[i][0] == '-' || name) {
            return false;
        } else {
            name = argv[i];
        }
    }
    if (delay_ms)
        *delay_ms = delay;
    if (pool)
        *pool = name;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* full: a wakeup is pending anyway */
    }
    errno = saved;
}

static void catch_signal(int sig, void (*fn)(int))
{
    struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void write_all(const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pf = { .fd = STDOUT_FILENO, .events = POLLOUT };
            poll(&pf, 1, 1000);
            continue;
        }
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Safe to call twice, and from atexit. */
static void term_leave(void)
{
    if (screen_on) {
        static const char leave[] = "\033[?25h\033[?1049l";
        write_all(leave, sizeof(leave) - 1);
        screen_on = false;
    }
    if (raw_on) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
        raw_on = false;
    }
}

/* Raw mode without ISIG, so Ctrl-C and Ctrl-Z are keys we answer; output
 * processing stays (frames position the cursor themselves anyway). */
static void term_enter(struct top *t)
{
    if (t->keys && (raw_on || tcgetattr(STDIN_FILENO, &saved_tio) == 0)) {
        struct termios raw = saved_tio;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
        raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        raw_on = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
    }
    static const char enter[] = "\033[?1049h\033[?25l\033[2J";
    write_all(enter, sizeof(enter) - 1);
    screen_on = true;
}

static void term_size(struct top *t)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        t->width = ws.ws_col;
        t->height = ws.ws_row;
    } else {
        t->width = 80;
        t->height = 24;
    }
}

__attribute__((format(printf, 3, 4))) static void failed(struct top *t, bool from_master,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->notice, sizeof(t->notice), fmt, ap);
    va_end(ap);
    t->notice_is_answer = from_master;
    fw_json_free(t->doc);
    t->doc = NULL;
}

/* 0 when the request is on its way; else the exit status, notice set. */
static int fetch_start(struct top *t)
{
    char err[512];
    int fd = fw_ctl_connect(t->path, err, sizeof(err));
    if (fd < 0) {
        failed(t, false, "%s", err);
        return -fd;
    }
    /* A refused peer may be answered and closed before it has sent all:
     * its answer is read all the same. */
    if (fw_ctl_send(fd, t->req, t->req_len) == 0)
        shutdown(fd, SHUT_WR);
    t->fd = fd;
    t->sent_ms = now_ms();
    return 0;
}

static void fetch_abandon(struct top *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    fw_ctl_answer_free(&t->ans);
}

/* After poll said the socket is readable: true when the request has
 * ended, with *status its exit status (notice set unless 0). */
static bool fetch_read(struct top *t, int *status)
{
    char err[512];
    int rc = fw_ctl_answer_read(&t->ans, t->fd, err, sizeof(err));
    if (rc == 0)
        return false;
    const char *text = "";
    int st = rc < 0 ? -1 : fw_ctl_answer_status(&t->ans, &text, err, sizeof(err));
    if (st < 0) {
        failed(t, false, "%s", err);
        *status = FW_CTL_ERROR;
    } else if (st != 0) {
        failed(t, true, "%s", text);
        *status = st;
    } else {
        struct fw_json_limits lim = FW_JSON_DEFAULT_LIMITS;
        struct fw_json_doc *d = fw_json_parse(text, strlen(text), &lim, err, sizeof(err));
        if (d) {
            fw_json_free(t->doc);
            t->doc = d;
            t->notice[0] = '\0';
            *status = 0;
        } else {
            failed(t, false, "the manager's status is unreadable: %s", err);
            *status = FW_CTL_ERROR;
        }
    }
    fetch_abandon(t);
    return true;
}

/* The first request, before the terminal is touched. */
static int fetch_blocking(struct top *t)
{
    int status = fetch_start(t);
    int64_t deadline = t->timeout_s ? t->sent_ms + (int64_t)t->timeout_s * 1000 : 0;
    while (status == 0) {
        int64_t left = deadline ? deadline - now_ms() : 60000;
        if (left <= 0) {
            fetch_abandon(t);
            failed(t, false, "no answer within %d s", t->timeout_s);
            return FW_CTL_ERROR;
        }
        struct pollfd pf = { .fd = t->fd, .events = POLLIN };
        if (poll(&pf, 1, (int)(left > 60000 ? 60000 : left)) > 0 && fetch_read(t, &status))
            return status;
    }
    return status;
}

static void draw(struct top *t, bool tty)
{
    char waiting[96] = "";
    int64_t slow = t->fd >= 0 ? now_ms() - t->sent_ms : 0;
    if (slow > SLOW_ANSWER_MS)
        snprintf(waiting, sizeof(waiting),
                 "waiting %d s for the manager's answer (shown: the last)", (int)(slow / 1000));
    char notice[sizeof(t->notice) + 32];
    snprintf(notice, sizeof(notice), "%s%s", t->notice[0] && !t->doc ? "retrying: " : "",
             t->notice[0] ? t->notice : waiting);
    for (char *p = notice; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
    struct fw_ctl_top_view v = { .status = fw_json_root(t->doc),
                                 .notice = notice,
                                 .delay_ms = t->delay_ms,
                                 .width = tty ? t->width : 0,
                                 .height = tty ? t->height : 0 };
    struct fw_buf frame, screen;
    fw_buf_init(&frame);
    fw_ctl_top_frame(&frame, &v);
    if (!tty) {
        write_all(fw_buf_str(&frame), frame.len);
        fw_buf_free(&frame);
        return;
    }
    /* Each line at its row, cleared first: no newline is ever written, so
     * nothing scrolls, and a line of exactly the width does not wrap. */
    fw_buf_init(&screen);
    size_t row = 1;
    for (const char *p = fw_buf_str(&frame); *p && row <= t->height; row++) {
        const char *nl = strchr(p, '\n');
        fw_buf_printf(&screen, "\033[%zu;1H\033[2K", row);
        fw_buf_add(&screen, p, (size_t)(nl - p));
        p = nl + 1;
    }
    if (row <= t->height)
        fw_buf_printf(&screen, "\033[%zu;1H\033[J", row);
    write_all(fw_buf_str(&screen), screen.len);
    fw_buf_free(&screen);
    fw_buf_free(&frame);
}

static void suspend(struct top *t)
{
    term_leave();
    catch_signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP); /* stopped here until SIGCONT */
    catch_signal(SIGTSTP, on_signal);
    term_enter(t);
    term_size(t);
}

/* Returns the signal that ends it, 0 for a key, -1 to go on. */
static int serve_keys(struct top *t, int64_t *next_fetch)
{
    char keys[64];
    ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return 0; /* the terminal hung up: nobody to show it to */
    for (ssize_t i = 0; i < n; i++) {
        switch (keys[i]) {
        case 'q':
        case 'Q':
        case 3: /* Ctrl-C */
        case 4: return 0;
        case 26: suspend(t); break; /* Ctrl-Z */
        case ' ':
        case 12: *next_fetch = 0; break; /* now */
        }
    }
    return -1;
}

static int serve_signals(struct top *t)
{
    unsigned char sigs[32];
    ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));
    for (ssize_t i = 0; i < n; i++) {
        if (sigs[i] == SIGTSTP)
            suspend(t);
        else if (sigs[i] == SIGCONT)
            term_enter(t); /* stopped by SIGSTOP: the shell took the terminal back */
        else if (sigs[i] != SIGWINCH)
            return sigs[i];
    }
    term_size(t);
    return -1;
}

static void redraw_at(struct top *t, int64_t *last_draw)
{
    draw(t, true);
    *last_draw = now_ms();
}

/* Returns the signal that ended it, or 0. */
static int run(struct top *t)
{
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        catch_signal(handled[i], on_signal);
    atexit(term_leave);
    term_enter(t);
    term_size(t);
    draw(t, true);
    int64_t next_fetch = t->sent_ms + t->delay_ms, last_draw = now_ms();
    int end = -1;
    while (end < 0) {
        int64_t now = now_ms();
        if (t->fd < 0 && now >= next_fetch) {
            next_fetch = now + t->delay_ms;
            if (fetch_start(t) != 0)
                redraw_at(t, &last_draw);
        }
        if (t->fd >= 0 && t->timeout_s && now - t->sent_ms > (int64_t)t->timeout_s * 1000) {
            fetch_abandon(t);
            failed(t, false, "no answer within %d s", t->timeout_s);
            redraw_at(t, &last_draw);
        }
        if (t->fd >= 0 && now - t->sent_ms > SLOW_ANSWER_MS && now - last_draw >= 1000)
            redraw_at(t, &last_draw);
        struct pollfd pf[3] = { { .fd = sig_pipe[0], .events = POLLIN },
                                { .fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN },
                                { .fd = t->fd, .events = POLLIN } };
        int64_t wait = t->fd >= 0 ? 1000 : next_fetch - now;
        if (poll(pf, 3, (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait)) <= 0)
            continue;
        bool redraw = false;
        int status;
        if (pf[0].revents) {
            end = serve_signals(t);
            redraw = true;
        }
        if (end < 0 && pf[1].revents) {
            end = serve_keys(t, &next_fetch);
            redraw = true;
        }
        if (end < 0 && t->fd >= 0 && pf[2].revents && fetch_read(t, &status))
            redraw = true;
        if (end < 0 && redraw)
            redraw_at(t, &last_draw);
    }
    term_leave();
    return end;
}

int fw_ctl_top(const char *path, int argc, char **argv, int timeout_s)
{
    const char *pool;
    struct top t = { .path = path, .timeout_s = timeout_s, .fd = -1 };
    fw_ctl_top_args(argc, argv, &t.delay_ms, &pool);
    char *req_argv[] = { "status", "--json", (char *)pool };
    t.req_len = fw_ctl_request(t.req, sizeof(t.req), pool ? 3 : 2, req_argv);
    bool tty = isatty(STDOUT_FILENO);
    t.keys = tty && isatty(STDIN_FILENO);
    int status = fetch_blocking(&t);
    if (status != 0) {
        if (t.notice_is_answer)
            fputs(t.notice, stderr);
        else
            fprintf(stderr, "fcgiwsgi-ctl: %s\n", t.notice);
    } else if (!tty) {
        draw(&t, false);
    } else if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("fcgiwsgi-ctl: pipe");
        status = FW_CTL_ERROR;
    } else {
        int sig = run(&t);
        if (sig > 0) {
            /* Ended by a signal: terminal restored, so die of it as the
             * shell expects (status 128 + sig). */
            signal(sig, SIG_DFL);
            raise(sig);
        }
    }
    fetch_abandon(&t);
    fw_json_free(t.doc);
    return status;
}
