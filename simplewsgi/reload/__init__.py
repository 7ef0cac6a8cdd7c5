"""``serve --reload``: a supervisor process that owns the socket and replaces worker processes.

Nothing is imported here: a worker process imports :mod:`.worker` and must not pay for the
supervisor's modules (or watchdog). Modules, bottom-up:

- :mod:`.messages`: what supervisor and worker say to each other over their pipes (a leaf);
- :mod:`.failure`: how a failure to load the app is shown (the terminal line, the error page),
  and the report for a worker that died without saying why;
- :mod:`.filters`: what counts as a change (patterns, ignore lists; standard library only);
- :mod:`.paths`: what to watch by default, bytecode to drop, how a change is named;
- :mod:`.events`: the supervisor's events, each a small value;
- :mod:`.worker`: the worker process's entry point (it describes its own failures);
- :mod:`.process`: the supervisor's handle on one worker process;
- :mod:`.watcher`: file watching, the only module that imports watchdog;
- :mod:`.supervisor`: the loop over named events that decides what every worker does.
"""
