# t/web-peers.t: a small Flask app (Debian's python3-flask), driven over
# real HTTP through nginx: a session counter, a login form that redirects,
# a file upload, two cookies, external URLs, a file download
# (wsgi.file_wrapper, ranges, conditional requests), a 404 and a 500 page.
import hashlib
import os

from flask import (Flask, abort, redirect, render_template_string, request, send_file, session,
                   url_for)

app = Flask(__name__)
app.secret_key = 'fwtest-not-secret'

PAGE = '''<!doctype html><title>{{ title }}</title><h1>{{ title }}</h1>
<p id="msg">{{ msg }}</p><p id="root">{{ request.script_root }}</p>
<form method="post" action="{{ url_for('login') }}"><input name="user"><button>go</button></form>'''


@app.route('/')
def index():
    session['visits'] = session.get('visits', 0) + 1
    return render_template_string(PAGE, title='index', msg='visits=%d' % session['visits'])


@app.route('/login', methods=['POST'])
def login():
    user = request.form.get('user', '')
    if not user:
        abort(400)
    session['user'] = user
    return redirect(url_for('me'))


@app.route('/me')
def me():
    if 'user' not in session:
        return redirect(url_for('index'))
    return render_template_string(PAGE, title='me', msg='user=%s' % session['user'])


@app.route('/upload', methods=['POST'])
def upload():
    f = request.files['file']
    data = f.read()
    return {'name': f.filename, 'size': len(data), 'sha1': hashlib.sha1(data).hexdigest(),
            'field': request.form.get('note')}


@app.route('/cookies')
def cookies():
    resp = app.make_response('two cookies')
    resp.set_cookie('first', '1')
    resp.set_cookie('second', '2', httponly=True)
    return resp


@app.route('/ext')
def ext():
    return {'me': url_for('me', _external=True), 'secure': request.is_secure,
            'root': request.root_url}


@app.route('/file')
def file():
    # The pool's env names a file the test wrote.
    return send_file(os.environ['FW_PEER_FILE'], conditional=True)


@app.route('/boom')
def boom():
    return 1 // 0


application = app
