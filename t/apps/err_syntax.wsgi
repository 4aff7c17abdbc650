# Deliberately broken (t/errors.t): the script does not compile.
def application(environ, start_response)
    start_response('200 OK', [])
    return [b'unreachable']
