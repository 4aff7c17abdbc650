# t/bench row 7: a Flask JSON endpoint (Debian's python3-flask).
from flask import Flask, jsonify

app = Flask(__name__)


@app.route('/json')
def hello_json():
    return jsonify(message='Hello, World!', server='bench')


application = app
