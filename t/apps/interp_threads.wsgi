# t/interpreters.t: an app that leaves threads behind. /start starts a
# non-daemon thread that ends soon and a daemon thread that never ends;
# /quick only the first. The responder must still stop on SIGTERM.
import threading
import time

started = {'n': 0}


def quick():
    time.sleep(0.5)
    print('quick-thread-done')  # to the log: shows the thread was joined


def forever():
    while True:
        time.sleep(0.05)


def application(environ, start_response):
    if environ.get('PATH_INFO') == '/quick':
        threading.Thread(target=quick, name='quick-non-daemon', daemon=False).start()
    if environ.get('PATH_INFO') == '/start':
        # daemon=False explicitly: a thread started from a request thread
        # (a threading._DummyThread, daemon) would otherwise be a daemon too
        threading.Thread(target=quick, name='quick-non-daemon', daemon=False).start()
        threading.Thread(target=forever, name='forever-daemon', daemon=True).start()
        started['n'] += 1
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'threads: %d' % threading.active_count()]
