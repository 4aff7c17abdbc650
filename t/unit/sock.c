/* lib/sock: address parsing, listeners, stale and live unix sockets. */
#include "config.h"

#include "lib/sock.h"
#include "tap.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(void)
{
    struct fw_sock_addr a;
    char err[256];

    ok(fw_sock_parse("127.0.0.1:9000", &a, err, sizeof(err)) == 0 && a.family == AF_INET,
       "IPv4 HOST:PORT");
    is_str(a.text, "127.0.0.1:9000", "IPv4 text");
    ok(fw_sock_parse("[::1]:9001", &a, err, sizeof(err)) == 0 && a.family == AF_INET6, "IPv6");
    is_str(a.text, "[::1]:9001", "IPv6 text");
    ok(fw_sock_parse(":9002", &a, err, sizeof(err)) == 0 && a.family == AF_INET, "any address");
    ok(fw_sock_parse("/tmp/x.sock", &a, err, sizeof(err)) == 0 && a.family == AF_UNIX, "unix path");
    ok(fw_sock_parse("unix:/tmp/y.sock", &a, err, sizeof(err)) == 0 && a.family == AF_UNIX,
       "unix: prefix");
    is_str(a.text, "unix:/tmp/y.sock", "unix text");
    ok(fw_sock_parse("127.0.0.1:0", &a, err, sizeof(err)) < 0, "port 0 refused");
    ok(strstr(err, "port") != NULL, "error names the port");
    ok(fw_sock_parse("127.0.0.1:70000", &a, err, sizeof(err)) < 0, "port too big refused");
    ok(fw_sock_parse("localhost", &a, err, sizeof(err)) < 0, "no port refused");
    ok(fw_sock_parse("::1:80", &a, err, sizeof(err)) < 0, "bare IPv6 refused");
    ok(strstr(err, "[ADDR]") != NULL, "error says how to write IPv6");
    char longpath[200];
    memset(longpath, 'x', sizeof(longpath));
    longpath[0] = '/';
    longpath[199] = '\0';
    ok(fw_sock_parse(longpath, &a, err, sizeof(err)) < 0, "too long unix path refused");

    char dir[] = "/tmp/fwsockXXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char path[128];
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    ok(fw_sock_parse(path, &a, err, sizeof(err)) == 0, "parse temp path");
    int fd = fw_sock_listen(&a, 16, 0660, err, sizeof(err));
    ok(fd >= 0, "listen on unix path");
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660, "mode applied");
    is(fw_sock_is_listener(fd), 1, "is a listener");
    int fd2 = fw_sock_listen(&a, 16, -1, err, sizeof(err));
    ok(fd2 < 0, "a live socket is not stolen");
    ok(strstr(err, "in use") != NULL, "error says it is in use");
    close(fd);
    fd2 = fw_sock_listen(&a, 16, -1, err, sizeof(err));
    ok(fd2 >= 0, "a stale socket file is replaced");
    close(fd2);
    unlink(path);

    snprintf(path, sizeof(path), "%s/plain", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    fw_sock_parse(path, &a, err, sizeof(err));
    ok(fw_sock_listen(&a, 16, -1, err, sizeof(err)) < 0, "a regular file is never replaced");
    ok(strstr(err, "not a socket") != NULL, "error says why");
    unlink(path);
    rmdir(dir);

    is(fw_sock_is_listener(0) == 1, 0, "stdin of the test is not a listener");
    is(fw_sock_is_listener(1000), -1, "closed fd");

    ok(fw_sock_parse("127.0.0.1:1", &a, err, sizeof(err)) == 0, "parse loopback");
    return done_testing();
}
