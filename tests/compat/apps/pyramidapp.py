"""The Pyramid app of the compatibility suite: a route, a POST body, an error (which Pyramid
lets through to the server: no exception view is registered for it)."""

from pyramid.config import Configurator
from pyramid.response import Response


def hello(request):
    response = Response(f"hello, {request.matchdict['name']}", content_type="text/plain")
    response.headers["X-Framework"] = "pyramid"
    return response


def echo(request):
    return Response(request.body[::-1], content_type="application/octet-stream")


def boom(request):
    raise KeyError("pyramid boom")


with Configurator() as config:
    config.add_route("hello", "/hello/{name}")
    config.add_view(hello, route_name="hello", request_method="GET")
    config.add_route("echo", "/echo")
    config.add_view(echo, route_name="echo", request_method="POST")
    config.add_route("boom", "/boom")
    config.add_view(boom, route_name="boom")
    app = config.make_wsgi_app()
