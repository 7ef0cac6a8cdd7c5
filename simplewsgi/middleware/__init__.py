"""WSGI layers the command puts in front of the app: the live refresh, the debug page, proxy
headers, root path, static files, the lint checker.

One function, :func:`simplewsgi.middleware.stack.wrap`, chooses them from ``ServeOptions``;
``run.build_server`` calls it, so plain serving and every reloader worker serve the same stack.
The order, outermost first, and why:

0. ``live`` (``--live``, reloader workers only) and ``debug`` (``--debug``): ``live`` sees every
   HTML page the layers below make, the debug page's too; ``debug`` sees the socket's peer
   before a proxy layer rewrites ``REMOTE_ADDR``.
1. ``proxy`` (``--proxy-headers``): who the client is and what URL it asked for come first, so
   every layer below, the access log and the app see the client's address, scheme, host and
   the prefix a proxy stripped.
2. ``rootpath`` (``--root-path``): the mount point is appended to ``SCRIPT_NAME`` after a
   proxy's prefix (an outer prefix, then our own mount, as WSGI dispatchers compose).
3. ``static`` (``--static``): its prefixes are matched against ``PATH_INFO`` after the root
   path is taken off, like the app's own routes, so ``--root-path /app --static /static=DIR``
   serves ``/app/static/...``.
4. ``lint`` (``--lint``): closest to the app, so that it checks the app's own status, headers
   and body, not what the layers above made of them.
5. the app, which answers everything the layers pass on.

Each layer is imported only when its option is used (start-up time is a feature), mutates the
environ in place (so the server's access log sees what the app saw), and uses the standard
library only. This module holds only what other modules need without the layers.
"""

from __future__ import annotations

# Set by the static layer when it answered from a file (the file's path): the access log paints
# those lines dimmer, so the app's own requests stand out.
STATIC_FILE = "simplewsgi.static_file"

# Set by the live layer (``--live``) on its own requests (the script, the event stream): they
# leave no access-log line, so that the log shows the app's requests only.
QUIET = "simplewsgi.quiet"

# The socket's peer (``REMOTE_ADDR`` as the server set it), kept by the layers that would
# otherwise hide it (proxy headers, debug): who may read an error's details is decided from it.
PEER = "simplewsgi.peer"
# Set by the proxy layer when it took the client's address from a trusted proxy's headers.
FORWARDED_CLIENT = "simplewsgi.forwarded_client"
