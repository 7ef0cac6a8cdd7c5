"""The man page, from the click command tree and the few paragraphs the tree cannot hold.

Rules of this module:
- Everything about options comes from the tree: names and secondary names (``--no-access-log``),
  metavars, ``click.Choice`` values, defaults, environment variables, help. Exit statuses come
  from the table in :mod:`simplewsgi.exits`. Only prose
  the tree cannot hold is written here (DESCRIPTION, the APP forms, EXAMPLES), and every
  ``--option`` it mentions is checked against the tree, so renaming an option fails generation.
- The output is deterministic: no date, and a version only from the package.
- The page is plain man(7) macros and renders without warnings under ``groff -man -ww``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from scripts.docgen.roff import bold, escape, help_paragraphs, inline, italic, line, prose, quoted
from simplewsgi import console, exits
from simplewsgi.cli.completion import COMPLETE_VAR, PROG_NAME
from simplewsgi.cli.config import documented_keys
from simplewsgi.middleware.debugpage import EDITOR_ENV
from simplewsgi.version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

ENVIRONMENT_INTRO = (  # what click.BOOL accepts, and how multiple options split a variable
    "Each option's variable takes the value the option would. A flag's variable takes 1, true, "
    "yes or on to set it, and 0, false, no or off to unset it. The variable of a repeatable "
    "option holds several values, separated as its entry in OPTIONS says."
)

# -- the prose the command tree cannot hold ----------------------------------------------------
# Small markup: a paragraph is a string; "$ " lines are shown verbatim; (tag, text) is a tagged
# paragraph. Option names are made bold and checked against the tree.

DESCRIPTION = [
    "simplewsgi serves a WSGI application for development: a drop-in replacement for the "
    "standard library's wsgiref.simple_server that speaks HTTP/1.1 with keep-alive, serves "
    "connections on a pool of reused threads, logs each request in color, and with --reload "
    "restarts the application as soon as one of its files changes, without refusing "
    "connections while the new version starts.",
    "It is a development server. For production, a module:attr APP works unchanged with "
    "gunicorn(1) and waitress-serve(1). Of the other forms, module alone means "
    "module:application to gunicorn and is not accepted by waitress-serve; a dotted attribute "
    "works with waitress-serve but not gunicorn; a factory call with literal arguments works "
    "with gunicorn but not waitress-serve, which calls a factory without arguments with its "
    "call flag; file paths are simplewsgi's own. The banner warns when the server listens on "
    "an address other than loopback.",
    "Every option can also be set with an environment variable, named in the option's entry "
    "below, or in the project's pyproject.toml (see FILES). The command line wins over the "
    "environment, which wins over pyproject.toml, which wins over the built-in default.",
]

APP_FORMS: list[str | tuple[str, str]] = [
    "APP names the WSGI application to serve, as a callable app(environ, start_response). "
    "It is resolved from the directory given by --app-dir (the current directory by default), "
    "which goes first on sys.path. The string is never evaluated as Python:",
    ("module:attr", "The attribute attr of the module, e.g. myapp:app."),
    (
        "module",
        "The module's attribute app, or else application, e.g. myapp.",
    ),
    (
        "pkg.mod:obj.attr",
        "Dotted on both sides: a module inside a package, and an attribute of an attribute, "
        "e.g. project.web:site.wsgi_app.",
    ),
    (
        "module:factory(args)",
        "Call a factory that returns the app, with literal arguments only (strings, numbers, "
        "True, False, None, lists, dicts), e.g. \"myapp:create_app('dev', debug=True)\". "
        "Quote it for the shell.",
    ),
    (
        "path/to/app.py[:attr]",
        "A file, imported under the module name Python would give it (climbing out of "
        "packages), with attr or the default names as above, e.g. src/app.py:app.",
    ),
    (
        "--factory",
        "With any of the forms above: the resolved attribute is a factory; call it with no "
        "arguments to get the app, e.g. --factory myapp:create_app.",
    ),
    "Without APP, serve runs the demo application. When APP cannot be imported, simplewsgi "
    "names the value received and the form expected; with --reload it keeps watching and "
    "retries once the file is fixed.",
]

EXAMPLES: list[str | tuple[str, str]] = [
    "Serve the app object of myapp.py on http://127.0.0.1:8000:",
    "$ simplewsgi serve myapp:app",
    "Reload when Python files or templates change, polling on a network mount:",
    "$ simplewsgi serve myapp:app --reload --reload-include '*.html' --reload-poll",
    "Call a factory, listen on every interface on port 9000:",
    "$ SIMPLEWSGI_PORT=9000 simplewsgi serve --host 0.0.0.0 'myapp:create_app(\"dev\")'",
    "Serve the demo application on a free port (the banner shows which):",
    "$ simplewsgi demo --port 0",
    "A shell alias for a project, with color kept when piping to a pager:",
    "$ alias dev='simplewsgi serve --app-dir src --reload --color always myapp:app'",
    "Enable completion in bash (in ~/.bashrc), zsh (in ~/.zshrc, after compinit) or fish:",
    '$ eval "$(simplewsgi completion bash)"',
    '$ eval "$(simplewsgi completion zsh)"',
    "$ simplewsgi completion fish > ~/.config/fish/completions/simplewsgi.fish",
    "Hand a plain module:attr APP to a production server:",
    "$ gunicorn myapp:app",
    "$ waitress-serve myapp:app",
]

COLOR_ENVIRONMENT: list[tuple[str, str]] = [
    (
        console.NO_COLOR_ENV,
        "When set and not empty, turn color off, as --color never does (https://no-color.org). "
        "An explicit --color always or --color never wins.",
    ),
    (
        console.FORCE_COLOR_ENV,
        "When set and not empty, turn color on even when stderr is not a terminal "
        f"(https://force-color.org). {console.NO_COLOR_ENV} and an explicit --color win.",
    ),
]

DEBUG_ENVIRONMENT: list[tuple[str, str]] = [
    (
        EDITOR_ENV,
        "With --debug, each frame of the error page links to its file in the editor: a URL "
        "in which {path} and {line} are filled in, e.g. vscode://file/{path}:{line}.",
    ),
]

FILES: list[str | tuple[str, str]] = [
    (
        "pyproject.toml",
        "The first pyproject.toml found from the current directory upward (the search stops "
        "there, with or without a table). Its [tool.simplewsgi] table gives defaults to the "
        "options of serve and APP, and to those of demo that demo has; a key is an option's "
        "long name, as typed, and takes the TOML type listed below. Paths are relative to the "
        "file's directory, and in a project with the table --app-dir defaults to that "
        "directory, so serve works from any subdirectory. An unknown key or a value of the "
        "wrong type is an error naming the file and the key (exit status 2). Without the "
        "table the file is not parsed.",
    ),
    "$ [tool.simplewsgi]",
    '$ app = "myapp:app"',
    "$ port = 9000",
    "$ reload = true",
    '$ reload-dir = ["src", "templates"]',
    '$ env-file = ".env"',
    "The keys, and what each takes:",
]
ENV_FILES: list[str | tuple[str, str]] = [
    (
        "--env-file files",
        "Lines of NAME=value in the dotenv format (python-dotenv's: quotes, export, comments, "
        "${NAME} references), loaded into the environment of the process that imports APP, "
        "before it does; with --reload, by each new worker, so a reload reads them again. "
        "Several files act as one made of them in order: a later file wins. Variables already "
        "in the environment win over every file. Needs the dotenv extra: "
        "pip install 'simplewsgi[dotenv]'.",
    ),
]

SEE_ALSO = ["gunicorn(1)", "waitress-serve(1)", "python3(1)"]


# -- walking the tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandDoc:
    """One command of the tree, with the context click would give it."""

    path: str  # "simplewsgi serve"
    command: click.Command
    ctx: click.Context


def walk(cli: click.Command, prog_name: str = PROG_NAME) -> list[CommandDoc]:
    """The root and every subcommand, depth first, in the order ``--help`` lists them."""
    root_ctx = click.Context(cli, info_name=prog_name, **cli.context_settings)
    docs: list[CommandDoc] = []

    def visit(command: click.Command, ctx: click.Context, path: str) -> None:
        docs.append(CommandDoc(path, command, ctx))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
                    visit(sub, sub_ctx, f"{path} {name}")

    visit(cli, root_ctx, prog_name)
    return docs


def options_of(doc: CommandDoc) -> list[click.Option]:
    return [
        p for p in doc.command.get_params(doc.ctx) if isinstance(p, click.Option) and not p.hidden
    ]


def arguments_of(doc: CommandDoc) -> list[click.Argument]:
    return [p for p in doc.command.get_params(doc.ctx) if isinstance(p, click.Argument)]


def all_option_names(cli: click.Command) -> set[str]:
    """Every spelling of every option of every command: ``--port``, ``-p``, ``--no-access-log``."""
    return {
        name for doc in walk(cli) for o in options_of(doc) for name in o.opts + o.secondary_opts
    }


# -- the page --------------------------------------------------------------------------------------


def synopsis(doc: CommandDoc) -> str:
    pieces = [bold(doc.path)]
    if options_of(doc):
        pieces.append(f"[{italic('OPTIONS')}]")
    if isinstance(doc.command, click.Group):
        pieces.append(f"{italic('COMMAND')} [{italic('ARGS')}]...")
    for argument in arguments_of(doc):
        if isinstance(argument.type, click.Choice):
            piece = "|".join(bold(str(choice)) for choice in argument.type.choices)
        else:
            piece = italic(argument.human_readable_name)
        if argument.nargs == -1:
            piece += "..."
        pieces.append(piece if argument.required else f"[{piece}]")
    return " ".join(pieces)


def option_tag(option: click.Option, ctx: click.Context) -> str:
    """``-p, --port PORT``, ``--access-log / --no-access-log``, ``--color auto|always|never``."""

    def names(opts: Sequence[str]) -> str:
        by_prefix = sorted(opts, key=lambda opt: len(opt) - len(opt.lstrip("-")))
        return ", ".join(bold(opt) for opt in by_prefix)

    tag = names(option.opts)
    if option.secondary_opts:
        tag += " / " + names(option.secondary_opts)
    if isinstance(option.type, click.Choice):
        tag += " " + "|".join(italic(str(choice)) for choice in option.type.choices)
    elif not option.is_flag and not option.count:
        tag += " " + italic(metavar(option, ctx))
    return tag


def metavar(param: click.Parameter, ctx: click.Context) -> str:
    try:
        return param.make_metavar(ctx)
    except TypeError:  # click < 8.2 takes no context
        return param.make_metavar()  # type: ignore[call-arg]


def default_text(option: click.Option, ctx: click.Context) -> str | None:
    """The default as a user would type it, or None when there is nothing to say."""
    if isinstance(option.show_default, str):
        return option.show_default
    default = option.get_default(ctx, call=False)
    if option.is_flag and option.secondary_opts:
        return (option.opts if default else option.secondary_opts)[0]
    if option.is_flag:
        return "on" if default else "off"
    if isinstance(default, (list, tuple)):
        return " ".join(str(value) for value in default) or None
    if isinstance(default, (str, int, float)):
        return str(default)
    return None  # callable or unset


def envvar_text(option: click.Option) -> str | None:
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
    if not names:
        return None
    text = "Environment: " + ", ".join(bold(name) for name in names)
    if option.multiple:
        splitter = option.type.envvar_list_splitter
        text += " (values separated by " + (bold(splitter) if splitter else "spaces") + ")"
    return text


def option_entry(option: click.Option, ctx: click.Context) -> list[str]:
    out = [".TP", option_tag(option, ctx)]
    out += help_paragraphs(option.help or "", ".IP")
    facts = ["Repeatable"] if option.multiple else []
    default = default_text(option, ctx) if option.expose_value else None  # not --help/--version
    if default is not None:
        facts.append(f"Default: {bold(default)}")
    environment = envvar_text(option)
    if environment is not None:
        facts.append(environment)
    for fact in facts:
        out += [".br", fact]
    return out


def argument_entry(argument: click.Argument) -> list[str]:
    if isinstance(argument.type, click.Choice):
        text = "One of " + ", ".join(bold(str(choice)) for choice in argument.type.choices) + "."
    elif argument.human_readable_name == "APP":
        text = "The application to serve; see " + bold("APP") + " below."
    else:
        text = "Required." if argument.required else "Optional."
    envvars = [argument.envvar] if isinstance(argument.envvar, str) else argument.envvar or []
    if envvars:
        text += " Environment: " + ", ".join(bold(name) for name in envvars) + "."
    return [".TP", italic(argument.human_readable_name), text]


def environment(docs: Sequence[CommandDoc]) -> list[str]:
    """Each variable once, in the order the options appear, with what it sets and where."""
    sets: dict[str, list[tuple[str, CommandDoc]]] = {}
    for doc in docs:
        for param in doc.command.get_params(doc.ctx):
            if isinstance(param, click.Option) and param.hidden:
                continue
            envvars = [param.envvar] if isinstance(param.envvar, str) else param.envvar or []
            label = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            for name in envvars:
                sets.setdefault(name, []).append((label, doc))
    out = [line(inline(ENVIRONMENT_INTRO))]
    for name, uses in sorted(sets.items()):
        label = uses[0][0]
        where = ", ".join(bold(doc.path) for _, doc in uses)
        out += [".TP", bold(name), f"Sets {bold(label)} ({where})."]
    for name, text in [*COLOR_ENVIRONMENT, *DEBUG_ENVIRONMENT]:
        out += [".TP", bold(name), line(inline(text))]
    out += [
        ".TP",
        bold(COMPLETE_VAR),
        "Set by the completion scripts when they ask "
        + bold(PROG_NAME)
        + " for candidates; not for interactive use.",
    ]
    return out


def files(cli: click.Command) -> list[str]:
    """pyproject.toml (each key of the table, from the tree) and the env files."""
    serve = cli.get_command(click.Context(cli), "serve") if isinstance(cli, click.Group) else None
    out = prose(FILES)[1:]
    out.append(".RS 4")
    for key, text in documented_keys(serve) if serve is not None else ():
        out += [".TP 20", bold(key), escape(text)]
    out.append(".RE")
    return out + prose(ENV_FILES)


def check_prose_options(cli: click.Command) -> None:
    """Fail when the hand-written prose names an option the tree does not have."""
    known = all_option_names(cli)
    texts: list[str] = [
        *DESCRIPTION,
        *(text for _, text in [*COLOR_ENVIRONMENT, *DEBUG_ENVIRONMENT]),
    ]
    for item in [*APP_FORMS, *EXAMPLES, *FILES, *ENV_FILES]:
        texts += list(item) if isinstance(item, tuple) else [item]
    mentioned = {m for text in texts for m in re.findall(r"(?<![\w-])--[a-z][\w-]*", text)}
    unknown = sorted(mentioned - known)
    if unknown:
        raise ValueError(f"the man page's prose names unknown options: {', '.join(unknown)}")


def man_page(cli: click.Command) -> str:
    """The whole page, as roff text."""
    check_prose_options(cli)
    docs = walk(cli)
    root, commands = docs[0], docs[1:]
    summary = (root.command.help or "").strip().splitlines()[0]
    summary = summary.removeprefix(f"{PROG_NAME}:").strip().rstrip(".")
    out = [
        f'.TH {PROG_NAME.upper()} 1 "" {quoted(f"{PROG_NAME} {__version__}")} "User Commands"',
        ".nh",  # no hyphenation and a ragged right margin: the page is full of names and code
        ".ad l",
        ".SH NAME",
        f"{PROG_NAME} \\- {escape(summary)}",
        ".SH SYNOPSIS",
    ]
    for i, doc in enumerate(docs):
        out += ([".br"] if i else []) + [synopsis(doc)]
    out += [".SH DESCRIPTION", *prose(DESCRIPTION)[1:], ".SH COMMANDS"]
    for doc in commands:
        out += [".TP", synopsis(doc), *help_paragraphs(doc.command.help or "", ".IP")]
    out.append(".SH OPTIONS")
    for doc in docs:
        out.append(f".SS {quoted(f'Options of {doc.path}')}")
        out += [line for argument in arguments_of(doc) for line in argument_entry(argument)]
        out += [line for option in options_of(doc) for line in option_entry(option, doc.ctx)]
    out += [".SH APP", *prose(APP_FORMS)[1:]]
    out += [".SH ENVIRONMENT", *environment(docs)]
    out += [".SH FILES", *files(cli)]
    out.append(".SH EXIT STATUS")
    for value, meaning in exits.TABLE:
        out += [".TP", bold(str(value)), line(inline(meaning[:1].upper() + meaning[1:] + "."))]
    out += [".SH EXAMPLES", *prose(EXAMPLES)[1:]]
    out += [".SH SEE ALSO", ",\n".join(_man_reference(ref) for ref in SEE_ALSO)]
    return "\n".join(out) + "\n"


def _man_reference(ref: str) -> str:
    name, section = ref.rstrip(")").split("(")
    return f".BR {escape(name)} ({section})"
