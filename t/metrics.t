#!/usr/bin/env python3
# The series of /metrics (issue 17) are exact: after a known number of
# requests of known statuses and durations the counters and the histogram
# say exactly that, with concurrent clients too; a killed worker's counts
# stay in its pool's totals; exits are counted by cause; every recycle is
# recorded (cause, generations, outcome, failed and cut requests); and a
# worker that lies in its slot can neither run its pool's counters up nor
# make them go back. Counters move when a worker finishes a request, a
# moment after the client has its answer: every check waits for its value.
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

status = '127.0.0.1:%d' % free_port()
sock, mr_sock, one_sock = sock_path('m.sock'), sock_path('mr.sock'), sock_path('one.sock')
mr5_sock = sock_path('mr5.sock')
script = os.path.join(tmpdir(), 'app.wsgi')
with open(app_path('metrics_app.wsgi')) as f, open(script, 'w') as g:
    g.write(f.read())
cfg = manager_config('''  m:
    listen: %s
    allow_root: true
    processes: 2
    threads: 2
    metrics_buckets: [0.05, 0.5, 5]
    apps:
      - {mount: /, script: %s}
  mr:
    listen: %s
    allow_root: true
    processes: 1
    max_requests: 3
    apps:
      - {mount: /, script: %s}
  one:
    listen: %s
    allow_root: true
    processes: 1
    apps:
      - {mount: /, script: %s}
  mr5:
    listen: %s
    allow_root: true
    processes: 1
    max_requests: 5
    apps:
      - {mount: /, script: %s}
''' % (sock, script, mr_sock, app_path('metrics_app.wsgi'), one_sock,
       app_path('metrics_app.wsgi'), mr5_sock, app_path('metrics_app.wsgi')), name='mx.yaml',
    top='status_listen: %s\n' % status)
m = start_fcgiwsgi(cfg, ['m', 'mr', 'one', 'mr5'])

SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def scrape():
    r = http_request(status, 'GET', '/metrics', headers={'Accept': 'text/plain'})
    out = {}
    for line in r.body.decode().splitlines():
        mt = SAMPLE.match(line)
        if mt:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', mt.group(2))))
            out[(mt.group(1), labels)] = float(mt.group(3))
    return out


def val(name, pool='m', **labels):
    key = (name, tuple(sorted([('pool', pool)] + list(labels.items()))))
    return scrape().get(key)


def settles(name, want, pool='m', timeout=10, **labels):
    """True once the series reads want (polled: counters move just after
    the answer); else the last value read, for the report."""
    deadline = time.monotonic() + timeout
    while True:
        got = val(name, pool, **labels)
        if got == want or time.monotonic() > deadline:
            return got == want or got
        time.sleep(0.05)


def req(uri, addr=sock):
    return fcgi_request(addr, uri=uri).status


# Known requests: 6 x 200, 3 x 404, 2 x 503, 1 x 302, 2 sleeping 0.2 s.
for uri, n in (('/', 6), ('/code/404', 3), ('/code/503', 2), ('/code/302', 1)):
    for i in range(n):
        req(uri)
t = [threading.Thread(target=req, args=('/sleep/0.2',)) for i in range(2)]
[x.start() for x in t]
[x.join() for x in t]
R = 'fcgiwsgi_pool_requests_total'
is_(settles(R, 8, code='2xx'), True, '2xx: 8 (6 plain, 2 sleeping)')
is_(settles(R, 3, code='4xx'), True, '4xx: 3')
is_(settles(R, 2, code='5xx'), True, '5xx: 2')
is_(settles(R, 1, code='3xx'), True, '3xx: 1')
is_(val(R, code='1xx'), 0.0, '1xx: 0')
H = 'fcgiwsgi_pool_request_duration_seconds'
s = scrape()
b = {le: s.get((H + '_bucket', (('le', le), ('pool', 'm')))) for le in ('0.05', '0.5', '5', '+Inf')}
is_(b, {'0.05': 12.0, '0.5': 14.0, '5': 14.0, '+Inf': 14.0},
    'the histogram: 12 quick ones under 0.05 s, the 2 sleeps under 0.5 s (cumulative)')
is_(s.get((H + '_count', (('pool', 'm'),))), 14.0, '_count: 14')
total = s.get((H + '_sum', (('pool', 'm'),)))
ok(total is not None and 0.4 <= total < 1.0, '_sum: the 2 sleeps and a little (%s s)' % total)
busy = s.get(('fcgiwsgi_pool_busy_seconds_total', (('pool', 'm'),)))
ok(busy is not None and busy >= total, 'busy time at least the app time (%s s)' % busy)

# Concurrent clients: 4 threads x 50 requests, exact.
errors = []


def hammer():
    for i in range(50):
        try:
            if req('/') != 200:
                errors.append('status')
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))


