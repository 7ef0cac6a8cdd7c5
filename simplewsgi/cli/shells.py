"""The bash, zsh and fish completion classes: click's, with the script and wire format pinned here.

Why not click's classes as they are: the checked-in scripts under ``completions/`` must be the
same whichever click is installed, and must understand what the installed click answers. Click
has changed both between releases (8.4.0's fish script cannot even be parsed by fish), so each
class here owns both ends: ``source_template`` (the script) and ``format_completion`` (one
candidate as the script reads it). Parsing the shell's words and finding candidates stays
click's (``get_completion_args``, ``get_completions``), which has been stable since click 8.0.

:mod:`simplewsgi.cli.completion` imports this module only when a script is printed or a shell asks
for candidates (``_SIMPLEWSGI_COMPLETE`` is set), and then :func:`register` makes click answer
with these classes. It costs the CLI's start-up nothing otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from click.shell_completion import (
    BashComplete,
    FishComplete,
    ShellComplete,
    ZshComplete,
    add_completion_class,
)

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

# Bash 4.4+ (click warns about older ones when printing the script). One change to click's
# script: bash splits "app:create_app" into three words at the colon (COMP_WORDBREAKS), so the
# script glues them back before asking, and trims the part before the colon from the replies,
# as bash-completion's __ltrim_colon_completions does. %(...)s are filled by click.
BASH_SOURCE = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response completion type value
    # Glue words that bash split at ':' (only where COMP_LINE shows no space between them).
    local -a words=()
    local cword=$COMP_CWORD line=${COMP_LINE:0:COMP_POINT} i word glued
    if [[ -n $COMP_LINE && $COMP_WORDBREAKS == *:* ]]; then
        for ((i = 0; i < ${#COMP_WORDS[@]} && i <= COMP_CWORD; i++)); do
            word=${COMP_WORDS[i]}
            glued=0
            [[ $i -gt 0 && $line != [[:space:]]* ]] && glued=1
            line=${line#"${line%%%%[![:space:]]*}"}
            line=${line#"$word"}
            if ((glued)) && [[ $word == :* || ${words[-1]} == *: ]]; then
                words[-1]+=$word
            else
                words+=("$word")
            fi
            ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
        done
    else
        words=("${COMP_WORDS[@]}")
    fi
    local cur=${words[cword]} colon_prefix=
    [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && colon_prefix=${cur%%"${cur##*:}"}

    response=$(env COMP_WORDS="${words[*]}" COMP_CWORD=$cword \
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("${value#"$colon_prefix"}")
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""

# click's zsh script (unchanged since 8.1): three lines per candidate, type, value and help
# ("_" for none); _describe splits value from help at the first unescaped colon.
ZSH_SOURCE = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
%(complete_var)s=zsh_complete %(prog_name)s)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoload from fpath, call function directly
    %(complete_func)s "$@"
else
    # eval/source/. command, register function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""

# click's fish script as of 8.5, one line per candidate: "type,value" then a tab and the help;
# split at the first comma only, and printf rather than echo (a value may start with "-n").
FISH_SOURCE = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            printf '%%s\\n' $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments \
"(%(complete_func)s)";
"""


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


class Bash(BashComplete):
    source_template = BASH_SOURCE

    def format_completion(self, item: CompletionItem) -> str:  # type: ignore[type-arg, unused-ignore]
        return f"{item.type},{item.value}"


class Zsh(ZshComplete):
    source_template = ZSH_SOURCE

    def format_completion(self, item: CompletionItem) -> str:  # type: ignore[type-arg, unused-ignore]
        help_text = _one_line(item.help) or "_"
        # Colons are escaped only for _describe (candidates with help); compadd takes values as
        # they are.
        value = str(item.value).replace(":", r"\:") if help_text != "_" else item.value
        return f"{item.type}\n{value}\n{help_text}"


class Fish(FishComplete):
    source_template = FISH_SOURCE

    def format_completion(self, item: CompletionItem) -> str:  # type: ignore[type-arg, unused-ignore]
        help_text = _one_line(item.help)
        return (
            f"{item.type},{item.value}\t{help_text}" if help_text else f"{item.type},{item.value}"
        )


CLASSES: dict[str, type[ShellComplete]] = {"bash": Bash, "zsh": Zsh, "fish": Fish}


def register() -> None:
    """Make click answer ``<shell>_complete`` and ``<shell>_source`` with these classes."""
    for name, complete_class in CLASSES.items():
        add_completion_class(complete_class, name)
