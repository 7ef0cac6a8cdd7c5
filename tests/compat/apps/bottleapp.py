"""The Bottle app of the compatibility suite: a route, a POST body, an error."""

import bottle

app = bottle.Bottle()


@app.get("/hello/<name>")
def hello(name):
    bottle.response.set_header("X-Framework", "bottle")
    return f"hello, {name}"


@app.post("/echo")
def echo():
    body = bottle.request.body.read()
    bottle.response.content_type = "application/octet-stream"
    return body[::-1]


@app.get("/boom")
def boom():
    raise KeyError("bottle boom")
