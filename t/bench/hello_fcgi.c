/* The FastCGI ceiling for t/bench: the smallest libfcgi responder that
 * answers like t/bench/hello.wsgi. Built by t/bench/bench.py with
 * `cc -O2 hello_fcgi.c -lfcgi`; fd 0 is the listening socket. */
#include <fcgiapp.h>

int main(void)
{
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
                  "Hello, world!\n",
                  req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
