# Floods its inherited stdout and stderr (the pipe to the master) without
# pause once asked (GET /flood), as a chatty C extension or a subprocess
# would: `yes` on stdout, and a thread writing lines and 1 MiB chunks with
# no newline on stderr. Every other request answers its pid.
import os
import subprocess
import threading

_started = []


def _spew():
    chunk = b'x' * (1 << 20)
    lines = (b'flood-line ' + b'y' * 200 + b'\n') * 100
    while True:
        try:
            os.write(2, chunk)
            os.write(2, lines)
        except OSError:
            return


def application(environ, start_response):
    if environ['PATH_INFO'] == '/flood' and not _started:
        _started.append(subprocess.Popen(['yes', 'yes-flood'], stdin=subprocess.DEVNULL))
        threading.Thread(target=_spew, daemon=True).start()
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