t = [threading.Thread(target=hammer) for i in range(4)]
[x.start() for x in t]
[x.join() for x in t]
is_(errors, [], '200 concurrent requests answered')
is_(settles(R, 208, code='2xx'), True, '2xx: exactly 208 after them')
is_(settles(H + '_count', 214), True, 'histogram count: 214')

# A killed worker's counts stay.
pids = [w['pid'] for w in json.loads(ctl(cfg, 'status', '--json', 'm')[1])['pools'][0]['workers']]
before = {k: v for k, v in scrape().items() if k[0] == R and ('pool', 'm') in k[1]}
os.kill(pids[0], signal.SIGKILL)
is_(settles('fcgiwsgi_pool_exits_total', 1, cause='signal'), True,
    'SIGKILL of a worker: exits{cause="signal"} 1')
is_(settles('fcgiwsgi_pool_spawns_total', 3), True, '... spawns 3 (its replacement)')
after = {k: v for k, v in scrape().items() if k[0] == R and ('pool', 'm') in k[1]}
is_(after, before, '... and requests by class are what they were: its counts were kept')
for i in range(5):
    req('/code/404')
is_(settles(R, 8, code='4xx'), True, 'and they go on from there (4xx 3 + 5)')

# max_requests: the worker's exit is counted by its cause.
for i in range(3):
    req('/', mr_sock)
is_(settles('fcgiwsgi_pool_exits_total', 1, pool='mr', cause='max_requests'), True,
    'max_requests 3: exits{cause="max_requests"} 1 after 3 requests')

# A worker replaced after max_requests is a recycle too, recorded with its
# cause: one process, max_requests 5, 20 requests in 4 rounds of 5. The
# retiring worker serves until its replacement is ready, so each round
# waits for that, or one worker would serve all 20.


def mr5_json():
    r = http_request(status, 'GET', '/status?json')
    return [p for p in json.loads(r.body)['pools'] if p['name'] == 'mr5'][0]


def mr5_ended():
    return len([r for r in mr5_json()['recycles_kept'] if r['outcome'] != 'running'])


codes = []
for round_ in range(4):
    codes += [req('/', mr5_sock) for i in range(5)]
    try:
        wait_for(lambda: mr5_ended() == round_ + 1, timeout=20,
                 what='replacement %d recorded' % (round_ + 1))
    except TimeoutError as e:
        diag('%s: %s' % (e, json.dumps(mr5_json()['recycles_kept'])))
        break
is_(codes, [200] * 20, 'max_requests 5: 20 requests answered 200')
rec = mr5_json()['recycles_kept']
is_(len(rec), 4, '/status?json: a record per replacement, 4 for 20 requests')
is_(sorted({(r['cause'], r['outcome'], r['replaced'], r['failed_requests'], r['cut_requests'])
            for r in rec}), [('max_requests', 'ok', 1, 0, 0)],
    '... each: cause max_requests, ok, 1 worker replaced, 0 failed, 0 cut') or diag(rec)
ok(all(r['old_generation'] == r['new_generation'] for r in rec),
   '... within one generation') or diag(rec)
ok(all(r['ended'] >= r['started'] and r['duration_ms'] >= 0 for r in rec), '... start, end')
like(rec[0]['why'], r'pid \d+ .*max_requests', '... why names the worker') or diag(rec[0])
is_(settles('fcgiwsgi_pool_recycles_total', len(rec), pool='mr5', cause='max_requests',
            outcome='ok'), True, 'metrics: recycles_total{cause="max_requests",outcome="ok"}')
is_(val('fcgiwsgi_pool_recycle_failed_requests_total', pool='mr5'), 0.0,
    'metrics: recycle_failed_requests_total 0')
ok(val('fcgiwsgi_pool_recycles_total', pool='mr5', cause='memory_limit', outcome='ok') == 0.0,
   'metrics: a memory_limit series, at 0')
r = http_request(status, 'GET', '/status')
like(r.body.decode(), r'max_requests ok, generation (\d+) -> \1, .* 1 replaced, 0 failed, 0 cut: '
     r'worker pid \d+', 'status text lists them')

# Recycles: restart and a watched file, each recorded.
rc, out, err = ctl(cfg, 'restart', 'm')
is_(rc, 0, 'restart m') or diag(out + err)


def pool_json():
    return json.loads(ctl(cfg, 'status', '--json', 'm')[1])['pools'][0]


# A new version that takes 1.5 s to import: the old generation serves
# meanwhile, and a 500 it answers then counts against that recycle.
with open(script) as f:
    code = f.read()
with open(script + '.new', 'w') as f:
    f.write('import time\ntime.sleep(1.5)\n' + code)
