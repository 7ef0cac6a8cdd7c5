"""The Flask app of the compatibility suite (tests/compat/test_flask.py), served by the real
command: ``simplewsgi serve flaskapp:app --app-dir tests/compat/apps``."""

from __future__ import annotations

import hashlib
import os
import threading

from flask import (
    Flask,
    Response,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)

app = Flask(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 10.0  # how long /stream waits for /release before it says so in the body
released = threading.Event()


@app.route("/")
def index() -> str:
    return "flask says hello"


@app.route("/héllo/<name>")
def hello(name: str) -> Response:
    query = request.query_string.decode()
    return jsonify(path=request.path, name=name, q=request.args.get("q"), raw=query)


@app.route("/form", methods=["GET", "POST"])
def form() -> Response | str:
    if request.method == "POST":
        name = request.form.get("name", "")
        return redirect(url_for("greet", name=name), code=303)
    return render_template("form.html")


@app.route("/greet")
def greet() -> str:
    return render_template("greet.html", name=request.args.get("name", ""))


@app.route("/upload", methods=["POST"])
def upload() -> Response:
    sent = request.files["file"]
    data = sent.read()
    return jsonify(
        filename=sent.filename,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        field=request.form.get("note"),
    )


@app.route("/json", methods=["POST"])
def json_echo() -> Response:
    payload = request.get_json()
    return jsonify(received=payload, count=len(payload["items"]), total=sum(payload["items"]))


@app.route("/cookies")
def cookies() -> Response:
    response = make_response(jsonify(seen=dict(request.cookies)))
    response.set_cookie("first", "one", httponly=True)
    response.set_cookie("second", "two, with a comma", path="/cookies")
    return response


@app.route("/old")
def old() -> Response:
    return redirect(url_for("hello", name="wörld", q="moved"))


@app.route("/stream")
def stream() -> Response:
    released.clear()

    def generate():  # type: ignore[no-untyped-def]
        yield f"first block for {request.args['who']}\n"
        if not released.wait(WAIT):
            yield "not released\n"
        yield f"last block for {request.args['who']}\n"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/release")
def release() -> str:
    released.set()
    return "released"


@app.route("/file")
def file() -> Response:
    return send_file(os.environ["COMPAT_FILE"], mimetype="application/octet-stream")


@app.route("/chunked", methods=["POST"])
def chunked() -> Response:
    digest, size = hashlib.sha256(), 0
    while True:
        block = request.stream.read(65536)
        if not block:
            break
        digest.update(block)
        size += len(block)
    return jsonify(size=size, sha256=digest.hexdigest(), length=request.content_length)


@app.route("/ignore", methods=["POST"])
def ignore() -> str:
    return "body not read"


@app.route("/boom")
def boom() -> str:
    raise ZeroDivisionError("compat boom")
