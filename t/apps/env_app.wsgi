# t/worker-env.t: what the worker process looks like from inside.
import json
import os
import resource


def application(environ, start_response):
    mask = os.umask(0)
    os.umask(mask)
    body = json.dumps({
        'env': dict(os.environ),
        'cwd': os.getcwd(),
        'umask': mask,
        'core': resource.getrlimit(resource.RLIMIT_CORE)[0],
        'cmdline': open('/proc/self/cmdline', 'rb').read().split(b'\0')[0].decode(),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