os.rename(script + '.new', script)
wait_for(lambda: pool_json()['recycling'], timeout=10, what='the watched recycle running')
is_(req('/code/500'), 500, 'a 500 while it runs')
wait_for(lambda: [r['outcome'] for r in pool_json()['recycles_kept']] == ['ok', 'ok'],
         timeout=30, what='two recycles ended')
p = pool_json()
rec = p['recycles_kept']
is_([(r['seq'], r['cause'], r['outcome'], r['old_generation'], r['new_generation'])
     for r in rec], [(1, 'restart', 'ok', 0, 1), (2, 'watch', 'ok', 1, 2)],
    'recycles_kept: the restart (generation 0 -> 1), then the watched file (1 -> 2)')
like(rec[1]['why'], re.escape(script), '... the watched file named')
is_([(r['failed_requests'], r['cut_requests']) for r in rec], [(0, 0), (1, 0)],
    '... failed requests: the 500 made during the second, none cut')
ok(rec[1]['duration_ms'] >= 1400, '... which took the import time (%d ms)' % rec[1]['duration_ms'])
ok(all(r['duration_ms'] >= 0 and r['ended'] >= r['started'] for r in rec), '... start, end')
is_((p['last_recycle']['seq'], p['last_recycle']['old_generation'],
     p['last_recycle']['new_generation']), (2, 1, 2), 'last_recycle carries the generations')
rc, text, err = ctl(cfg, 'status', 'm')
like(text, r'#2 watch ok, generation 1 -> 2, .* 0 cut: a watched file changed: ' +
     re.escape(script), 'status text lists the recycles')
is_(settles('fcgiwsgi_pool_recycles_total', 1, cause='watch', outcome='ok'), True,
    'metrics: recycles_total{cause="watch",outcome="ok"} 1')
is_(settles('fcgiwsgi_pool_recycle_failed_requests_total', 1), True,
    'metrics: recycle_failed_requests_total 1')
is_(settles('fcgiwsgi_pool_exits_total', 4, cause='recycle'), True,
    'exits{cause="recycle"}: 2 workers x 2 recycles')
gen = val('fcgiwsgi_pool_generation_start_timestamp_seconds')
ok(gen and abs(gen - time.time()) < 60, 'generation_start_timestamp: just now')

# A lying worker: 2xx pushed to 2^62, 4xx back to 0; the pool's figures
# neither jump nor fall.
base = {c: val(R, code=c) for c in ('2xx', '4xx')}
req('/lie')
for i in range(4):
    req('/code/404')
time.sleep(0.3)
got = {c: val(R, code=c) for c in ('2xx', '4xx')}
ok(got['2xx'] < base['2xx'] + 10, 'a worker claiming 2^62 answers: 2xx stays near %s (%s)'
   % (base['2xx'], got['2xx']))
ok(got['4xx'] >= base['4xx'], 'a worker zeroing its 4xx: the pool total does not go back '
   '(%s, was %s)' % (got['4xx'], base['4xx']))

# One process, one thread, three requests of 0.6 s at once: two wait in
# the listen queue, and the pool is at its most processes meanwhile.
t = [threading.Thread(target=req, args=('/sleep/0.6', one_sock)) for i in range(3)]
[x.start() for x in t]
[x.join() for x in t]
peak = val('fcgiwsgi_pool_listen_queue_peak', pool='one')
ok(peak is not None and peak >= 1, 'listen_queue_peak: the connections that waited (%s)' % peak)
got = val('fcgiwsgi_pool_max_processes_reached_total', pool='one')
ok(got is not None and got >= 1, 'max_processes_reached_total counted it (%s)' % got)
like(m.output(), r'\[pool one\] reached its most processes \(1, each with 1 thread busy\) with '
     r'\d connections? waiting', '... and warned in the log, as php-fpm does')
is_(val('fcgiwsgi_pool_listen_queue', pool='one'), 0.0, 'the queue is empty afterwards')

# RSS and PSS come from the kernel, per worker, read on the tick once
# someone looks.
wait_for(lambda: len([v for k, v in scrape().items() if k[0] == 'fcgiwsgi_worker_pss_bytes'
                      and ('pool', 'm') in k[1] and v > 0]) == 2, timeout=20, what='PSS read')
s = scrape()
rss = [v for k, v in s.items() if k[0] == 'fcgiwsgi_worker_rss_bytes' and ('pool', 'm') in k[1]]
pss = [v for k, v in s.items() if k[0] == 'fcgiwsgi_worker_pss_bytes' and ('pool', 'm') in k[1]]
ok(len(rss) == 2 and all(v > 1 << 20 for v in rss), 'RSS of each worker (%s)' % rss)
ok(len(pss) == 2 and all(0 < v <= max(rss) for v in pss), 'PSS of each worker (%s)' % pss)
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
