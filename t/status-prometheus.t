#!/usr/bin/env python3
# /metrics with the real thing (issue 17): Debian's prometheus scrapes the
# master's status_listen every 0.5 s (it asks for OpenMetrics first), and
# its HTTP API then returns the pool's series with the values we made;
# `promtool check metrics` passes on the Prometheus-text page. Prometheus
# runs on a loopback port of its own, with a temporary configuration and
# storage, and is stopped by its pid. The API is polled until the value
# is there (a scrape every 0.5 s, the slots read at each): never a sleep.
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PROMETHEUS, PROMTOOL = '/usr/bin/prometheus', '/usr/bin/promtool'
if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
    skip_all('Debian\'s prometheus package is not installed (t/deps.sh test)')

port, prom_port = free_port(), free_port()
status = '127.0.0.1:%d' % port
sock = sock_path('p.sock')
cfg = manager_config('''  shop:
    listen: %s
    allow_root: true
    processes: 2
    metrics_buckets: [0.01, 0.1, 1]
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('metrics_app.wsgi')), name='prom.yaml',
    top='status_listen: %s\n' % status)
m = start_fcgiwsgi(cfg, ['shop'])
codes = [fcgi_request(sock, uri='/').status for i in range(7)]
codes += [fcgi_request(sock, uri='/code/404').status for i in range(3)]
is_(codes, [200] * 7 + [404] * 3, '7 requests answered 200, 3 answered 404')

# promtool on the Prometheus text page (its parser reads that format).
page = http_request(status, 'GET', '/metrics', headers={'Accept': 'text/plain'}).body
p = subprocess.run([PROMTOOL, 'check', 'metrics'], input=page, capture_output=True)
is_((p.returncode, (p.stdout + p.stderr).decode()), (0, ''),
    'promtool check metrics: no problem, no lint')

conf = os.path.join(tmpdir(), 'prometheus.yml')
with open(conf, 'w') as f:
    f.write('''global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: fcgiwsgi
    static_configs:
      - targets: ['%s']
''' % status)
data = os.path.join(tmpdir(), 'prom-data')
prom = spawn([PROMETHEUS, '--config.file=' + conf, '--storage.tsdb.path=' + data,
              '--web.listen-address=127.0.0.1:%d' % prom_port, '--log.level=warn'])
api = 'http://127.0.0.1:%d/api/v1/' % prom_port


def query(q):
    url = api + 'query?' + urllib.parse.urlencode({'query': q})
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            res = json.load(r)
    except OSError:
        return None
    if res.get('status') != 'success':
        return None
    return {tuple(sorted(x['metric'].items())): float(x['value'][1])
            for x in res['data']['result']}


def value_of(q):
    """The single value q returns, or None (not scraped yet)."""
    r = query(q)
    return list(r.values())[0] if r and len(r) == 1 else None


wait_for(lambda: value_of('up{job="fcgiwsgi"}') == 1, timeout=60, what='prometheus scraping')
ok(True, 'prometheus scrapes /metrics: up{job="fcgiwsgi"} is 1')
with urllib.request.urlopen(api + 'targets', timeout=5) as r:
    t = json.load(r)['data']['activeTargets'][0]
is_((t['health'], t['lastError']), ('up', ''), '... healthy, no scrape error')

q = 'fcgiwsgi_pool_requests_total{pool="shop",code="2xx"}'
got = wait_for(lambda: value_of(q) == 7 and 7, timeout=30, what=q)
is_(got, 7, 'the API returns requests_total{code="2xx"} 7')
is_(wait_for(lambda: value_of('fcgiwsgi_pool_requests_total{pool="shop",code="4xx"}') == 3,
             timeout=30, what='4xx'), True, '... and {code="4xx"} 3')
is_(value_of('fcgiwsgi_pool_request_duration_seconds_count{pool="shop"}'), 10.0,
    'the histogram count: 10')
is_(value_of('fcgiwsgi_pool_request_duration_seconds_bucket{pool="shop",le="+Inf"}'), 10.0,
    '... its +Inf bucket')
is_(value_of('sum(fcgiwsgi_pool_workers{pool="shop"})'), 2.0, 'workers by state: 2 in all')
is_(value_of('fcgiwsgi_pool_spawns_total{pool="shop"}'), 2.0, 'spawns_total 2')
r = wait_for(lambda: (lambda r: r if r and len(r) == 2 and all(v > 0 for v in r.values())
                      else None)(query('fcgiwsgi_worker_pss_bytes{pool="shop"}')),
             timeout=30, what='PSS of both workers')
ok(r, 'a PSS series per worker, above 0')

# New requests show in the next scrapes.
for i in range(5):
    fcgi_request(sock, uri='/code/503')
is_(wait_for(lambda: value_of('fcgiwsgi_pool_requests_total{pool="shop",code="5xx"}') == 5,
             timeout=30, what='5xx'), True, 'five 503s later: {code="5xx"} 5')

prom.signal(signal.SIGTERM)
prom.wait(30)
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
