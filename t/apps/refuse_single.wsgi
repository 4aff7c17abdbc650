# Imports a single-phase-init module (t/ext/fw_singlephase.c) in an
# interpreter that checks extensions: CPython 3.12+ then refuses it with its
# own ImportError. Sub-interpreters made by Py_NewInterpreter do not check;
# own-GIL ones do, and _imp's override turns the check on here (3.12+; the
# main interpreter may not use it, and never refuses).
import _imp

try:
    _imp._override_multi_interp_extensions_check(1)
except (AttributeError, RuntimeError):
    pass
import fw_singlephase


def application(environ, start_response):
    body = ('%s %s' % (environ['fcgiwsgi.application_group'], fw_singlephase.__name__)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
