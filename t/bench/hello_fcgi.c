/* The FastCGI ceiling for t/bench: the smallest libfcgi responder that
 * answers like t/bench/hello.wsgi. Built by t/bench/bench.py with
 * `cc -O2 hello_fcgi.c -lfcgi`; fd 0 is the listening socket. */
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>

/* libfcgi's own SIGTERM handler only stops after the next accept; the
 * callgrind measurement needs a prompt, normal exit. */
static void on_term(int sig)
{
    (void)sig;
    exit(0);
}

int main(void)
{
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    signal(SIGTERM, on_term);
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
                  "Hello, world!\n",
                  req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
