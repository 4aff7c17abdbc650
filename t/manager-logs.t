#!/usr/bin/env python3
# Logs under the manager: a log file is reopened on SIGUSR1 (logrotate's
# move-then-signal), by the master and by running workers, whose own lines
# (app print()) then go to the new file.
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
log = os.path.join(d, 'fcgiwsgi.log')
sock = sock_path('logs.sock')
cfg = manager_config('''  logs:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('mgr_app.wsgi')), name='logs.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 2,
         timeout=30, what='workers ready')


def get(uri):
    return fcgi_request(sock, 'GET', uri, params=PARAMS)


is_(get('/print?before').status, 200, 'served before rotation')
wait_log(log, r'printed-by-the-app before')
ok(True, "an app's print() reaches the log file")

os.rename(log, log + '.1')
m.signal(signal.SIGUSR1)
wait_for(lambda: os.path.exists(log), timeout=10, what='a new log file')
# Each worker gets the new file over its channel and says so there; the
# requests below must find both switched (one was not yet, under load in
# CI, and printed to the rotated file).
wait_for(lambda: open(log).read().count('] log reopened') >= 2, timeout=10,
         what='both workers on the new log')
for i in range(6):
    is_(get('/print?after%d' % i).status, 200, 'served after rotation (%d)' % i)
wait_log(log, r'printed-by-the-app after5')
new = open(log).read()
old = open(log + '.1').read()
ok('printed-by-the-app after' in new and 'printed-by-the-app after' not in old,
   "workers' lines go to the new file after SIGUSR1, none to the rotated one")
is_(new.count('] log reopened'), 2, 'each of the 2 workers switched to the new file')
m.signal(signal.SIGTERM)
is_(m.wait(20), 0, 'stops with 0')
check_log_clean(log)
done_testing()
