"""The routes of interp_a.wsgi and interp_b.wsgi (t/interpreters.t)."""
import json
import sys
import threading

import interp_shared

_local = threading.local()


def in_main_interpreter():
    """True/False, or None if this Python cannot tell."""
    for name in ('_xxsubinterpreters', '_interpreters', '_xxinterpreters'):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        try:
            cur, main = mod.get_current(), mod.get_main()
        except Exception:
            continue
        # 3.13+ returns (id, whence) tuples; 3.11/3.12 InterpreterID objects
        cur = cur[0] if isinstance(cur, tuple) else cur
        main = main[0] if isinstance(main, tuple) else main
        return int(cur) == int(main)
    return None


def make_app(script):
    def application(environ, start_response):
        path = environ.get('PATH_INFO', '')
        qs = environ.get('QUERY_STRING', '')
        if path == '/set':
            interp_shared.VALUE = qs
            out = {'set': qs}
        elif path == '/get':
            out = {'value': interp_shared.VALUE}
        elif path == '/modules':
            # every loaded WSGI script module this interpreter knows
            out = {'scripts': sorted(
                getattr(m, '__file__', None) for m in list(sys.modules.values())
                if str(getattr(m, '__file__', None) or '').endswith('.wsgi'))}
        elif path == '/main':
            out = {'main': in_main_interpreter(), 'group': environ.get('fcgiwsgi.application_group')}
        elif path == '/tl-set':
            _local.value = qs
            out = {'set': qs, 'thread': threading.get_ident()}
        elif path == '/tl-get':
            out = {'value': getattr(_local, 'value', None), 'thread': threading.get_ident()}
        else:
            start_response('404 Not Found', [('Content-Type', 'text/plain')])
            return [b'no such route']
        out['script'] = script
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(out).encode()]
    return application
