"""The server core: the ``wsgiref.simple_server`` drop-in and everything HTTP.

Standard library only, and nothing outside this package is imported here (import-linter and
tests/test_layers.py check both): the core must stay cheap to import and usable on its own.
Modules, bottom-up:

- :mod:`.limits`: every limit and deadline, with why it has its value;
- :mod:`.net`: wildcard hosts, the dual-stack rule, how an address is written;
- :mod:`.text`: text rendered once a second (Date, log timestamps) and log escaping;
- :mod:`.errors`: every exception the core raises or catches by name;
- :mod:`.parsing`: request line, header fields, framing, with the limits as named constants;
- :mod:`.headers`: the request's header fields as ``handler.headers``;
- :mod:`.connection`: a connection's input, under the deadlines that bound a client;
- :mod:`.body`: ``wsgi.input`` readers and ``wsgi.file_wrapper``;
- :mod:`.response`: ``start_response``, ``write`` and response framing;
- :mod:`.handler`: one connection, many requests;
- :mod:`.pool`: reused threads, each serving one connection at a time, started off the
  accept loop;
- :mod:`.tracking`: where each connection is (waiting, in flight), and recurring troubles;
- :mod:`.server`: ``WSGIServer`` and its stop policy, ``make_server``, ``demo_app``.
"""
