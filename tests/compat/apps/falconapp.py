"""The Falcon app of the compatibility suite: a route, a POST body, an error."""

import falcon


class Hello:
    def on_get(self, req, resp, name):
        resp.set_header("X-Framework", "falcon")
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"hello, {name}"


class Echo:
    def on_post(self, req, resp):
        # bounded_stream is bounded by Content-Length alone (a chunked body reads as empty);
        # the server ends req.stream at a chunked body's end (wsgi.input_terminated).
        stream = req.stream if req.content_length is None else req.bounded_stream
        resp.content_type = "application/octet-stream"
        resp.data = stream.read()[::-1]


class Boom:
    def on_get(self, req, resp):
        raise KeyError("falcon boom")


app = falcon.App()
app.add_route("/hello/{name}", Hello())
app.add_route("/echo", Echo())
app.add_route("/boom", Boom())
