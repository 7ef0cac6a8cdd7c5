_simplewsgi_completion() {
    local IFS=$'\n'
    local response completion type value
    # Glue words that bash split at ':' (only where COMP_LINE shows no space between them).
    local -a words=()
    local cword=$COMP_CWORD line=${COMP_LINE:0:COMP_POINT} i word glued
    if [[ -n $COMP_LINE && $COMP_WORDBREAKS == *:* ]]; then
        for ((i = 0; i < ${#COMP_WORDS[@]} && i <= COMP_CWORD; i++)); do
            word=${COMP_WORDS[i]}
            glued=0
            [[ $i -gt 0 && $line != [[:space:]]* ]] && glued=1
            line=${line#"${line%%[![:space:]]*}"}
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
    [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && colon_prefix=${cur%"${cur##*:}"}

    response=$(env COMP_WORDS="${words[*]}" COMP_CWORD=$cword _SIMPLEWSGI_COMPLETE=bash_complete $1)

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

_simplewsgi_completion_setup() {
    complete -o nosort -F _simplewsgi_completion simplewsgi
}

_simplewsgi_completion_setup;
