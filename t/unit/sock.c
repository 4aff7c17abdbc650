/* lib/sock: address parsing, listeners, stale and live unix sockets. */
#include "config.h"

#include "lib/sock.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    int fd = fw_sock_listen(&a, 16, 0660, NULL, err, sizeof(err));
    ok(fd >= 0, "listen on unix path");
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660, "mode applied");
    is(fw_sock_is_listener(fd), 1, "is a listener");
    int fd2 = fw_sock_listen(&a, 16, -1, NULL, err, sizeof(err));
    ok(fd2 < 0, "a live socket is not stolen");
    ok(strstr(err, "in use") != NULL, "error says it is in use");
    is(errno, EADDRINUSE, "EADDRINUSE");
    is(fw_sock_unix_owner(path), getpid(), "the listener's pid, from SO_PEERCRED");
    char want[64];
    snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
    ok(strstr(err, want) != NULL, "the error names it");
    close(fd);
    is(fw_sock_unix_owner(path), 0, "no listener: no pid");
    fd2 = fw_sock_listen(&a, 16, -1, NULL, err, sizeof(err));
    ok(fd2 >= 0, "a stale socket file is replaced");
    close(fd2);
    unlink(path);

    snprintf(path, sizeof(path), "%s/plain", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    fw_sock_parse(path, &a, err, sizeof(err));
    ok(fw_sock_listen(&a, 16, -1, NULL, err, sizeof(err)) < 0, "a regular file is never replaced");
    ok(strstr(err, "not a socket") != NULL, "error says why");
    unlink(path);

    /* Mode and owner change on the bound inode only. */
    snprintf(path, sizeof(path), "%s/p.sock", dir);
    char target[160], other[160];
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(other, sizeof(other), "%s/other.sock", dir);
    fw_sock_parse(path, &a, err, sizeof(err));
    struct fw_sock_file bound;
    fd = fw_sock_listen(&a, 16, 0600, &bound, err, sizeof(err));
    ok(fd >= 0, "listen records the bound file");
    ok(stat(path, &st) == 0 && st.st_ino == bound.ino && st.st_dev == bound.dev,
       "the recorded identity is the socket file's");
    ok(fw_sock_set_perms(path, &bound, 0640, (uid_t)-1, getgid(), err, sizeof(err)) == 0,
       "set_perms on the bound socket");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "its mode changed");
    f = fopen(target, "w");
    fclose(f);
    chmod(target, 0600);
    ok(symlink(target, other) == 0 && rename(other, path) == 0, "a symlink renamed over it");
    ok(fw_sock_set_perms(path, &bound, 0666, (uid_t)-1, (gid_t)-1, err, sizeof(err)) < 0,
       "set_perms refuses a symlink in the socket's place");
    ok(strstr(err, "symlink") != NULL, "and says it is a symlink");
    ok(stat(target, &st) == 0 && (st.st_mode & 0777) == 0600, "the target keeps its mode");
    unlink(path);
    struct fw_sock_addr b;
    fw_sock_parse(other, &b, err, sizeof(err));
    int fd3 = fw_sock_listen(&b, 16, -1, NULL, err, sizeof(err));
    ok(fd3 >= 0 && rename(other, path) == 0, "another socket renamed over it");
    ok(fw_sock_set_perms(path, &bound, 0666, (uid_t)-1, (gid_t)-1, err, sizeof(err)) < 0,
       "set_perms refuses another socket");
    ok(strstr(err, "not the socket") != NULL, "and says so");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) != 0666, "that socket's mode is unchanged");
    close(fd);
    close(fd3);
    unlink(path);
    unlink(target);

    /* A directory anyone may write is refused, unless it is sticky. */
    char open_dir[64];
    snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
    snprintf(path, sizeof(path), "%s/s.sock", open_dir);
    mkdir(open_dir, 0700);
    chmod(open_dir, 0777);
    ok(fw_sock_check_dir(path, err, sizeof(err)) < 0, "a world-writable directory is refused");
    ok(strstr(err, open_dir) && strstr(err, "sticky"), "the error names it and the sticky bit");
    fw_sock_parse(path, &a, err, sizeof(err));
    ok(fw_sock_listen(&a, 16, -1, NULL, err, sizeof(err)) < 0, "listen refuses it too");
    ok(access(path, F_OK) < 0, "and binds nothing there");
    chmod(open_dir, 01777);
    ok(fw_sock_check_dir(path, err, sizeof(err)) == 0, "with the sticky bit it is accepted");
    snprintf(path, sizeof(path), "%s/sub/s.sock", open_dir);
    mkdir(path, 0700); /* open/sub/s.sock as a directory: check its parents */
    snprintf(path, sizeof(path), "%s/sub/s.sock/x.sock", open_dir);
    chmod(open_dir, 0777);
    ok(fw_sock_check_dir(path, err, sizeof(err)) < 0, "so is one above the socket's directory");
    chmod(open_dir, 0700);
    snprintf(path, sizeof(path), "%s/missing/x.sock", dir);
    ok(fw_sock_check_dir(path, err, sizeof(err)) < 0 && errno == ENOENT,
       "a missing directory: ENOENT");
    snprintf(path, sizeof(path), "%s/sub/s.sock", open_dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/sub", open_dir);
    rmdir(path);
    rmdir(open_dir);
    rmdir(dir);

    is(fw_sock_is_listener(0) == 1, 0, "stdin of the test is not a listener");
    is(fw_sock_is_listener(1000), -1, "closed fd");

    ok(fw_sock_parse("127.0.0.1:1", &a, err, sizeof(err)) == 0, "parse loopback");
    return done_testing();
}
